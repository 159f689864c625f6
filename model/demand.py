"""Developers' side of the market as arrays: logit choice with inertia, awareness, access.

The model owns one `Population` (structure of arrays, one row per developer); each step's
choice is computed here for every reviewing developer at once. Tastes (`alpha`, `beta`,
`gamma`, `u0`) are set by segment, so a developer's systematic utility depends only on its
cell (segment x region) and on which providers it can choose: utilities are computed per
cell (a few dozen rows) and gathered, never per developer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OUTSIDE = -1
"""Choice code of the outside option (no API, or self-hosting)."""


@dataclass(slots=True)
class Population:
    """Developers' state, one row each. Index j of a provider axis is the provider's position."""

    region: np.ndarray
    """int, region index."""
    segment: np.ndarray
    """int, segment index."""
    cell: np.ndarray
    """int, segment * n_regions + region: the row of the cell utility tables."""
    base_demand_mtok: np.ndarray
    """Monthly token demand before the intensive-margin price response."""
    switching_cost: np.ndarray
    """utils."""
    review_probability: np.ndarray
    aware: np.ndarray
    """bool (n, J)."""
    access: np.ndarray
    """bool (n, J): drawn once per developer and provider home."""
    choice: np.ndarray
    """int, provider index or OUTSIDE."""
    must_review: np.ndarray
    """bool: rationed last month, or its provider exited."""

    @property
    def size(self) -> int:
        """Number of developers."""
        return self.region.size


def price_term(price_usd_per_mtok: np.ndarray, kind: str) -> np.ndarray:
    """f(p) of the utility: ln p keeps the elasticity independent of the price level."""
    return np.log(price_usd_per_mtok) if kind == "log" else np.asarray(price_usd_per_mtok)


def cell_utilities(
    *,
    alpha: np.ndarray,
    beta: np.ndarray,
    gamma: np.ndarray,
    u0: np.ndarray,
    price_usd_per_mtok: np.ndarray,
    quality: np.ndarray,
    latency_ms: np.ndarray,
    trust: np.ndarray,
    outside_price_usd_per_mtok: float,
    outside_quality: float,
    price_utility: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Systematic utilities per cell: (n_cells, J) for providers and (n_cells,) outside.

    `alpha`, `beta`, `gamma`, `u0` are per segment; `latency_ms` and `trust` are
    (n_regions, J). Cells are ordered segment-major: cell = segment * n_regions + region.
    """
    f = price_term(price_usd_per_mtok, price_utility)
    f0 = price_term(np.asarray(outside_price_usd_per_mtok), price_utility)
    inside = (
        beta[:, None, None] * quality[None, None, :]
        - alpha[:, None, None] * f[None, None, :]
        - gamma[:, None, None] * latency_ms[None, :, :]
        + trust[None, :, :]
    )
    n_regions = latency_ms.shape[0]
    outside = np.repeat(beta * outside_quality - alpha * f0 + u0, n_regions)
    return inside.reshape(-1, inside.shape[-1]), outside


def choose(
    pop: Population,
    reviewers: np.ndarray,
    v_inside: np.ndarray,
    v_outside: np.ndarray,
    available: np.ndarray,
    mu: float,
    rng: np.random.Generator,
    switching_cost: np.ndarray | None = None,
) -> np.ndarray:
    """New choices of the `reviewers` (row indices): random utility with a switching cost.

    Fresh Gumbel(0, mu) draws for every option; a reviewer moves to its best alternative
    only if that beats its current option's utility plus its switching cost (leaving or
    entering the outside option included). A current provider no longer available (exited,
    or access withdrawn) has utility -inf, so its customers must move. `switching_cost`
    (one per reviewer) replaces theirs, e.g. zeros when the market first forms.
    """
    n, n_providers = reviewers.size, v_inside.shape[1]
    cells = pop.cell[reviewers]
    utility = np.empty((n, n_providers + 1))
    utility[:, :n_providers] = v_inside[cells]
    utility[:, n_providers] = v_outside[cells]
    utility += rng.gumbel(0.0, mu, size=utility.shape)
    utility[:, :n_providers][~available[reviewers]] = -np.inf
    current = pop.choice[reviewers]
    current_col = np.where(current == OUTSIDE, n_providers, current)
    rows = np.arange(n)
    current_utility = utility[rows, current_col].copy()
    utility[rows, current_col] = -np.inf
    best = utility.argmax(axis=1)
    cost = pop.switching_cost[reviewers] if switching_cost is None else switching_cost
    switch = utility[rows, best] > current_utility + cost
    new = np.where(best == n_providers, OUTSIDE, best)
    return np.where(switch, new, current)


def logit_probabilities(
    pop: Population, v_inside: np.ndarray, v_outside: np.ndarray, available: np.ndarray, mu: float
) -> np.ndarray:
    """Frictionless choice probabilities (n, J + 1), outside option last."""
    v = np.concatenate([v_inside[pop.cell], v_outside[pop.cell][:, None]], axis=1) / mu
    v[:, :-1][~available] = -np.inf
    v -= v.max(axis=1, keepdims=True)
    expv = np.exp(v)
    return expv / expv.sum(axis=1, keepdims=True)


def expected_max_utility(
    pop: Population, v_inside: np.ndarray, v_outside: np.ndarray, available: np.ndarray, mu: float
) -> np.ndarray:
    """Logit log-sum per developer, mu ln(sum over its choice set of exp(V/mu)), in utils.

    The expected maximum utility up to Euler's constant: the consumer-surplus measure of
    discrete-choice economics (in money, divide by the price coefficient).
    """
    top = np.maximum(v_inside.max(axis=1), v_outside)
    exp_inside = np.exp((v_inside - top[:, None]) / mu)
    exp_outside = np.exp((v_outside - top) / mu)
    total = np.einsum("ij,ij->i", available, exp_inside[pop.cell]) + exp_outside[pop.cell]
    return top[pop.cell] + mu * np.log(total)


def diffuse_awareness(
    pop: Population,
    base: np.ndarray,
    word_of_mouth: float,
    developer_share_by_region: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Bass diffusion: an unaware developer learns of i with prob a_i + w * share of i locally."""
    unaware = ~pop.aware
    if not unaware.any():
        return
    rows, cols = np.nonzero(unaware)
    p = base[cols] + word_of_mouth * developer_share_by_region[pop.region[rows], cols]
    learn = rng.random(rows.size) < p
    pop.aware[rows[learn], cols[learn]] = True


def developer_share_by_region(pop: Population, n_regions: int, n_providers: int) -> np.ndarray:
    """(n_regions, J): share of each region's developers who are customers of each provider."""
    inside = pop.choice != OUTSIDE
    counts = np.bincount(
        pop.region[inside] * n_providers + pop.choice[inside], minlength=n_regions * n_providers
    ).reshape(n_regions, n_providers)
    per_region = np.bincount(pop.region, minlength=n_regions)
    return counts / np.maximum(per_region, 1)[:, None]
