"""The cost–capability frontier: its algebra, and the model kept on or behind it."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenmarket.model import frontier
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import load_scenario

points = st.floats(-50.0, 200.0)
compute = st.floats(1e-3, 10.0)
slope = st.floats(0.5, 20.0)


@given(q=points, c=compute, b=slope)
def test_quality_and_capability_are_inverse(q, c, b):
    assert frontier.quality(frontier.capability(q, c, b), c, b) == pytest.approx(q, abs=1e-9)
    assert frontier.compute_for(q, frontier.capability(q, c, b), b) == pytest.approx(c, rel=1e-9)


@given(q=points, a=points, b=slope, drift=st.floats(0.0, 3.0))
def test_progress_lowers_compute_for_a_fixed_quality_at_the_stated_rate(q, a, b, drift):
    later = frontier.compute_for(q, a + 12 * drift, b) / frontier.compute_for(q, a, b)
    assert later == pytest.approx(frontier.annual_compute_factor(drift, b), rel=1e-9)
    assert later <= 1.0


def test_going_global_progress_is_the_cited_rate():
    """docs/calibration.md: a fixed quality needs 3x less compute a year (B.9, algorithmic part),
    and the slope puts a 5x-compute flagship 14 points above its small model (80 vs 66)."""
    market = load_scenario("going_global").market
    b = market.quality_per_log_compute
    assert frontier.annual_compute_factor(market.frontier_drift_per_month, b) == pytest.approx(
        1 / 3, rel=0.01
    )
    assert b * np.log(5) == pytest.approx(80 - 66, abs=0.05)


@given(a=points, lagged=points, rate=st.floats(0.0, 1.0))
def test_diffusion_approaches_the_lagged_frontier_never_past_it(a, lagged, rate):
    moved = frontier.diffuse(a, lagged, rate)
    if a >= lagged:
        assert moved == a  # a leader does not move
    else:
        assert a <= moved <= lagged
        assert moved - a == pytest.approx(rate * (lagged - a), abs=1e-9)


def test_no_model_above_the_frontier():
    """Every month, every provider's quality is at most q_max(t, its compute)."""
    model = TokenMarket("going_global", rng=0, n_developers=1000)
    b = model.spec.market.quality_per_log_compute
    for _ in range(36):
        model.step()
        for p in model.provider_list:
            best = frontier.quality(model.frontier_capability, p.compute_per_token, b)
            assert p.quality <= best + 1e-9


@pytest.mark.parametrize("lag", [0, 3, 8])
def test_a_laggard_catches_up_with_where_the_frontier_was(lag):
    """With the whole gap closed each month, a provider without R&D or releases moves exactly to
    where the frontier was `lag` months ago (or stays, if already past it): in the end behind
    it by lag x drift, not on it. (It starts on the frontier: a flagship's small model.)"""
    base = load_scenario("going_global", n_developers=1000)
    market = base.market.model_copy(update={"homogenization": 1.0, "diffusion_lag_months": lag})
    model = TokenMarket(base.model_copy(update={"market": market}), rng=0)
    budget = next(p for p in model.provider_list if p.name == "us_budget_api")
    assert budget.strategy.params.rnd_share == 0.0  # the premise: no R&D of its own
    path = []
    for _ in range(24):
        before = budget.capability
        model.step()
        path.append(model.frontier_capability)
        if len(path) > lag and budget.capability < model.frontier_capability:
            assert budget.capability == pytest.approx(max(before, path[-1 - lag]), abs=1e-9)
    drift = model.spec.market.frontier_drift_per_month
    behind = model.frontier_capability - budget.capability
    assert behind == pytest.approx(path[-1] - path[-1 - lag], abs=1e-9)
    assert behind >= lag * drift - 1e-9
