"""Model tiers as products: the frontier binds every tier, a tier change is cheaper than a
provider change, capacity is shared and demand conserved per product and per provider, and
developers compare cost per task."""

import numpy as np
import pytest

from tokenmarket.model import demand, frontier
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.random import Streams

LINE = [
    {"name": "flagship", "compute_share": 1.0, "tokens_per_task_factor": 2.0},
    {"name": "mid", "compute_share": 0.4},
    {"name": "small", "compute_share": 0.1, "tokens_per_task_factor": 0.8},
]


def tiered(make_variant, shocks=(), **market):
    """The classroom market, every provider selling LINE."""

    def edit(data):
        for p in data["providers"]:
            p["tiers"] = LINE
        data["shocks"] = [*data["shocks"], *shocks]
        data["market"] |= market

    return make_variant("classroom", edit)


@pytest.fixture(scope="module")
def rationed(make_variant):
    """China's fleet frozen from month 2 while demand grows: its tiers ration and spill."""
    freeze = {"kind": "capacity_limit", "step": 2, "region": "CN", "max_growth_per_month": 0.0}
    model = TokenMarket(tiered(make_variant, [freeze]), rng=1, n_developers=800)
    model.run_for(36)
    return model


def test_no_tier_sits_above_the_frontier(make_variant):
    model = TokenMarket(
        tiered(
            make_variant,
            quality_per_log_compute=8.7,
            frontier_drift_per_month=0.8,
            homogenization=0.3,
            diffusion_lag_months=2,
        ),
        rng=2,
        n_developers=400,
    )
    slope = model.spec.market.quality_per_log_compute
    for _ in range(30):
        model.step()
        for p in model.provider_list:
            compute = p.compute_per_token * p.compute_share
            best = frontier.quality(model.frontier_capability, compute, slope)
            assert np.all(p.tier_qualities <= best + 1e-9)
            # the line is ordered by compute: more compute per token, more quality
            assert np.all(np.diff(p.tier_qualities) < 0)
    products = model.product_frame()
    assert set(products["tier"]) == {t["name"] for t in LINE}


def _two_providers_two_tiers(n, switching_cost):
    """n developers on product 0 (provider 0), equal utility on every product and outside."""
    pop = demand.Population(
        region=np.zeros(n, int),
        segment=np.zeros(n, int),
        cell=np.zeros(n, int),
        base_demand_mtok=np.ones(n),
        switching_cost=np.full(n, switching_cost),
        review_probability=np.ones(n),
        aware=np.ones((n, 2), bool),
        access_draw=np.zeros((n, 1)),
        access=np.ones((n, 2), bool),
        choice=np.zeros(n, int),
        must_review=np.zeros(n, bool),
        reference_task_price=np.ones(n),
        weight=np.ones(n),
    )
    weights = demand.ChoiceWeights(np.ones((n, 5)), np.zeros(n), 1.0)
    return pop, weights


def _choose_all(pop, weights, **structure):
    """Every developer reviews once (month 1), one taste stream per option."""
    n, options = weights.weights.shape
    return demand.choose(
        pop, np.arange(n), weights, Streams(5), 1, list(range(options)), **structure
    )


@pytest.mark.parametrize("share", [0.25, 1.0])
def test_a_tier_change_costs_a_share_of_a_provider_change(share):
    """Net of switching costs the reviewer's choice is a logit over {stay, own tier, others}.

    With equal utilities and cost s, the own other tier is taken with probability
    e^(-share s) / (1 + e^(-share s) + 3 e^(-s)), each other option with e^(-s) / (...).
    """
    n, s = 200_000, 1.5
    pop, weights = _two_providers_two_tiers(n, s)
    provider_of = np.array([0, 0, 1, 1])
    new = _choose_all(pop, weights, provider_of=provider_of, tier_cost_share=share)
    denominator = 1 + np.exp(-share * s) + 3 * np.exp(-s)
    expected = {0: 1 / denominator, 1: np.exp(-share * s) / denominator}
    for option in (2, 3, demand.OUTSIDE):
        expected[option] = np.exp(-s) / denominator
    for option, p in expected.items():
        observed = (new == option).mean()
        assert abs(observed - p) < 4 * np.sqrt(p * (1 - p) / n), (option, observed, p)
    if share < 1:
        assert (new == 1).mean() > 2 * (new == 2).mean()


def test_demand_is_conserved_per_product_per_provider_and_in_all(rationed):
    products = rationed.product_frame()
    assert (products["spilled_mtok"] > 0).any() and (products["spill_in_mtok"] > 0).any()
    direct = products["served_mtok"] - products["spill_in_mtok"]
    assert np.allclose(products["requested_mtok"], direct + products["spilled_mtok"])
    assert np.allclose(
        products["spilled_mtok"], products["spill_served_mtok"] + products["lost_mtok"]
    )
    by_provider = products.groupby(["step", "provider"])[
        ["requested_mtok", "served_mtok", "spill_in_mtok", "spilled_mtok", "lost_mtok"]
    ].sum()
    providers = rationed.provider_frame().set_index(["step", "provider"])
    assert np.allclose(by_provider["served_mtok"], providers.loc[by_provider.index, "tokens_mtok"])
    market = rationed.market_frame().set_index("step")
    totals = products.groupby("step")[["requested_mtok", "served_mtok", "lost_mtok"]].sum()
    assert np.allclose(totals["requested_mtok"], market["requested_mtok"])
    assert np.allclose(totals["served_mtok"], market["total_served_mtok"])
    assert np.allclose(totals["lost_mtok"], market["lost_mtok"])


def test_tiers_share_their_providers_capacity_by_compute(rationed):
    """A provider's load is its tiers' tokens weighted by compute share, never over capacity."""
    products = rationed.product_frame()
    load = (
        (products["served_mtok"] * products["compute_kwh_per_mtok"])
        .groupby([products["step"], products["provider"]])
        .sum()
    )
    providers = rationed.provider_frame().set_index(["step", "provider"])
    reference = {p.name: p.compute_per_token for p in rationed.provider_list}
    served = providers.loc[load.index, "served_mtok"]
    compute = served.index.get_level_values("provider").map(reference).to_numpy()
    assert np.allclose(load.to_numpy(), served.to_numpy() * compute)
    assert (providers["served_mtok"] <= providers["capacity_mtok"] * (1 + 1e-9)).all()
    short = providers["demand_mtok"] > providers["capacity_mtok"] * 1.01
    assert short.any()  # the freeze binds
    # the rationing provider's every tier is rationed by the same fraction
    frozen = products[products["provider"].isin(short[short].index.get_level_values(1))]
    fill = 1 - frozen["spilled_mtok"] / frozen["requested_mtok"]
    spread = fill.groupby([frozen["step"], frozen["provider"]]).agg(np.ptp)
    assert spread.max() < 1e-9


def test_a_reasoning_tier_cheaper_per_token_can_be_dearer_per_task(make_variant):
    """Half the price per token, four times the tokens per task: twice the cost per task, and
    developers who compare cost per task buy it for fewer tasks than the reference tier."""
    line = [
        {"name": "standard", "compute_share": 1.0},
        {"name": "reasoning", "compute_share": 0.5, "tokens_per_task_factor": 4.0},
    ]

    def edit(data):
        for p in data["providers"]:
            p["tiers"] = line
        data["market"]["demand_elasticity"] = 1.1

    model = TokenMarket(make_variant("classroom", edit), rng=3, n_developers=1500)
    model.run_for(6)
    products = model.product_frame()
    by_tier = products.groupby("tier")[["price_usd_per_mtok", "cost_per_task_usd", "tasks"]]
    mean = by_tier.mean()
    assert mean.loc["reasoning", "price_usd_per_mtok"] < mean.loc["standard", "price_usd_per_mtok"]
    assert mean.loc["reasoning", "cost_per_task_usd"] > mean.loc["standard", "cost_per_task_usd"]
    assert by_tier.sum().loc["reasoning", "tasks"] < by_tier.sum().loc["standard", "tasks"]
    ratio = products.pivot_table(
        index=["step", "provider"], columns="tier", values="cost_per_task_usd"
    ).dropna()
    assert np.allclose(ratio["reasoning"] / ratio["standard"], 0.5 * 4.0)


def test_the_intensive_margin_answers_price_changes_not_price_levels():
    """At the prices they chose at, developers ask their task demand whatever the level (the
    logit chose the product); a 10 % rise of every price then cuts each product's tokens
    by 1.1 ** -eta, the short-run elasticity (cal B.7)."""
    model = TokenMarket("going_global", rng=4, n_developers=2000)
    eta = model.spec.market.demand_elasticity
    assert eta > 0  # on by default
    requested, d, inside = model._demand_by_product()
    pop = model.population
    at_choice = model._task_demand_mtok() * np.append(model.task_factor, 1.0)[pop.choice]
    assert np.allclose(d[inside], at_choice[inside])
    for p in model.provider_list:
        p.price_usd_per_mtok *= 1.1
    after, _, _ = model._demand_by_product()
    sold = requested > 0
    assert sold.sum() > 5
    assert np.allclose(after[sold] / requested[sold], 1.1**-eta)


@pytest.mark.parametrize("nest_scale", [0.3, 0.7])
def test_a_line_of_tiers_is_a_nest_choices_follow_the_nested_logit(nest_scale):
    """With no switching cost, choice frequencies are the nested logit's closed form.

    Products 0 and 1 are provider 0's line, product 2 is provider 1's only model, the
    outside option is last. P(line) = e^IV / sum e^IV with IV = lambda ln sum e^(V/lambda)
    (a single option's IV is its V), P(tier | line) = e^(V/lambda) / sum over the line.
    A plain-logit sampler (lambda ignored) misses these by far more than the tolerance.
    """
    n = 200_000
    pop, _ = _two_providers_two_tiers(n, 0.0)
    pop.choice[:] = demand.OUTSIDE
    v = np.log(np.array([1.0, 2.0, 1.5, 1.0]))
    weights = demand.ChoiceWeights(np.tile(np.exp(v), (n, 1)), np.zeros(n), 1.0)
    new = _choose_all(
        pop, weights, provider_of=np.array([0, 0, 1]), nest_scale=nest_scale, nest_keys=[100, 101]
    )
    line = nest_scale * np.log(np.exp(v[:2] / nest_scale).sum())
    inclusive = np.exp([line, v[2], v[3]])
    nest = inclusive / inclusive.sum()
    within = np.exp(v[:2] / nest_scale) / np.exp(v[:2] / nest_scale).sum()
    expected = {0: nest[0] * within[0], 1: nest[0] * within[1], 2: nest[1], demand.OUTSIDE: nest[2]}
    for option, p in expected.items():
        observed = (new == option).mean()
        assert abs(observed - p) < 4 * np.sqrt(p * (1 - p) / n), (option, observed, p)
