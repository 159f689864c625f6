"""The energy -> compute -> token cost chain, as pure functions over floats or arrays.

Units: capacity `K` and output `Q` in million tokens (Mtok) per month; `e` in kWh per Mtok
at full load (IT equipment only); prices in USD per kWh and USD per Mtok.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

type Amount = float | np.ndarray
"""A float, or an array of them (one per provider): every function here broadcasts."""

HOURS_PER_MONTH = 730.0


def per_unit_of_capacity(
    usd_per_gpu: ArrayLike, gpu_kw: ArrayLike, energy_kwh_per_mtok: ArrayLike
) -> Amount:
    """USD per (Mtok/month of capacity) from USD per GPU.

    One GPU at full load serves `gpu_kw * 730 / e` Mtok a month, so a per-GPU amount
    (its price, or its monthly non-power opex) divides by that.
    """
    mtok_per_gpu_month = np.asarray(gpu_kw) * HOURS_PER_MONTH / np.asarray(energy_kwh_per_mtok)
    return np.asarray(usd_per_gpu) / mtok_per_gpu_month


def energy_kwh(
    pue: Amount,
    energy_kwh_per_mtok: Amount,
    idle_power_fraction: Amount,
    capacity_mtok: Amount,
    served_mtok: Amount,
) -> Amount:
    """Facility energy in a month: idle servers still draw `phi` of full power."""
    phi = idle_power_fraction
    return pue * energy_kwh_per_mtok * (phi * capacity_mtok + (1.0 - phi) * served_mtok)


def marginal_cost(
    price_usd_per_kwh: Amount, pue: Amount, energy_kwh_per_mtok: Amount, idle_power_fraction: Amount
) -> Amount:
    """USD per Mtok of one more token served: only the load-dependent power."""
    return price_usd_per_kwh * pue * energy_kwh_per_mtok * (1.0 - idle_power_fraction)


def average_cost(
    utilization: Amount,
    *,
    price_usd_per_kwh: Amount,
    pue: Amount,
    energy_kwh_per_mtok: Amount,
    idle_power_fraction: Amount,
    capex_per_unit_usd: Amount,
    amortization_months: Amount,
    opex_per_unit_usd: Amount,
    opex_fixed_usd_per_month: Amount,
    capacity_mtok: Amount,
) -> Amount:
    """USD per Mtok at utilization `u` (R&D excluded): the number strategies price from.

    AC(u) = p_kWh pue e (phi/u + 1 - phi) + (capex/amortization + opex_unit)/u + opex_fixed/(u K).
    Falls with utilization: idle power, hardware and fixed opex are spread over more tokens.
    """
    u = np.asarray(utilization, dtype=float)
    phi = idle_power_fraction
    power = price_usd_per_kwh * pue * energy_kwh_per_mtok * (phi / u + 1.0 - phi)
    per_capacity = (capex_per_unit_usd / amortization_months + opex_per_unit_usd) / u
    return power + per_capacity + opex_fixed_usd_per_month / (u * capacity_mtok)


def share_or_missing(part: Amount, whole: Amount) -> Amount:
    """`part / whole`, NaN (reported as missing) where `whole` is zero — never inf."""
    part = np.asarray(part, dtype=float)
    whole = np.asarray(whole, dtype=float)
    out = np.full(np.broadcast(part, whole).shape, np.nan)
    np.divide(part, whole, out=out, where=whole > 0)
    return out if out.ndim else float(out)


def learning_factor(
    cumulative_mtok: Amount, reference_mtok: Amount, learning_rate: float
) -> Amount:
    """Multiplier on new hardware's unit cost: (cumulative output / reference) ** -b, <= 1.

    Below the reference output (one month at the initial capacity) there is nothing learnt yet.
    """
    ratio = np.maximum(np.asarray(cumulative_mtok, dtype=float) / reference_mtok, 1.0)
    return ratio ** (-learning_rate)
