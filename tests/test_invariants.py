"""Accounting and probability invariants over random valid `synthetic` markets."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenmarket.model.market import MISSING_WHEN_UNDEFINED, TokenMarket
from tokenmarket.model.schema import FLOOR

STEPS = 16
TOL = 1e-9

markets = st.fixed_dictionaries(
    {
        "n_providers": st.integers(1, 6),
        "n_regions": st.integers(1, 4),
        "n_developers": st.integers(20, 1500),
        "synthetic_seed": st.integers(0, 10_000),
        "switching_cost": st.floats(0.0, 4.0),
        "demand_growth": st.floats(-0.05, 0.3),
    }
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=markets, seed=st.integers(0, 2**32 - 1))
def test_market_invariants(params, seed):
    model = TokenMarket("synthetic", rng=seed, **params)
    model.run_for(STEPS)
    providers, market = model.provider_frame(), model.market_frame()
    assert len(providers) == STEPS * params["n_providers"]

    numeric = providers.drop(columns=["run_id", "date", "provider", "region", "strategy", "active"])
    for frame in (numeric, market.drop(columns=["run_id", "date"])):
        always_defined = frame.drop(columns=[c for c in MISSING_WHEN_UNDEFINED if c in frame])
        assert np.isfinite(always_defined.to_numpy(dtype=float)).all()

    # Missing exactly where the ratio is undefined, never NaN-as-number or inf.
    nothing_served = providers["served_mtok"] < FLOOR  # less than one token is nothing
    assert (providers["unit_cost_usd_per_mtok"].isna() == nothing_served).all()
    assert (providers["utilization"].isna() == (providers["capacity_mtok"] == 0)).all()
    out = ~providers["active"] & (providers["capacity_mtok"] == 0)
    assert (providers["price_usd_per_mtok"].isna() == out).all()
    for column in MISSING_WHEN_UNDEFINED:
        frame = providers if column in providers else market
        assert frame[column].dtype == np.float64  # missing is NaN, one float convention

    # Shares are probabilities and add up with the outside option.
    for column in ("token_share", "developer_share", "demand_share", "utilization"):
        values = providers[column].dropna()
        assert ((values >= -TOL) & (values <= 1 + TOL)).all(), column
    by_step = providers.groupby("step")
    served = by_step["served_mtok"].sum()
    token_total = by_step["token_share"].sum()
    assert np.allclose(token_total[served > 0], 1.0)
    demand_total = by_step["demand_share"].sum().to_numpy() + market["outside_share"].to_numpy()
    assert np.allclose(demand_total, 1.0)
    assert (by_step["developer_share"].sum() <= 1 + TOL).all()
    assert market["outside_share"].between(0, 1).all()
    assert market["hhi"].between(0, 1 + TOL).all()

    # Capacity binds, nothing is served twice, flows add up to what was served.
    assert (providers["served_mtok"] <= providers["capacity_mtok"] * (1 + TOL) + TOL).all()
    assert (providers["served_mtok"] <= providers["demand_mtok"] * (1 + TOL) + TOL).all()
    assert np.allclose(market["total_served_mtok"].to_numpy(), served.to_numpy())
    flows = model.flow_frame().groupby("step")["served_mtok"].sum()
    assert np.allclose(flows.to_numpy(), served.to_numpy())

    # Unmet demand is conserved: requested = served directly + spilled; spilled = served after
    # spilling + lost; so requested = served + lost. A provider's demand is what its own
    # customers requested plus what spilled to it; the segment table adds up to both.
    requested, lost = market["requested_mtok"], market["lost_mtok"]
    assert np.allclose(requested, market["total_served_mtok"] + lost, rtol=1e-9, atol=1e-6)
    assert (market["spill_served_mtok"] <= market["spilled_mtok"] * (1 + TOL) + TOL).all()
    assert (lost >= 0).all() and (market["spill_served_mtok"] >= 0).all()
    segments = model.segment_frame().groupby("step")[["demand_mtok", "served_mtok"]].sum()
    asked, first = by_step["demand_mtok"].sum().to_numpy(), requested.to_numpy()
    assert (asked >= first * (1 - TOL)).all()
    assert (asked <= (first + market["spilled_mtok"].to_numpy()) * (1 + TOL) + TOL).all()
    assert np.allclose(segments["demand_mtok"].to_numpy(), asked)
    assert np.allclose(segments["served_mtok"].to_numpy(), served.to_numpy())

    # Price memory: a provider that rationed last month does not lower its price this month.
    for _, rows in providers[providers["active"]].groupby("provider"):
        price = rows["price_usd_per_mtok"].to_numpy(dtype=float)
        rationed = (rows["demand_mtok"] > rows["capacity_mtok"] * (1 + TOL)).to_numpy()
        assert (price[1:][rationed[:-1]] >= price[:-1][rationed[:-1]] * (1 - TOL)).all()

    # Energy and every cost line are non-negative.
    for column in (
        "energy_kwh",
        "electricity_usd",
        "capex_usd",
        "capex_paid_usd",
        "opex_usd",
        "rnd_usd",
    ):
        assert (providers[column] >= 0).all(), column

    # Profit is revenue less every cost line; cash moves by profit, plus the amortization
    # that is not a cash cost, less the capex paid in cash when capacity is ordered.
    costs = providers[["electricity_usd", "capex_usd", "opex_usd", "rnd_usd"]].sum(axis=1)
    assert np.allclose(
        providers["profit_usd"], providers["revenue_usd"] - costs, rtol=1e-9, atol=1e-6
    )
    for _, rows in providers.groupby("provider"):
        cash = rows["cash_usd"].to_numpy()
        flow = (rows["profit_usd"] + rows["capex_usd"] - rows["capex_paid_usd"]).to_numpy()
        assert np.allclose(np.diff(cash), flow[1:], rtol=1e-9, atol=1e-3)
