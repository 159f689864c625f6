"""The compute market: banned GPUs are never bought, controls raise cost, fleets pay their mix."""

import math

import numpy as np
import pytest

from tokenmarket.agents.fleet import Fleet, Vintage
from tokenmarket.model.compute import GpuMarket
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import Scenario, load_scenario

BAN = 16
"""going_global's month of the H20 licence requirement."""
STEPS = 24


@pytest.fixture(scope="module")
def run():
    model = TokenMarket("going_global", rng=1, n_developers=1500)
    model.run_for(STEPS)
    return model


def incumbents(model: TokenMarket) -> set[str]:
    """Providers in the market from month 1 (potential entrants come later, if at all)."""
    return {p.name for p in model.spec.providers}


def test_a_banned_gpu_is_never_bought(run):
    market = run.gpu_market
    h100, h20 = market.names.index("h100"), market.names.index("h20")
    for p in run.provider_list:
        bought = [
            (v.arrival_step - run.spec.market.capacity_lead_months, v.gpu) for v in p.fleet.orders
        ]
        if p.region == "CN":
            assert all(gpu != h100 for _, gpu in bought)
            assert all(gpu != h20 for ordered, gpu in bought if ordered >= BAN)
            if p.name in incumbents(run):  # the best it could buy in January 2024
                assert p.fleet.cohort_gpu == h20
        else:
            assert {gpu for _, gpu in bought} <= {h100}


def test_a_smaller_choice_set_never_lowers_the_cost_of_what_is_bought(run):
    """Cost minimization: closing a GPU can only raise (or keep) the cost per throughput."""
    market = run.gpu_market
    for p in run.provider_list:
        cost = market.monthly_cost_per_throughput(p)
        allowed = market.allowed[p.home].copy()
        chosen = cost[market.best(p)]
        assert chosen == cost[allowed].min()
        for closed in np.flatnonzero(allowed):
            if allowed.sum() > 1:
                market.allowed[p.home, closed] = False
                assert cost[market.best(p)] >= chosen
                market.allowed[p.home, closed] = True


def _without_ban(data):
    data["shocks"] = [s for s in data["shocks"] if s["kind"] != "gpu_access"]


def test_export_controls_act_through_the_cost_of_new_capacity(run, make_variant):
    """Same seed with and without the ban: CN's new capacity costs more per token, and the
    energy of its fleet per token rises once domestic accelerators are in service."""
    free = TokenMarket(make_variant("going_global", _without_ban), rng=1, n_developers=1500)
    free.run_for(STEPS)
    for banned, open_ in zip(run.provider_list, free.provider_list, strict=True):
        if banned.region != "CN" or banned.name not in incumbents(run):
            continue  # an entrant's first fleet is bought when it enters, at its own date
        assert banned.capex_per_unit_usd > 1.3 * open_.capex_per_unit_usd
        domestic = banned.fleet.capacity_by_gpu(run.steps, len(run.gpu_market.names))[2]
        if (
            domestic > 0
        ):  # once its domestic accelerators are in service, each token uses more power
            assert banned.marginal_cost_usd_per_mtok > open_.marginal_cost_usd_per_mtok
        else:
            assert banned.marginal_cost_usd_per_mtok == open_.marginal_cost_usd_per_mtok


def test_a_fleet_pays_the_power_and_opex_of_its_own_mix(run):
    """Two GPU types in one fleet: energy per token and GPU count are the vintages' sums."""
    market = run.gpu_market
    p = next(p for p in run.provider_list if p.region == "CN")
    fleet = Fleet(4, 0, 100.0, 0.0, cohort_gpu=1)
    fleet.orders.append(Vintage(300.0, 0.0, 0, 10, gpu=2))
    p.fleet = fleet
    market.equip_fleet(p, 1)
    capacity = {1: 100.0 * 4, 2: 300.0}
    energy = {
        g: p.compute_per_token * market.kw[g] / market.throughput[g] / market.kw[0]
        for g in capacity
    }
    full_load_kwh = sum(capacity[g] * energy[g] for g in capacity)
    gpus = sum(capacity[g] * energy[g] / (market.kw[g] * 730.0) for g in capacity)
    assert math.isclose(p.energy_kwh_per_mtok * sum(capacity.values()), full_load_kwh)
    assert math.isclose(
        p.opex_per_unit_usd * sum(capacity.values()), p.opex_usd_per_gpu_month * gpus
    )


def test_without_gpus_providers_keep_their_own_hardware():
    model = TokenMarket("classroom", rng=0, n_developers=300)
    assert model.gpu_market is None
    assert GpuMarket.of(model.spec) is None
    assert all(p.gpu_price_usd == p.spec.gpu_price_usd for p in model.provider_list)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["gpus"][0].update(relative_throughput=0.9), "gpus.0.relative_throughput"),
        (lambda d: d["providers"][0].update(gpu_price_usd=1.0), "providers.0.gpu_price_usd"),
        (
            lambda d: d["shocks"].append(
                {
                    "kind": "gpu_access",
                    "step": 20,
                    "region": "CN",
                    "gpu": "ascend_910c",
                    "allowed": False,
                }
            ),
            "no GPU to buy",
        ),
        (
            lambda d: d["shocks"].append(
                {"kind": "gpu_access", "step": 20, "region": "CN", "gpu": "b200", "allowed": True}
            ),
            "is not a GPU",
        ),
        (
            lambda d: d["shocks"].append(
                {"kind": "efficiency", "step": 2, "region": "US", "factor": 0.5}
            ),
            "efficiency acts on own hardware",
        ),
    ],
)
def test_bad_compute_markets_are_refused_with_the_field_named(edit, message):
    data = load_scenario("going_global").model_dump()
    edit(data)
    with pytest.raises(ValueError, match=message):
        Scenario.model_validate(data)
