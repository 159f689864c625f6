"""The cost–capability frontier: quality that costs compute, progress, and lagged diffusion.

At month t the best quality reachable with compute `c` per token is

    q_max(t, c) = F(t) + slope * ln(c)

(quality rising with the log of compute: scaling laws are log-linear in compute, and on
the model's 0-100 index a lab's large and small models sit one slope apart per e-fold of
compute). A provider's model sits at or behind the frontier by its own capability
`a <= F(t)`: q = a + slope * ln(c). Algorithmic progress raises F by `drift` points a
month, so the same quality needs exp(-12 drift / slope) times the compute a year later (cal
B.9: the price of a fixed capability falls ~10x a year, a16z; 9-900x, Epoch). Diffusion
(open weights, distillation) moves laggards toward where the frontier was `lag` months ago
(cal B.9: open-weight models trail the closed frontier by 3.5-4 months, Epoch), never
past it, so a laggard approaches the frontier but does not jump to it.

Compute per token is measured in kWh per Mtok on the reference hardware of the scenario's
start (the IT energy the provider's model needs then): energy per token, GPU throughput and
capex per token follow from it, and hardware shocks change the energy, not the compute.
Pure functions over floats or arrays.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

type Amount = float | np.ndarray


def quality(capability: ArrayLike, compute: ArrayLike, slope: float) -> Amount:
    """Quality of a model with this compute per token, made by a firm of this capability."""
    return np.asarray(capability) + slope * np.log(compute)


def capability(quality_points: ArrayLike, compute: ArrayLike, slope: float) -> Amount:
    """The capability (frontier intercept) that puts a model of this compute at this quality."""
    return np.asarray(quality_points) - slope * np.log(compute)


def compute_for(quality_points: ArrayLike, capability_points: ArrayLike, slope: float) -> Amount:
    """Compute per token a firm of this capability needs for this quality (slope > 0)."""
    return np.exp((np.asarray(quality_points) - np.asarray(capability_points)) / slope)


def annual_compute_factor(drift_per_month: float, slope: float) -> float:
    """Compute needed for a fixed quality a year later, as a multiple of today's (< 1)."""
    return float(np.exp(-12.0 * drift_per_month / slope))


def advance(frontier: float, drift_per_month: float, best_capability: float) -> float:
    """Next month's frontier: exogenous progress, or a firm's R&D past it, whichever is higher."""
    return max(frontier + drift_per_month, best_capability)


def diffuse(capability_points: ArrayLike, lagged_frontier: float, rate: float) -> Amount:
    """Laggards close `rate` of their gap to where the frontier was; those ahead of it stay."""
    a = np.asarray(capability_points, dtype=float)
    return a + rate * np.maximum(0.0, lagged_frontier - a)
