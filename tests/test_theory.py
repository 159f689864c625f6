"""Checks of the theory benchmarks: published values, first-order conditions, brute force."""

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenmarket.model import theory
from tokenmarket.model.theory import (
    hotelling_prices,
    joint_monopoly_prices,
    logit_best_response,
    logit_nash_prices,
    logit_shares,
    salop_free_entry_firms,
    salop_optimal_firms,
    salop_price,
)

# Calvano et al. (2020) baseline: a = 2, c = 1, mu = 0.25, a0 = 0.
A, C, MU = 2.0, 1.0, 0.25
HYPOTHESIS = settings(max_examples=50, deadline=None)


@st.composite
def logit_markets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Asymmetric logit markets of 2-6 firms in the ranges the model uses."""
    n_firms = draw(st.integers(2, 6))
    unit = st.floats(0.5, 3.0)
    a = np.array(draw(st.lists(unit, min_size=n_firms, max_size=n_firms)))
    c = np.array(draw(st.lists(st.floats(0.1, 2.0), min_size=n_firms, max_size=n_firms)))
    return a, c, draw(st.floats(0.05, 1.0)), draw(st.floats(-1.0, 1.0))


def others_weight(prices: np.ndarray, a: np.ndarray, mu: float, a0: float, firm: int) -> float:
    """Sum of exp(mean utility) over firm's rivals and the outside option."""
    rivals = np.delete((a - prices) / mu, firm)
    return float(np.exp(rivals).sum() + np.exp(a0 / mu))


# --- logit shares ---------------------------------------------------------------------------


def test_logit_shares_match_the_textbook_formula() -> None:
    prices = np.array([1.2, 1.5, 0.9])
    a = np.array([2.0, 2.3, 1.7])
    weights = np.exp((a - prices) / 0.4)
    expected = weights / (weights.sum() + np.exp(0.3 / 0.4))
    np.testing.assert_allclose(logit_shares(prices, a, 0.4, a0=0.3), expected, rtol=1e-14)


def test_logit_shares_stay_finite_at_extreme_utility_scales() -> None:
    shares = logit_shares([1.0, 1.0], [900.0, 899.0], 0.5)
    assert np.all(np.isfinite(shares))
    np.testing.assert_allclose(shares, [1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(2.0))])


# --- Bertrand-Nash and joint monopoly: published values --------------------------------------


@pytest.mark.parametrize(
    ("n_firms", "price", "share"),
    [(2, 1.47293, 0.47138), (3, 1.37016, 0.32462), (4, 1.33146, 0.24576)],
)
def test_nash_prices_match_calvano(n_firms: int, price: float, share: float) -> None:
    prices = logit_nash_prices(A, [C] * n_firms, MU)
    assert prices.shape == (n_firms,)
    np.testing.assert_allclose(prices, price, atol=5e-6)
    np.testing.assert_allclose(logit_shares(prices, A, MU), share, atol=5e-6)


@pytest.mark.parametrize(
    ("n_firms", "price", "share"),
    [(2, 1.92498, 0.36486), (3, 2.0, 0.25), (4, 2.05441, 0.19073)],
)
def test_joint_monopoly_prices_match_calvano(n_firms: int, price: float, share: float) -> None:
    prices = joint_monopoly_prices([A] * n_firms, C, MU)
    assert prices.shape == (n_firms,)
    np.testing.assert_allclose(prices, price, atol=5e-6)
    np.testing.assert_allclose(logit_shares(prices, A, MU), share, atol=5e-6)


# --- Bertrand-Nash and joint monopoly: first-order conditions ---------------------------------


@HYPOTHESIS
@given(logit_markets())
def test_nash_prices_satisfy_the_foc(market: tuple[np.ndarray, np.ndarray, float, float]) -> None:
    a, c, mu, a0 = market
    prices = logit_nash_prices(a, c, mu, a0)
    shares = logit_shares(prices, a, mu, a0)
    np.testing.assert_allclose(prices - c, mu / (1.0 - shares), rtol=0, atol=1e-9)


@HYPOTHESIS
@given(logit_markets())
def test_joint_monopoly_sets_one_markup_above_every_nash_markup(
    market: tuple[np.ndarray, np.ndarray, float, float],
) -> None:
    a, c, mu, a0 = market
    collusive = joint_monopoly_prices(a, c, mu, a0)
    markups = collusive - c
    outside_share = 1.0 - logit_shares(collusive, a, mu, a0).sum()
    np.testing.assert_allclose(markups, mu / outside_share, rtol=0, atol=1e-9)
    # With several goods the monopolist's markup exceeds even the largest Nash markup.
    nash_markups = logit_nash_prices(a, c, mu, a0) - c
    assert markups.min() >= nash_markups.max() - 1e-9


def test_joint_monopoly_strictly_exceeds_nash_when_goods_compete() -> None:
    a, c = np.array([2.0, 1.6, 2.4]), np.array([1.0, 0.7, 1.3])
    assert np.all(joint_monopoly_prices(a, c, 0.3) > logit_nash_prices(a, c, 0.3) + 0.05)


def test_nash_solver_recovers_when_newton_steps_are_useless(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, c = np.array([2.0, 2.5, 1.5]), np.array([1.0, 1.2, 0.8])
    expected = logit_nash_prices(a, c, 0.25, 0.5)
    monkeypatch.setattr(theory.np.linalg, "solve", lambda matrix, rhs: np.full_like(rhs, 1e6))
    np.testing.assert_allclose(logit_nash_prices(a, c, 0.25, 0.5), expected, atol=1e-10)


def test_nash_solver_raises_when_it_runs_out_of_iterations() -> None:
    with pytest.raises(RuntimeError, match="did not converge"):
        logit_nash_prices(A, [C, C], MU, max_iter=1)


def test_invalid_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="mu must be positive"):
        logit_nash_prices(A, [C, C], 0.0)
    with pytest.raises(ValueError, match="one value per firm"):
        joint_monopoly_prices([[A, A]], C, MU)


# --- best response ----------------------------------------------------------------------------


@HYPOTHESIS
@given(logit_markets())
def test_each_nash_price_is_its_own_best_response(
    market: tuple[np.ndarray, np.ndarray, float, float],
) -> None:
    a, c, mu, a0 = market
    prices = logit_nash_prices(a, c, mu, a0)
    for firm in range(a.size):
        others = others_weight(prices, a, mu, a0, firm)
        best = logit_best_response(a[firm] / mu, c[firm], 1.0 / mu, others)
        assert best == pytest.approx(prices[firm], abs=1e-9)


def brute_force_best_price(
    xi: float, c: float, a_price: float, others: float, grid: np.ndarray, log_price: bool
) -> tuple[float, float]:
    """Grid price with the highest profit, and that profit."""
    utility = xi - a_price * (np.log(grid) if log_price else grid)
    profit = (grid - c) / (1.0 + others * np.exp(-utility))
    best = int(np.argmax(profit))
    return float(grid[best]), float(profit[best])


@pytest.mark.parametrize(
    ("xi", "c", "a_price", "others", "price_utility", "upper"),
    [
        (8.0, 1.0, 4.0, 1.0, "linear", 5.0),
        (3.0, 0.2, 10.0, 50.0, "linear", 2.0),
        (2.0, 1.0, 3.0, 1.5, "log", 10.0),
        (6.0, 0.5, 1.4, 0.3, "log", 1000.0),
    ],
)
def test_best_response_maximises_profit_on_a_grid(
    xi: float, c: float, a_price: float, others: float, price_utility: str, upper: float
) -> None:
    log_price = price_utility == "log"
    grid = np.linspace(c, upper, 400_001)
    grid_price, grid_profit = brute_force_best_price(xi, c, a_price, others, grid, log_price)
    best = logit_best_response(xi, c, a_price, others, price_utility=price_utility)
    assert c < best < upper
    assert abs(best - grid_price) <= 2 * (grid[1] - grid[0])
    best_profit = brute_force_best_price(xi, c, a_price, others, np.array([best]), log_price)[1]
    assert best_profit >= grid_profit - 1e-12


def test_best_response_is_capped_at_p_max() -> None:
    free = logit_best_response(8.0, 1.0, 4.0, 1.0)
    assert logit_best_response(8.0, 1.0, 4.0, 1.0, p_max=free + 1.0) == free
    assert logit_best_response(8.0, 1.0, 4.0, 1.0, p_max=free - 0.1) == free - 0.1
    assert logit_best_response(2.0, 1.0, 3.0, 1.5, price_utility="log", p_max=1.2) == 1.2


def test_log_best_response_runs_to_p_max_when_demand_is_inelastic() -> None:
    # a_price <= 1 under log utility: profit (p - c) s(p) keeps rising in p.
    assert logit_best_response(1.0, 1.0, 0.8, 2.0, price_utility="log", p_max=50.0) == 50.0
    grid = np.array([10.0, 50.0, 250.0])
    profit = (grid - 1.0) / (1.0 + 2.0 * np.exp(-(1.0 - 0.8 * np.log(grid))))
    assert np.all(np.diff(profit) > 0)


def test_log_best_response_without_p_max_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"rises without bound.*p_max"):
        logit_best_response(1.0, 1.0, 1.0, 2.0, price_utility="log")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"price_utility": "quadratic"}, "price_utility"),
        ({"a_price": 0.0}, "a_price must be positive"),
        ({"others": 0.0}, "others must be positive"),
        ({"c": 0.0, "price_utility": "log"}, "c must be positive"),
    ],
)
def test_best_response_rejects_invalid_inputs(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"xi": 1.0, "c": 1.0, "a_price": 3.0, "others": 1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        logit_best_response(**arguments)


# --- Hotelling --------------------------------------------------------------------------------


def hotelling_profits(p1: np.ndarray, p2: np.ndarray, c1: float, c2: float, t: float):
    """Profits of firms at 0 and 1 with the indifferent consumer at (p2 - p1 + t) / (2t)."""
    share1 = np.clip((p2 - p1 + t) / (2.0 * t), 0.0, 1.0)
    return (p1 - c1) * share1, (p2 - c2) * (1.0 - share1)


@pytest.mark.parametrize(
    ("c1", "c2", "t"), [(1.0, 1.0, 1.0), (1.0, 2.0, 1.0), (0.5, 2.5, 1.0), (3.0, 1.0, 0.8)]
)
def test_hotelling_prices_are_a_nash_equilibrium(c1: float, c2: float, t: float) -> None:
    p1, p2 = hotelling_prices(c1, c2, t)
    grid = np.linspace(0.0, max(p1, p2) + 2.0 * t, 400_001)
    resolution = grid[1] - grid[0]
    profit1 = hotelling_profits(grid, p2, c1, c2, t)[0]
    profit2 = hotelling_profits(p1, grid, c1, c2, t)[1]
    assert abs(grid[np.argmax(profit1)] - p1) <= resolution
    assert abs(grid[np.argmax(profit2)] - p2) <= resolution


def test_symmetric_hotelling_price_is_cost_plus_transport_cost() -> None:
    p1, p2 = hotelling_prices(1.3, 1.3, 0.4)
    assert p1 == pytest.approx(1.7)
    assert p2 == pytest.approx(1.7)


# --- Salop ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_firms", [2, 3, 5, 8])
def test_salop_price_is_a_best_response_to_itself(n_firms: int) -> None:
    c, t = 1.0, 1.5
    neighbour = salop_price(c, t, n_firms)
    # Local deviations: the deviator keeps a market on both sides, 0 < demand < 2/n.
    grid = np.linspace(neighbour - t / n_firms, neighbour + t / n_firms, 400_001)
    profit = (grid - c) * (1.0 / n_firms + (neighbour - grid) / t)
    assert abs(grid[np.argmax(profit)] - neighbour) <= grid[1] - grid[0]
    assert neighbour == pytest.approx(c + t / n_firms)


def test_salop_free_entry_drives_profit_to_zero() -> None:
    t, fixed_cost = 2.0, 0.02
    n_firms = salop_free_entry_firms(t, fixed_cost)
    assert n_firms == pytest.approx(10.0)
    profit = (salop_price(1.0, t, n_firms) - 1.0) / n_firms - fixed_cost
    assert profit == pytest.approx(0.0, abs=1e-12)


def test_salop_optimal_firms_minimise_fixed_plus_transport_cost() -> None:
    t, fixed_cost = 2.0, 0.02
    grid = np.linspace(1.0, 20.0, 190_001)
    social_cost = grid * fixed_cost + t / (4.0 * grid)
    optimum = salop_optimal_firms(t, fixed_cost)
    assert abs(grid[np.argmin(social_cost)] - optimum) <= grid[1] - grid[0]
    assert optimum == pytest.approx(0.5 * salop_free_entry_firms(t, fixed_cost))
