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
    access_draw: np.ndarray
    """float (n, n_regions): the uniform behind a developer's access to each provider home."""
    access: np.ndarray
    """bool (n, J): access_draw < access probability of (region, home); kept until a shock."""
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


@dataclass(frozen=True, slots=True)
class ChoiceWeights:
    """Every developer's logit weights this month: w = exp((V - top) / mu), (n, J + 1).

    The outside option is last; unavailable providers weigh 0; `top` (per developer) is its
    cell's largest utility, taken out so exp() never overflows. Built once a month, it
    serves the choice, the probabilities and the consumer surplus alike.
    """

    weights: np.ndarray
    top: np.ndarray
    mu: float

    @classmethod
    def of(
        cls,
        pop: Population,
        v_inside: np.ndarray,
        v_outside: np.ndarray,
        available: np.ndarray,
        mu: float,
    ) -> ChoiceWeights:
        """Weights from per-cell utilities, gathered per developer (np.take: 3x [cells])."""
        top = np.maximum(v_inside.max(axis=1), v_outside)
        weights = np.empty((pop.size, v_inside.shape[1] + 1))
        inside = np.take(np.exp((v_inside - top[:, None]) / mu), pop.cell, axis=0)
        np.multiply(inside, available, out=weights[:, :-1])
        weights[:, -1] = np.exp((v_outside - top) / mu)[pop.cell]
        top = top[pop.cell]
        # A developer whose every option lies > ~745 mu below its cell's best (often one it
        # may not use) has all weights underflow to 0: re-centre those rows on their own best.
        lost = np.flatnonzero(weights.sum(axis=1) == 0.0)
        if lost.size:
            cells = pop.cell[lost]
            own = np.where(available[lost], v_inside[cells], -np.inf)
            top[lost] = np.maximum(own.max(axis=1), v_outside[cells])
            weights[lost, :-1] = np.exp((own - top[lost, None]) / mu)
            weights[lost, -1] = np.exp((v_outside[cells] - top[lost]) / mu)
        return cls(weights, top, mu)

    def probabilities(self) -> np.ndarray:
        """Frictionless choice probabilities (n, J + 1), outside option last."""
        return self.weights / self.weights.sum(axis=1, keepdims=True)

    def log_sum(self) -> np.ndarray:
        """Logit log-sum per developer, mu ln(sum over its choice set of exp(V/mu)), in utils.

        The expected maximum utility up to Euler's constant: the consumer-surplus measure
        of discrete-choice economics (in money, divide by the price coefficient).
        """
        return self.top + self.mu * np.log(self.weights.sum(axis=1))


def choose(
    pop: Population,
    reviewers: np.ndarray,
    weights: ChoiceWeights,
    rng: np.random.Generator,
    switching_cost: np.ndarray | None = None,
) -> np.ndarray:
    """New choices of the `reviewers` (row indices): random utility with a switching cost.

    The rule: fresh Gumbel(0, mu) taste shocks on every option; a reviewer moves to its best
    alternative only if that beats its current option's utility plus its switching cost
    (leaving or entering the outside option included). A current provider no longer
    available (exited, access withdrawn) has utility -inf, so its customers must move.
    `switching_cost` (one per reviewer) replaces theirs, e.g. zeros as the market forms.

    Sampled exactly without a shock per option, by max-stability of the Gumbel law: over
    the alternatives A, the argmax is k with probability w_k / W (W = sum of w over A, w =
    exp(V / mu)), and the max, independent of the argmax, is Gumbel with location mu ln W.
    So three draws per reviewer replace J + 1, and no (n, J + 1) utility array is built.
    """
    n, mu = reviewers.size, weights.mu
    w = np.take(weights.weights, reviewers, axis=0)
    outside = w.shape[1] - 1
    current = pop.choice[reviewers]
    column = np.where(current == OUTSIDE, outside, current)
    rows = np.arange(n)
    current_weight = w[rows, column].copy()
    w[rows, column] = 0.0
    cumulative = np.cumsum(w, axis=1, out=w)
    alternatives = cumulative[:, -1]
    target = rng.random(n) * alternatives
    best = np.minimum((cumulative <= target[:, None]).sum(axis=1), outside)
    shocks = -np.log(rng.standard_exponential((2, n)))
    with np.errstate(divide="ignore"):
        best_utility = mu * (np.log(alternatives) + shocks[0])
        current_utility = mu * (np.log(current_weight) + shocks[1])
    cost = pop.switching_cost[reviewers] if switching_cost is None else switching_cost
    switch = best_utility > current_utility + cost
    new = np.where(best == outside, OUTSIDE, best)
    return np.where(switch, new, current)


def diffuse_awareness(
    pop: Population,
    base: np.ndarray,
    word_of_mouth: float,
    developer_share_by_region: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Bass diffusion: an unaware developer learns of i with prob a_i + w * share of i locally.

    One draw per developer and provider, aware or not: a dense draw costs less than
    finding the unaware pairs first.
    """
    if pop.aware.all():
        return
    learn_probability = base[None, :] + word_of_mouth * developer_share_by_region
    pop.aware |= rng.random(pop.aware.shape) < np.take(learn_probability, pop.region, axis=0)


def developer_share_by_region(pop: Population, n_regions: int, n_providers: int) -> np.ndarray:
    """(n_regions, J): share of each region's developers who are customers of each provider."""
    inside = pop.choice != OUTSIDE
    counts = np.bincount(
        pop.region[inside] * n_providers + pop.choice[inside], minlength=n_regions * n_providers
    ).reshape(n_regions, n_providers)
    per_region = np.bincount(pop.region, minlength=n_regions)
    return counts / np.maximum(per_region, 1)[:, None]
