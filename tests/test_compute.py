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
    throughput = market.throughput_for(p).copy()  # this month's, before its porting work
    market.equip_fleet(p, 1)
    capacity = {1: 100.0 * 4, 2: 300.0}
    energy = {
        g: p.compute_per_token * market.kw[g] / throughput[g] / market.kw[0] for g in capacity
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


# ------------------------------------------------------------ model-platform compatibility
def _one_stack(data):
    """going_global with no platforms: every model at every GPU's rated throughput."""
    data["platforms"] = []
    for gpu in data["gpus"]:
        gpu["platform"] = None


def _native_everywhere(data):
    """going_global with its platforms kept, porting on, and no gap to close."""
    next(p for p in data["platforms"] if p["name"] == "cann")["foreign_efficiency"] = 1.0


class TestPlatformCompatibility:
    """A model runs on a foreign stack at `foreign_efficiency` of a GPU's throughput."""

    def test_full_compatibility_reproduces_the_market_without_platforms(self, make_variant):
        runs = []
        for edit in (_one_stack, _native_everywhere):
            model = TokenMarket(make_variant("going_global", edit), rng=3, n_developers=1000)
            model.run_for(STEPS)
            runs.append((model.provider_frame(), model.market_frame(), model.flow_frame()))
        for without, native in zip(*runs, strict=True):
            assert without.equals(native)

    @pytest.mark.parametrize("efficiency", [0.3, 0.7, 0.95])
    def test_a_gap_raises_every_per_token_hardware_cost_by_its_inverse(self, efficiency):
        """Capex, power and non-power opex per unit of capacity all divide by the throughput
        the model gets, so each is 1 / efficiency times its native value, and so are the
        average cost without fixed opex and the monthly cost per unit of throughput that the
        purchase compares."""
        model = TokenMarket("going_global", rng=0, n_developers=300)
        market = model.gpu_market
        p = next(p for p in model.provider_list if p.region == "CN")
        p.opex_fixed_usd_per_month = 0.0  # a lump sum per month: no throughput in it
        ascend = market.names.index("ascend_910c")
        market.allowed[p.home] = False
        market.allowed[p.home, ascend] = True

        def costs():
            market.equip_for_purchase(p)
            return np.array(
                [
                    p.capex_per_unit_usd,
                    p.energy_kwh_per_mtok,
                    p.opex_per_unit_usd,
                    p.marginal_cost_usd_per_mtok,
                    p.average_cost(0.8),
                    market.monthly_cost_per_throughput(p)[ascend],
                ]
            )

        market.efficiency[p.index, ascend] = 1.0
        native = costs()
        market.efficiency[p.index, ascend] = efficiency
        np.testing.assert_allclose(costs() / native, 1.0 / efficiency, rtol=1e-12)

    @pytest.mark.parametrize(("factor", "chosen"), [(0.99, "h20"), (1.01, "ascend_910c")])
    def test_the_purchase_switches_platform_where_adjusted_costs_cross(self, factor, chosen):
        """H20 (the provider's own stack) against an Ascend as cheap per rated throughput as
        0.8 of the H20: the Ascend wins exactly when its efficiency exceeds 0.8."""
        model = TokenMarket("going_global", rng=0, n_developers=300)
        market = model.gpu_market
        p = next(p for p in model.provider_list if p.region == "CN")
        h20, ascend = market.names.index("h20"), market.names.index("ascend_910c")
        market.efficiency[p.index, ascend] = 1.0
        cost = market.monthly_cost_per_throughput(p)
        market.throughput[ascend] *= cost[ascend] / (0.8 * cost[h20])
        market.efficiency[p.index, ascend] = 0.8 * factor
        assert market.allowed[p.home, [h20, ascend]].all()
        assert market.names[market.best(p)] == chosen

    def test_porting_closes_the_gap_geometrically_only_where_the_provider_works(self):
        """After n months planning on the platform the gap is (1 - e0)(1 - r)^n; a provider
        that neither plans on nor runs it keeps e0."""
        model = TokenMarket("going_global", rng=0, n_developers=300)
        market = model.gpu_market
        stack = next(s for s in model.spec.platforms if s.name == "cann")
        e0, rate = stack.foreign_efficiency, stack.porting_per_month
        ascend, h20 = market.names.index("ascend_910c"), market.names.index("h20")
        porting, idle = [p for p in model.provider_list if p.region == "CN"][:2]
        on_ascend, on_h20 = (np.arange(len(market.names)) == g for g in (ascend, h20))
        for n in range(1, 13):
            market.port(porting, on_ascend)
            market.port(idle, on_h20)
            gap = 1.0 - market.efficiency[porting.index, ascend]
            assert math.isclose(gap, (1.0 - e0) * (1.0 - rate) ** n, rel_tol=1e-12)
            assert market.efficiency[idle.index, ascend] == e0
            assert market.efficiency[porting.index, h20] == 1.0  # its own stack: no gap

    def test_a_forced_platform_is_ported_and_its_cost_falls(self, run):
        """going_global: CN incumbents, cut off from the H20, run Ascend and port to it; the
        US providers, which never may buy it, keep the platform's starting gap."""
        market = run.gpu_market
        ascend = market.names.index("ascend_910c")
        e0 = next(s for s in run.spec.platforms if s.name == "cann").foreign_efficiency
        for p in run.provider_list:
            if p.region == "CN" and p.name in incumbents(run):
                assert market.efficiency[p.index, ascend] > e0
            elif p.region != "CN":
                assert market.efficiency[p.index, ascend] == e0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["gpus"][2].update(platform="rocm"), "gpus.2.platform"),
        (lambda d: d["providers"][0].update(platform="rocm"), "providers.0.platform"),
        (lambda d: d["platforms"].append({"name": "cuda"}), "platforms: names must be unique"),
        (lambda d: d["platforms"][1].update(foreign_efficiency=0.0), "foreign_efficiency"),
        (lambda d: d["platforms"][1].update(porting_per_month=1.5), "porting_per_month"),
    ],
)
def test_bad_platforms_are_refused_with_the_field_named(edit, message):
    data = load_scenario("going_global").model_dump()
    edit(data)
    with pytest.raises(ValueError, match=message):
        Scenario.model_validate(data)
