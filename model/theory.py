"""Closed forms and solvers that the simulated token market is checked against.

Logit demand (Calvano, Calzolari, Denicolò & Pastorello 2020, AER 110(10)): inside shares,
Bertrand–Nash and joint-monopoly prices, and one firm's myopic best response. Spatial
benchmarks: Hotelling (1929) on the unit line and the Salop (1979) circle. Prices, costs,
``a``/``a0`` qualities, the logit scale ``mu`` and the transport cost ``t`` are all in one
currency unit (e.g. USD per million tokens); consumers have unit mass.
"""

from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt

type FloatArray = npt.NDArray[np.float64]
type PriceUtility = Literal["linear", "log"]

# Doubling a positive step overflows a float64 after ~1024 steps, so more cannot help.
_MAX_DOUBLINGS = 1100
# Bisection of a float64 interval reaches adjacent floats within ~2100 halvings at most.
_MAX_BISECTIONS = 2200


def _inside_shares(v: FloatArray, v0: npt.ArrayLike) -> FloatArray:
    """Logit shares of inside options with mean utilities ``v`` (last axis) against ``v0``.

    The single share formula of the module; the largest utility is subtracted first so that
    exp() stays finite for any utility scale (e.g. a/mu in the hundreds).
    """
    v0 = np.asarray(v0, dtype=np.float64)
    top = np.maximum(v.max(axis=-1), v0)
    weights = np.exp(v - top[..., None])
    return weights / (weights.sum(axis=-1) + np.exp(v0 - top))[..., None]


def _solve_increasing(
    residual: Callable[[FloatArray], FloatArray], lo: npt.ArrayLike, step: npt.ArrayLike
) -> FloatArray:
    """Elementwise root of a residual increasing in x, given ``residual(lo) < 0``.

    Bisection rather than Newton because the callers' residuals are monotone but can be very
    flat far from the root, where Newton overshoots; the bracket is found by doubling a step.
    """
    lo = np.array(lo, dtype=np.float64)
    step = np.array(step, dtype=np.float64)
    hi = lo + step
    for _ in range(_MAX_DOUBLINGS):
        below = residual(hi) <= 0.0
        if not below.any():
            break
        lo = np.where(below, hi, lo)
        step = np.where(below, 2.0 * step, step)
        hi = np.where(below, hi + step, hi)
    else:
        raise RuntimeError("could not bracket the root: residual stays negative")
    for _ in range(_MAX_BISECTIONS):
        mid = 0.5 * (lo + hi)
        if not ((mid > lo) & (mid < hi)).any():
            break
        below = residual(mid) <= 0.0
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def _per_firm(a: npt.ArrayLike, c: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Broadcast qualities and marginal costs to one float64 entry per firm."""
    a_arr, c_arr = np.broadcast_arrays(
        np.atleast_1d(np.asarray(a, dtype=np.float64)),
        np.atleast_1d(np.asarray(c, dtype=np.float64)),
    )
    if a_arr.ndim != 1:
        raise ValueError(f"a and c must broadcast to one value per firm, got shape {a_arr.shape}")
    return a_arr.copy(), c_arr.copy()


def _check_mu(mu: float) -> None:
    """Reject a non-positive logit scale, for which demand is not logit."""
    if not mu > 0:
        raise ValueError(f"mu must be positive, got {mu}")


def _best_response_prices(
    xi: FloatArray, c: FloatArray, a_price: float, log_others: FloatArray, log_price: bool
) -> FloatArray:
    """Unconstrained myopic best-response prices under logit demand, one per firm.

    With s(p) the firm's share, profit (p - c) s(p) has derivative -s(p) h(p), where
    h(p) = a_price f'(p) (p - c) (1 - s(p)) - 1 rises in p above c and h(c) = -1; so the
    profit is single-peaked and the FOC root of h is the maximiser. Needs a_price > 1 when
    f = ln, else h < 0 everywhere.
    """

    def foc(p: FloatArray) -> FloatArray:
        utility = xi - a_price * (np.log(p) if log_price else p)
        share = _inside_shares(utility[..., None], log_others)[..., 0]
        slope = a_price / p if log_price else a_price
        return slope * (p - c) * (1.0 - share) - 1.0

    step = c if log_price else np.full_like(c, 1.0 / a_price)
    return _solve_increasing(foc, c, step)


def logit_shares(prices: npt.ArrayLike, a: npt.ArrayLike, mu: float, a0: float = 0.0) -> FloatArray:
    """Multinomial-logit inside shares q_i = e^((a_i-p_i)/mu) / (Σ_j e^((a_j-p_j)/mu) + e^(a0/mu)).

    The demand of Calvano, Calzolari, Denicolò & Pastorello (2020, AER 110(10)); firms run
    along the last axis of ``prices``. ``1 - shares.sum(-1)`` is the outside share.
    """
    _check_mu(mu)
    prices = np.asarray(prices, dtype=np.float64)
    utility = (np.asarray(a, dtype=np.float64) - prices) / mu
    return _inside_shares(utility, a0 / mu)


def logit_best_response(
    xi: float,
    c: float,
    a_price: float,
    others: float,
    *,
    price_utility: PriceUtility = "linear",
    p_max: float | None = None,
) -> float:
    """One firm's myopic profit-maximising price under logit demand, all else held fixed.

    The firm's share is s(p) = e^(xi - a_price f(p)) / (others + e^(xi - a_price f(p))) with
    f(p) = p ("linear") or ln p ("log"); ``others`` > 0 sums e^(mean utility) over every other
    option incl. the outside one, ``a_price`` = alpha/mu is the price coefficient and ``c`` the
    marginal cost (> 0 for "log"). Linear FOC: p = c + 1/(a_price (1 - s)); log FOC:
    (p - c) a_price (1 - s) = p, solved by bisection. Under "log" with a_price <= 1 profit rises
    without bound in p, so the firm charges ``p_max``; the result never exceeds ``p_max``.
    This is the model's ``best_response`` pricing rule (Calvano et al. 2020, AER 110(10)).
    """
    if price_utility not in ("linear", "log"):
        raise ValueError(f"price_utility must be 'linear' or 'log', got {price_utility!r}")
    if not a_price > 0:
        raise ValueError(f"a_price must be positive, got {a_price}")
    if not others > 0:
        raise ValueError(f"others must be positive, got {others}")
    log_price = price_utility == "log"
    if log_price and not c > 0:
        raise ValueError(f"c must be positive under log price utility, got {c}")
    if log_price and a_price <= 1:
        if p_max is None:
            raise ValueError(
                f"under log price utility with a_price = {a_price} <= 1 profit rises without "
                "bound in price; pass p_max to cap the price"
            )
        return float(p_max)
    price = _best_response_prices(
        np.array([xi], dtype=np.float64),
        np.array([c], dtype=np.float64),
        a_price,
        np.array([np.log(others)]),
        log_price,
    )
    best = float(price[0])
    return best if p_max is None else min(best, float(p_max))


def logit_markup_price(
    c: float, share: float, a_price: float, *, price_utility: PriceUtility = "linear"
) -> float:
    """Price at which a logit firm of share ``share`` meets its first-order condition.

    The FOC of (p - c) s(p) with s the firm's logit share (the outside option included):
    linear price utility, p - c = 1 / (a_price (1 - s)); log price utility, the price
    elasticity of demand is e = a_price (1 - s) and p = c e / (e - 1), inf when e <= 1
    (profit rises without bound). At the share the price itself produces this is the
    ``logit_best_response``; at an observed share it is the inverse-elasticity (Lerner) rule.
    """
    slope = a_price * (1.0 - share)
    if price_utility == "linear":
        return c + 1.0 / slope
    return c * slope / (slope - 1.0) if slope > 1.0 else float("inf")


def logit_nash_prices(
    a: npt.ArrayLike,
    c: npt.ArrayLike,
    mu: float,
    a0: float = 0.0,
    *,
    tol: float = 1e-12,
    max_iter: int = 10_000,
) -> FloatArray:
    """Bertrand–Nash prices of single-product firms under logit demand (asymmetric a, c).

    Solves the FOCs p_i - c_i = mu / (1 - s_i(p)) as the fixed point p = BR(p) of exact best
    responses. The logit best-response map has slopes dBR_i/dp_j = s_i s_j / (1 - s_i) >= 0
    summing over j to less than s_i < 1: a sup-norm contraction with a unique fixed point.
    Newton steps on p - BR(p) (with that exact Jacobian) give quadratic convergence; a step
    that does not shrink the gap is replaced by the plain, contracting best-response step.
    Calvano, Calzolari, Denicolò & Pastorello (2020, AER 110(10)) baseline a = 2, c = 1,
    mu = 0.25, a0 = 0, two firms: p = 1.47293. Raises RuntimeError after ``max_iter`` steps.
    """
    a, c = _per_firm(a, c)
    _check_mu(mu)
    n_firms = a.size
    xi = a / mu
    outside = np.full((n_firms, 1), a0 / mu)
    own = np.eye(n_firms, dtype=bool)

    def respond(prices: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Best responses to ``prices``, the gap BR(p) - p and the Jacobian dBR_i/dp_j."""
        rivals = np.where(own, -np.inf, (xi - prices / mu)[None, :])
        log_others = np.logaddexp.reduce(np.hstack([rivals, outside]), axis=1)
        best = _best_response_prices(xi, c, 1.0 / mu, log_others, log_price=False)
        # At a best response 1 - s_i = mu / (p_i - c_i); rivals' weights exp(-inf) = 0 on i.
        own_share = 1.0 - mu / (best - c)
        slopes = own_share[:, None] * np.exp(rivals - log_others[:, None])
        return best, best - prices, slopes

    prices = c.copy()
    best, gap, slopes = respond(prices)
    for _ in range(max_iter):
        if np.max(np.abs(gap)) <= tol * (1.0 + np.max(np.abs(best))):
            return best
        trial = prices + np.linalg.solve(np.eye(n_firms) - slopes, gap)
        trial_best, trial_gap, trial_slopes = respond(trial)
        if not np.max(np.abs(trial_gap)) < np.max(np.abs(gap)):
            trial = best
            trial_best, trial_gap, trial_slopes = respond(trial)
        prices, best, gap, slopes = trial, trial_best, trial_gap, trial_slopes
    raise RuntimeError(f"logit Nash prices did not converge within {max_iter} iterations")


def joint_monopoly_prices(
    a: npt.ArrayLike, c: npt.ArrayLike, mu: float, a0: float = 0.0
) -> FloatArray:
    """Prices of one owner of all inside goods under logit demand (the collusive benchmark).

    The FOCs give every good the same markup m with m = mu / s0(m), s0 the outside share;
    m s0(m) rises in m, so the scalar equation is solved by bisection. Calvano et al. (2020,
    AER 110(10)) baseline a = 2, c = 1, mu = 0.25, a0 = 0, two goods: p = 1.92498.
    """
    a, c = _per_firm(a, c)
    _check_mu(mu)
    net_utility = (a - c) / mu

    def foc(markup: FloatArray) -> FloatArray:
        inside = _inside_shares(net_utility - markup / mu, a0 / mu).sum()
        return markup * (1.0 - inside) / mu - 1.0

    markup = _solve_increasing(foc, np.float64(0.0), np.float64(mu))
    return c + markup


def hotelling_prices(
    c1: npt.ArrayLike, c2: npt.ArrayLike, t: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Nash prices p_i = t + (2 c_i + c_j) / 3 of two firms at the ends of the unit line.

    Linear transport cost t per unit distance, unit mass of consumers, full coverage and an
    interior split (|c1 - c2| < 3t); symmetric costs give c + t (Hotelling 1929). The ends
    matter: with linear costs and interior locations a price equilibrium may fail to exist
    (d'Aspremont, Gabszewicz & Thisse 1979, Econometrica 47(5)).
    """
    c1 = np.asarray(c1, dtype=np.float64)
    c2 = np.asarray(c2, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    return t + (2.0 * c1 + c2) / 3.0, t + (2.0 * c2 + c1) / 3.0


def salop_price(c: npt.ArrayLike, t: npt.ArrayLike, n: npt.ArrayLike) -> FloatArray:
    """Symmetric Nash price c + t/n of n equidistant firms on the unit circle.

    Linear transport cost t, unit mass of consumers (Salop 1979, Bell J. Econ. 10(1);
    Nicholson & Snyder, Microeconomic Theory 10e, Problem 15.11).
    """
    return np.asarray(c, dtype=np.float64) + np.asarray(t, dtype=np.float64) / np.asarray(n)


def salop_free_entry_firms(t: npt.ArrayLike, fixed_cost: npt.ArrayLike) -> FloatArray:
    """Free-entry number of Salop firms sqrt(t/K), where profit t/n^2 - K reaches zero.

    K = ``fixed_cost`` per firm, in the unit of t (Salop 1979, Bell J. Econ. 10(1);
    Nicholson & Snyder, Microeconomic Theory 10e, Problem 15.11).
    """
    return np.sqrt(np.asarray(t, dtype=np.float64) / np.asarray(fixed_cost, dtype=np.float64))


def salop_optimal_firms(t: npt.ArrayLike, fixed_cost: npt.ArrayLike) -> FloatArray:
    """Cost-minimising number of Salop firms 0.5 sqrt(t/K), minimising n K + t/(4n).

    Half the free-entry count: entry is excessive (Salop 1979, Bell J. Econ. 10(1);
    Nicholson & Snyder, Microeconomic Theory 10e, Problem 15.11).
    """
    return 0.5 * salop_free_entry_firms(t, fixed_cost)
