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
    forecast = level + slope * trend
    return float(np.sum(forecast * (1.0 + monthly_rate(discount_per_year)) ** -ahead))


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
