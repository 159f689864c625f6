"""Developers' side of the market as arrays: logit choice with inertia, awareness, access.

The model owns one `Population` (structure of arrays, one row per developer); each step's
choice is computed here for every reviewing developer at once. Tastes (`alpha`, `beta`,
`gamma`, `u0`) are set by segment, so a developer's systematic utility depends only on its
cell (segment x region) and on which providers it can choose: utilities are computed per
cell (a few dozen rows) and gathered, never per developer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri

from tokenmarket.model.random import Purpose, Streams

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
    """int, product index (a provider's tier) or OUTSIDE."""
    must_review: np.ndarray
    """bool: rationed last month, or its provider exited."""
    reference_task_price: np.ndarray
    """USD per Mtok of a reference task (price x tokens-per-task factor) of the option it
    chose, when it chose it: its intensive margin answers changes from this price."""
    weight: np.ndarray
    """Developers each agent stands for, relative (sum n): more agents go where the tokens are."""

    @property
    def size(self) -> int:
        """Number of developers."""
        return self.region.size


def apportion(n: int, shares: np.ndarray) -> np.ndarray:
    """Integer counts summing to n closest to n * shares (largest remainders, Hamilton).

    Each count is within one of its expectation, so a small region's weight in the
    population is exact up to one agent at any resolution, not a binomial draw.
    """
    quota = n * np.asarray(shares, dtype=float) / np.sum(shares)
    counts = np.floor(quota).astype(int)
    counts[np.argsort(counts - quota, kind="stable")[: n - counts.sum()]] += 1
    return counts


def stratified_uniforms(group: np.ndarray, rng: np.random.Generator, columns: int) -> np.ndarray:
    """(n, columns) uniforms, a Latin hypercube within each group.

    In a group of m agents each column has exactly one value in each [k/m, (k+1)/m), at a
    random place and in a random order (McKay, Beckman and Conover 1979): every quantile of
    the group's distribution is met within 1/m, so a group's total is not at the mercy of
    a few draws from a heavy tail, and the columns stay independent of each other.
    """
    n = group.size
    sizes = np.bincount(group)
    start = np.repeat(np.cumsum(sizes) - sizes, sizes)
    u = np.empty((n, columns))
    for c in range(columns):
        order = np.lexsort((rng.random(n), group))
        rank = np.arange(n) - start
        u[order, c] = (rank + rng.random(n)) / np.repeat(sizes, sizes)
    return u


def lognormal_slices(
    u: np.ndarray, group: np.ndarray, sigma: np.ndarray, tilt: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each agent's slice of its group's lognormal demand: (mean of e^(sigma Z), developers).

    An agent of a group of m stands for the k-th of m slices (k = floor(u m), u its
    stratified uniform) of equal mass under the demand distribution tilted by x^tilt: for a
    lognormal that is Z ~ N(tilt sigma, 1), so the slice is a < Z < b with a, b = tilt sigma
    + Phi^-1(k / m), Phi^-1((k + 1) / m). It carries the slice's share of the group's
    developers, p = Phi(b) - Phi(a), returned as m p (1 on average over the group), and their
    mean demand, E[e^(sigma Z) | a < Z < b] = e^(sigma^2 / 2) (Phi(b - sigma) - Phi(a -
    sigma)) / p (the lognormal's partial expectation). The group's developers and total
    demand are then both exact, m and m e^(sigma^2 / 2), at any m. Tilt 0 gives each agent
    an equal share of developers; tilt 1 an equal share of demand (sampling with probability
    proportional to size, Hansen and Hurwitz 1943), so that no agent carries a slice of the
    heavy tail bigger than 1/m of the group's tokens.
    """
    m = np.bincount(group)[group]
    k = np.floor(u * m)
    low, high = tilt * sigma + ndtri(k / m), tilt * sigma + ndtri((k + 1) / m)
    developers = ndtr(high) - ndtr(low)
    mean = np.exp(sigma**2 / 2) * (ndtr(high - sigma) - ndtr(low - sigma)) / developers
    return mean, m * developers


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


@dataclass(slots=True)
class Tastes:
    """Persistent idiosyncratic tastes: each developer's taste draw in force per stream key.

    A developer's taste for an option (its prompts tuned to the API, its evals run on it) is
    a match that lasts until it is renewed: each month, with probability 1 - `persistence`,
    the draw is replaced by an independent one (a renewal process). A draw is only read when
    the developer reviews, so it is updated then: read again after k months it is kept with
    probability rho^k, else replaced by the month's fresh draw, the same law as renewing
    every month. Two facts make it a drop-in for memoryless shocks:

    - Each month the draws in force are exactly the memoryless ones in law. For a developer,
      the draw in force for option j was made in some month s_j that the renewals alone
      decide, independently of the draws' values, and draws of distinct (month, option)
      streams are independent; so given the renewals they are independent Gumbel(0, mu)
      (or the line's stable draw), hence also unconditionally. The frictionless choice is
      exactly logit every month (`ChoiceWeights.probabilities()`), the log-sum is still
      the expected maximum utility, and the first choice (at formation, or of an entrant's
      product) is a fresh draw.
    - Corr(eps_t, eps_t+k) = rho^k: the draws agree when no renewal fell in between, so
      rho is the share of the taste variance carried from one month to the next.

    What persistence changes is the joint law over time: a reviewer meets its old draws,
    which are the ones that made its current choice best, so a rival's extra product is no
    longer a fresh chance each month to beat it. Inertia is then partly persistent
    heterogeneity of tastes, not only the switching cost (state dependence); Dubé, Hitsch
    and Rossi (2010, RAND J. Econ. 41(3)) show the two must be told apart. rho = 0 is the
    memoryless model exactly; rho = 1 a developer's draws never change.
    """

    persistence: float
    """rho: the probability a taste draw is kept from one month to the next."""
    value: dict[int, np.ndarray] = field(default_factory=dict)
    """Per stream key, (n,): the draw in force (NaN: never drawn)."""
    read: dict[int, np.ndarray] = field(default_factory=dict)
    """Per stream key, (n,) int: the month the developer last read it (-1: never)."""

    def in_force(
        self,
        key: int,
        fresh: np.ndarray,
        streams: Streams,
        month: int,
        population: int,
        reviewers: np.ndarray,
    ) -> np.ndarray:
        """The reviewers' draws of `key` this month, `fresh` being the month's new draws.

        A never-read draw is `fresh`; one read k months ago is kept with probability rho^k
        (one RENEWAL uniform per developer, keyed like the draw, so an entrant moves no
        one else's renewals); read this month already, it is kept. rho = 0 draws nothing
        more: rho^k is then 0 or 1.
        """
        if self.persistence == 0.0:
            return fresh  # every draw renewed: the memoryless kernel, nothing to record
        if key not in self.value:
            self.value[key] = np.full(population, np.nan)
            self.read[key] = np.full(population, -1)
        last = self.read[key][reviewers]
        # rho^k by table look-up (k = months since last read; never read: k = month + 1,
        # whose entry is 0), not a power per developer
        kept = np.append(self.persistence ** np.arange(month + 1), 0.0)
        keep = kept[np.where(last < 0, month + 1, month - last)]
        u = streams.uniform(Purpose.RENEWAL, month, population, key, rows=reviewers)
        drawn = np.where(u >= keep, fresh, self.value[key][reviewers])
        self.value[key][reviewers] = drawn
        self.read[key][reviewers] = month
        return drawn


def choose(
    pop: Population,
    reviewers: np.ndarray,
    weights: ChoiceWeights,
    streams: Streams,
    month: int,
    keys: list[int],
    switching_cost: np.ndarray | None = None,
    *,
    provider_of: np.ndarray | None = None,
    tier_cost_share: float = 1.0,
    nest_scale: float = 1.0,
    nest_keys: list[int] | None = None,
    tastes: Tastes | None = None,
) -> np.ndarray:
    """New choices of the `reviewers` (row indices): random utility with a switching cost.

    The rule: Gumbel(0, mu) taste shocks on every option; a reviewer moves to its best
    alternative only if that beats its current option's utility plus its switching cost
    (leaving or entering the outside option included). A current product no longer
    available (exited, access withdrawn) has utility -inf, so its customers must move.
    `switching_cost` (one per reviewer) replaces theirs, e.g. zeros as the market forms.

    Options are products. With `provider_of` (the provider of each product), a move to
    another product of the current provider (another tier) costs only `tier_cost_share` of
    the switching cost (same key, contract and SDK). With `nest_scale` lambda < 1 the tiers
    of one line share part of their taste shock (`nested_shocks`, one stream per provider
    from `nest_keys`): a nested logit by provider (McFadden 1978), so a line of near-alike
    tiers counts as little more than one option when a developer weighs another provider.

    Each option's shock is the month's TASTE stream keyed by that option (`keys`: one
    `random.key_of` per product, then `OUTSIDE_KEY`), a full-population array read at the
    reviewer's own row. So a developer's shocks depend neither on who else reviews nor on
    which other options exist, and a change to one option's utility moves only the choices
    at that option's margin. (Sampling the argmax by inverse CDF over the options in list
    order, with three draws, needed fewer draws, but a small change in any one weight moved
    the boundaries between all later options, and an entrant moved them all: paired runs
    came apart; `benchmarks/bench_crn.py`.)

    With `tastes` the shocks persist (`Tastes`: each draw, the nest's stable ones included,
    is kept from the reviewer's last review with probability rho^months, else this month's
    draw is taken), and are recorded there; without, every review draws afresh.
    """
    if nest_scale < 1.0 and (provider_of is None or nest_keys is None):
        raise ValueError(
            f"choose: nest_scale={nest_scale} < 1 nests the tiers of each provider's line and "
            "needs provider_of (the provider of each product) and nest_keys (one stream key "
            "per provider); without them the choice would silently be a plain logit"
        )
    mu = weights.mu
    w = np.take(weights.weights, reviewers, axis=0)
    outside = w.shape[1] - 1
    current = pop.choice[reviewers]
    column = np.where(current == OUTSIDE, outside, current)
    rows = np.arange(reviewers.size)

    def persist(key: int, fresh: np.ndarray) -> np.ndarray:
        """The draw in force: `fresh` without tastes, else as `Tastes.in_force` keeps it."""
        if tastes is None:
            return fresh
        return tastes.in_force(key, fresh, streams, month, pop.size, reviewers)

    shocks = np.column_stack(
        [
            persist(
                k, -np.log(streams.exponential(Purpose.TASTE, month, pop.size, k, rows=reviewers))
            )
            for k in keys
        ]
    )
    if provider_of is not None and nest_scale < 1.0 and nest_keys is not None:
        shocks[:, :-1] = nested_shocks(
            shocks[:, :-1],
            provider_of,
            nest_scale,
            streams,
            month,
            pop.size,
            reviewers,
            nest_keys,
            persist,
        )
    with np.errstate(divide="ignore"):
        utility = mu * (np.log(w) + shocks)
    current_utility = utility[rows, column].copy()
    utility[rows, column] = -np.inf
    cost = pop.switching_cost[reviewers] if switching_cost is None else switching_cost
    if provider_of is None:
        utility -= cost[:, None]
    else:
        # the outside option's owner is -1: a reviewer outside has no other "own" option
        owner = np.append(provider_of, -1)
        same = owner[None, :] == owner[column][:, None]
        utility -= np.where(same, tier_cost_share, 1.0) * cost[:, None]
    best = utility.argmax(axis=1)
    switch = utility[rows, best] > current_utility
    new = np.where(best == outside, OUTSIDE, best)
    return np.where(switch, new, current)


def nested_shocks(
    gumbel: np.ndarray,
    provider_of: np.ndarray,
    nest_scale: float,
    streams: Streams,
    month: int,
    population: int,
    reviewers: np.ndarray,
    nest_keys: list[int],
    persist: Callable[[int, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Taste shocks of a nested logit by provider from independent Gumbel ones (n, products).

    A product of a line of several tiers gets lambda (G_j + ln S_p), with G_j its own Gumbel
    draw and S_p one positive stable draw of index lambda per developer and provider (Laplace
    transform exp(-t^lambda)): given S_p, max_j (V_j + lambda (G_j + ln S_p)) is Gumbel with
    location lambda ln sum_j exp(V_j / lambda) + lambda ln S_p, and averaging over S_p gives
    the nested logit's generalized extreme value law exactly (McFadden 1978; the stable
    mixture is Cardell 1997, Econometric Theory 13). S_p is drawn by Kanter's (1975) formula
    from a uniform angle and an exponential. A one-product line keeps its Gumbel draw: for a
    single option the two laws are the same, so one-tier markets draw as before.
    `persist(key, fresh draws)`, the draws in force, keeps a line's ln S_p like a taste
    (`Tastes`); each month's (G_j, S_p) are then still independent with their laws, so the
    nested logit holds every month.
    """
    lines, counts = np.unique(provider_of, return_counts=True)
    shocks = gumbel.copy()
    a = nest_scale
    for line in lines[counts > 1]:
        key = nest_keys[line]
        u = streams.uniform(Purpose.TASTE, month, population, key, 0, rows=reviewers)
        angle = np.pi * (1.0 - u)  # in (0, pi]: sin(angle) > 0
        e = streams.exponential(Purpose.TASTE, month, population, key, 1, rows=reviewers)
        with np.errstate(divide="ignore"):
            log_stable = (
                np.log(np.sin(a * angle))
                - np.log(np.sin(angle)) / a
                + (1.0 - a) / a * (np.log(np.sin((1.0 - a) * angle)) - np.log(e))
            )
        log_stable = persist(key, log_stable)
        tiers = provider_of == line
        shocks[:, tiers] = a * (gumbel[:, tiers] + log_stable[:, None])
    return shocks


def diffuse_awareness(
    pop: Population,
    base: np.ndarray,
    word_of_mouth: float,
    developer_share_by_region: np.ndarray,
    streams: Streams,
    month: int,
    keys: list[int],
) -> None:
    """Bass diffusion: an unaware developer learns of i with prob a_i + w * share of i locally.

    One AWARENESS draw per developer and provider a month, aware or not, keyed by the
    provider (`keys`, its `random.key_of(name)`): a dense draw costs less than finding the
    unaware pairs first, and keeps every pair's draw fixed whoever else enters.
    """
    if pop.aware.all():
        return
    learn_probability = base[None, :] + word_of_mouth * developer_share_by_region
    draws = np.column_stack([streams.uniform(Purpose.AWARENESS, month, pop.size, k) for k in keys])
    pop.aware |= draws < np.take(learn_probability, pop.region, axis=0)


def developer_share_by_region(
    pop: Population, n_regions: int, n_providers: int, provider_of: np.ndarray
) -> np.ndarray:
    """(n_regions, J): share of each region's developers who are customers of each provider.

    `provider_of` maps a product (the choice) to its provider.
    """
    inside = pop.choice != OUTSIDE
    counts = np.bincount(
        pop.region[inside] * n_providers + provider_of[pop.choice[inside]],
        weights=pop.weight[inside],
        minlength=n_regions * n_providers,
    ).reshape(n_regions, n_providers)
    per_region = np.bincount(pop.region, weights=pop.weight, minlength=n_regions)
    return counts / np.maximum(per_region, 1e-12)[:, None]
