"""Entry by expected value (`model/entry.py`): who enters, when, what it pays, and free entry."""

import numpy as np
import pandas as pd
import pytest
import tomli_w

from tokenmarket.model import entry, finance
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import ScenarioError, load_scenario

STEPS = 9
DEVELOPERS = 600


def candidate(name: str, sunk_cost_usd: float, **changes) -> dict:
    """A potential entrant of the classroom market: `cn_lowcost`'s cheap cost stack, homed in
    the US, with a model as good as the best on offer."""
    spec = load_scenario("classroom").providers[2].model_dump(exclude_none=True)
    spec |= {"name": name, "home": "US", "quality": 80.0, "cash_usd": 1e9} | changes
    return {"provider": spec, "sunk_cost_usd": sunk_cost_usd, "earliest_step": 1}


def with_entrants(make_variant, *entrants, **market):
    def edit(data):
        data["potential_entrants"] = list(entrants)
        data["market"] |= market

    return make_variant("classroom", edit)


def run(spec, seed=3, steps=STEPS):
    model = TokenMarket(spec, rng=seed, n_developers=DEVELOPERS)
    model.run_for(steps)
    return model


def test_enters_when_entering_is_clearly_worth_it_and_not_when_it_is_not(make_variant):
    """Free of sunk cost, a cheap, good entrant into a market priced well above its cost enters
    at the first review; with a sunk cost of 10^12 USD (thousands of times the market's yearly
    revenue) it never does."""
    review = 3
    cheap = run(with_entrants(make_variant, candidate("newcomer", 0.0), entry_review_months=review))
    events = cheap.turnover_frame()
    assert events[["step", "provider", "event"]].values.tolist() == [[review, "newcomer", "enters"]]
    rows = cheap.provider_frame().query("provider == 'newcomer'").set_index("step")
    assert not rows.loc[: review - 1, "active"].any()
    assert rows.loc[review:, "active"].all() and rows.loc[STEPS, "customers"] > 0
    assert cheap.market_frame().set_index("step").loc[review, "entries"] == 1

    dear = run(with_entrants(make_variant, candidate("newcomer", 1e12)))
    assert dear.turnover_frame().empty
    assert not dear.provider_frame().query("provider == 'newcomer'")["active"].any()


def test_the_entrant_pays_its_entry_cost_when_it_enters(make_variant):
    sunk = 5e6
    model = run(with_entrants(make_variant, candidate("newcomer", sunk), entry_review_months=3))
    rows = model.provider_frame().query("provider == 'newcomer'").set_index("step")
    paid = rows.loc[3, "capex_paid_usd"]
    fleet_capex = paid - sunk
    assert fleet_capex >= rows.loc[3, "capacity_mtok"] * 0.99 * _capex_per_mtok(model, "newcomer")
    operating = rows.loc[3, ["revenue_usd", "electricity_usd", "opex_usd", "rnd_usd"]]
    month = operating["revenue_usd"] - operating.drop("revenue_usd").sum()
    assert rows.loc[3, "cash_usd"] == pytest.approx(1e9 - paid + month)
    rate = model.spec.market.discount_rate_per_year
    free = rows["revenue_usd"] - rows[["electricity_usd", "opex_usd", "rnd_usd"]].sum(axis=1)
    free -= rows["capex_paid_usd"]
    dcf = (free * (1.0 + rate) ** (-rows.index / 12.0)).cumsum()
    assert np.allclose(rows["dcf_usd"], dcf, rtol=1e-9, atol=1e-3)


def _capex_per_mtok(model, name):
    return next(p for p in model.provider_list if p.name == name).capex_per_unit_usd


def test_entry_is_deterministic_per_seed(make_variant):
    spec = with_entrants(make_variant, candidate("newcomer", 0.0), candidate("second", 2e7))
    first, again = run(spec, seed=11), run(spec, seed=11)
    assert not first.turnover_frame().empty
    pd.testing.assert_frame_equal(first.provider_frame(), again.provider_frame())
    pd.testing.assert_frame_equal(first.market_frame(), again.market_frame())


def test_conservation_and_shares_hold_with_entrants(make_variant):
    spec = with_entrants(
        make_variant, candidate("newcomer", 0.0), candidate("second", 0.0, home="EU")
    )
    model = run(spec, steps=18)
    assert len(model.turnover_frame().query("event == 'enters'")) == 2
    market = model.market_frame()
    served_plus_lost = market["total_served_mtok"] + market["lost_mtok"]
    assert np.allclose(market["requested_mtok"], served_plus_lost, rtol=1e-9)
    providers = model.provider_frame()
    shares = providers.groupby("step")["token_share"].sum()
    assert np.allclose(shares, 1.0)
    # out of the market: inactive this month and the last (an exit month books its flows)
    was = providers.groupby("provider")["active"].shift(fill_value=False)
    out = providers[~providers["active"] & ~was]
    assert len(out) >= 2 * 2  # the entrants' months before the first review
    assert (out[["capacity_mtok", "served_mtok", "customers"]] == 0).all().all()
    assert (market["active_providers"] == providers.groupby("step")["active"].sum().values).all()


POOL = 8


def entrants_at_first_review(make_variant, sunk_cost_usd: float, seed: int) -> int:
    """How many of `POOL` identical candidates enter at the first review (sequential entry)."""
    pool = [candidate(f"entrant_{i}", sunk_cost_usd) for i in range(POOL)]
    model = run(with_entrants(make_variant, *pool, entry_review_months=3), seed=seed, steps=3)
    return int(model.market_frame().set_index("step").loc[3, "entries"])


def test_free_entry_supports_fewer_firms_as_the_entry_cost_rises(make_variant):
    """Free entry (Bresnahan & Reiss 1991): firms enter while an entrant's post-entry value
    covers its entry cost, so the number of firms a market supports falls as the sunk cost
    rises. With logit demand every new product draws buyers (from rivals and from the outside
    option) at a price above its full cost, so with no sunk cost there is room for every
    candidate (as n* = sqrt(t / K) grows without bound as K -> 0 in Salop's circle); a sunk
    cost large against the market's profits admits none."""
    costs = (0.0, 3e7, 1e8, 3e8)
    for seed in (1, 2, 3):
        counts = [entrants_at_first_review(make_variant, cost, seed) for cost in costs]
        assert counts == sorted(counts, reverse=True), counts
        assert counts[0] == POOL and counts[-1] == 0, counts
        assert any(0 < n < POOL for n in counts), counts  # the free-entry limit binds inside


def test_hurdle_above_one_delays_or_prevents_entry(make_variant):
    """Dixit & Pindyck: asking firm value > h x cost, h > 1, never makes entry come sooner."""
    spec = candidate("newcomer", 5e7)
    free = run(with_entrants(make_variant, spec), steps=24).turnover_frame()
    waiting = run(with_entrants(make_variant, spec, entry_hurdle=3.0), steps=24).turnover_frame()
    assert not free.empty
    assert waiting.empty or waiting["step"].min() >= free["step"].min()


def test_a_growing_perpetuity_needs_no_horizon_and_fleets_are_replaced():
    """Without capex, a constant flow is worth pi (1 + r) / r whatever the forecast horizon;
    a vintage is bought again when it retires, and growth is bought as it comes; a firm
    losing cash has only its losses and its first fleet's capex."""
    rate = finance.monthly_rate(0.1)
    for horizon in (1, 24, 100):
        value = finance.entry_value(
            np.full(horizon + 1, 5.0), np.ones(horizon + 1), 0.0, 48, 0.1, 0.0
        )
        assert value == pytest.approx(5.0 * (1.0 + rate) / rate, rel=1e-9)
    bought = finance.fleet_purchases(np.array([2.0, 2.0, 3.0, 3.0, 3.0, 3.0]), life_months=2)
    assert bought.tolist() == [2.0, 0.0, 3.0, 0.0, 3.0, 0.0]
    # a firm losing cash in normal operation has no value beyond the horizon: it would leave
    losing = finance.entry_value(np.full(25, -1.0), np.ones(25), 10.0, 48, 0.1, 0.0)
    assert losing == pytest.approx(-10.0 - sum((1.0 + rate) ** -k for k in range(25)))


def test_a_plan_costs_capacity_as_the_firm_does():
    """`entry.plan` costs a capacity path through AC(u, K) = a + b / K: the firm's own AC."""
    model = TokenMarket("classroom", rng=1, n_developers=200)
    for firm in model.provider_list:
        a, b = entry.cost_in_capacity(firm, 0.7)
        for capacity in (0.5, 37.0, 4e6):
            assert a + b / capacity == pytest.approx(firm.average_cost(0.7, capacity), rel=1e-9)


def test_potential_entrants_are_checked_like_providers(tmp_path):
    data = load_scenario("classroom").model_dump(exclude_none=True)
    data["potential_entrants"] = [candidate("newcomer", 0.0, home="MARS")]
    data["shocks"] = [{"kind": "quality_jump", "step": 2, "provider": "newcomer", "points": 1.0}]
    path = tmp_path / "entrants.toml"
    path.write_text(tomli_w.dumps(data))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert "potential_entrants.0.provider.home" in str(err.value)
    assert "shocks.0.provider: 'newcomer' is a potential entrant" in str(err.value)
