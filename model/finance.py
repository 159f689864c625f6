"""A firm's finance: discounted cash flow, terminal value, and the value of continuing.

Cash flows are monthly and discounted at the scenario's annual rate r, month t by
(1 + r) ** (-t / 12) (the model's `discount_factor`). Capex counts when paid (the order
month), not as amortization: the DCF of a firm is the present value of what it pays out and
takes in (Brealey, Myers & Allen, Principles of Corporate Finance, ch. 6).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def monthly_rate(annual: float) -> float:
    """Monthly rate compounding to `annual` over 12 months."""
    return (1.0 + annual) ** (1.0 / 12.0) - 1.0


def discounted(
    monthly_cash_flow_usd: np.ndarray, discount_per_year: float, first_month: int
) -> float:
    """Present value of flows in months first_month, first_month + 1, ... (month 0 is now)."""
    months = first_month + np.arange(len(monthly_cash_flow_usd), dtype=np.float64)
    return float(np.sum(monthly_cash_flow_usd * (1.0 + monthly_rate(discount_per_year)) ** -months))


def terminal_value(
    monthly_cash_flow_usd: Sequence[float], discount_per_year: float, growth_per_year: float
) -> float:
    """Value, one month before the first forecast month, of the firm as a growing perpetuity.

    Rule (Gordon growth, Koller, Goedhart & Wessels, Valuation, ch. 10): next month's cash
    flow is the mean of `monthly_cash_flow_usd` (the last 12 months' *normalized* free cash
    flow: profit after amortization, i.e. maintenance capex equal to depreciation, so a firm
    that is still building is not valued at its growth capex), growing at `growth_per_year`
    for ever, discounted at `discount_per_year`: TV = CF (1 + g_m) / (r_m - g_m), monthly
    rates. Floored at zero, the value of exit (the model writes capacity off on exit, so its
    liquidation value is nil). Needs g < r.
    """
    if not growth_per_year < discount_per_year:
        raise ValueError(
            f"growth_per_year ({growth_per_year}) must be below discount_per_year "
            f"({discount_per_year})"
        )
    if len(monthly_cash_flow_usd) == 0:
        return 0.0
    flow = float(np.mean(monthly_cash_flow_usd))
    r, g = monthly_rate(discount_per_year), monthly_rate(growth_per_year)
    return max(0.0, flow * (1.0 + g) / (r - g))


def continuation_value(
    monthly_cash_flow_usd: Sequence[float],
    discount_per_year: float,
    horizon_months: int,
    trend_damping: float,
) -> float:
    """Present value of continuing for `horizon_months`, by the firm's own trend forecast.

    Only avoidable flows count (capex is sunk at the exit decision: revenue less power, opex
    and R&D). The firm fits a straight line to its recent months, takes the line's value at
    the latest month as the level and forecasts with a damped trend (Gardner & McKenzie 1985,
    Management Science 31(10)): month k ahead is level + slope (phi + ... + phi^k), phi =
    `trend_damping`, so a firm cutting its price on purpose does not extrapolate the fall for
    ever. Continuing is worth it when this is at least the value of leaving, nil (the
    shutdown rule with a forecast: Dixit & Pindyck 1994, Investment under Uncertainty, ch. 7,
    without the option value of waiting).
    """
    flows = np.asarray(monthly_cash_flow_usd, dtype=np.float64)
    if flows.size == 0:
        return 0.0
    months = np.arange(flows.size, dtype=np.float64)
    slope = float(np.polyfit(months, flows, 1)[0]) if flows.size > 1 else 0.0
    level = flows.mean() + slope * (months[-1] - months.mean())
    ahead = np.arange(1, horizon_months + 1, dtype=np.float64)
    trend = np.cumsum(trend_damping**ahead)
    return discounted(level + slope * trend, discount_per_year, 1)


def worth_leaving(
    monthly_cash_flow_usd: Sequence[float],
    discount_per_year: float,
    horizon_months: int,
    trend_damping: float,
) -> bool:
    """Leave now: the latest month lost cash *and* the forecast says continuing is worth < 0.

    A firm decides again every month and capacity is sunk, so while the latest month's
    avoidable cash flow is positive leaving gives up cash it could still take and can wait a
    month at no cost (the exit threshold of Dixit & Pindyck 1994, ch. 7, lies at or below a
    zero flow); a firm losing cash now stays only if its forecast sees the losses end.
    """
    if len(monthly_cash_flow_usd) == 0 or monthly_cash_flow_usd[-1] >= 0.0:
        return False
    value = continuation_value(
        monthly_cash_flow_usd, discount_per_year, horizon_months, trend_damping
    )
    return value < 0.0


def fleet_purchases(capacity_mtok: np.ndarray, life_months: int) -> np.ndarray:
    """Capacity bought each month (Mtok/month) to hold `capacity_mtok[k]` from month 0 on.

    Month 0 buys the first fleet; later months buy the growth and replace what was bought
    `life_months` earlier (a vintage serves its life, then retires: `agents/fleet.py`).
    """
    bought = np.diff(capacity_mtok, prepend=0.0).clip(min=0.0)
    for k in range(life_months, bought.size):
        bought[k] += bought[k - life_months]
    return bought


def entry_value(
    operating_cash_usd: np.ndarray,
    capacity_mtok: np.ndarray,
    capex_per_unit_usd: float,
    life_months: int,
    discount_per_year: float,
    growth_per_year: float,
) -> float:
    """Present value, at entry, of a new firm's free cash flow, its first fleet's capex included.

    `operating_cash_usd[k]` (revenue less power, opex and R&D) and `capacity_mtok[k]` are the
    firm's plan for months k = 0 (entry) to H. Capex is paid when bought (`fleet_purchases`).
    Beyond H the firm is a growing perpetuity of its normalized month-H flow (operating cash
    less amortization, `terminal_value`); since that charges the fleet in service at H for
    its remaining life again, the fleet's book value at H (undepreciated capex, straight
    line) is added back. If that flow is not positive, the value beyond H is nil: the firm
    would leave, its fleet written off (errs low: it could run the fleet out first). The
    sunk cost of entering, if any, is the caller's to subtract.
    """
    bought = fleet_purchases(capacity_mtok, life_months)
    horizon = capacity_mtok.size - 1
    age = horizon - np.arange(capacity_mtok.size)
    book = capex_per_unit_usd * float(np.sum(bought * np.clip(life_months - age, 0, None)))
    book /= life_months
    tail = operating_cash_usd[-1] - capex_per_unit_usd * capacity_mtok[-1] / life_months
    beyond = terminal_value([tail], discount_per_year, growth_per_year) + book if tail > 0 else 0.0
    flows = operating_cash_usd - capex_per_unit_usd * bought
    return (
        discounted(flows, discount_per_year, 0)
        + beyond * (1.0 + monthly_rate(discount_per_year)) ** -horizon
    )
