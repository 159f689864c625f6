"""Named random streams: every draw of a run is indexed by (seed, purpose, month, agent).

Why: with one shared generator, draws are consumed in the order decisions happen, so a
parameter change that flips one decision shifts every later draw and common random numbers
(CRN) are lost. Here each purpose has its own counter-based generator (numpy's Philox, keyed
through a `SeedSequence` whose spawn key is (purpose, month, ...)), and a per-agent draw is
always the agent's own element of a full-population array. A change of parameters then moves
only the decisions it affects, which is what paired comparisons and sensitivity analysis
need (L'Ecuyer 2017, "History of uniform random number generation", on streams and
substreams; Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3", for Philox).
"""

from __future__ import annotations

import hashlib
from enum import IntEnum

import numpy as np


def key_of(name: str) -> int:
    """A stream key for a named thing (a provider, the outside option): stable everywhere.

    Draws about a provider are keyed by its name, never by its position in the provider
    list, so a provider that enters (or a scenario that lists one more) moves no one else's
    draws. blake2b, not `hash()`, which Python salts per process.
    """
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


OUTSIDE_KEY = key_of("outside option")
"""The stream key of the outside option's taste shocks."""


class Purpose(IntEnum):
    """What a draw is for. The values are part of the results' identity: never renumber."""

    POPULATION = 1
    """Developers' region, segment, demand, switching cost, access and initial awareness."""
    AWARENESS = 2
    """Bass diffusion of awareness, month by month."""
    REVIEW = 3
    """Whether a developer reviews its choice this month."""
    TASTE = 4
    """The taste shocks of a review: one Gumbel stream per option, keyed by its name (with
    persistent tastes, the month's fresh draw, taken where a renewal falls)."""
    RATIONING = 5
    """Which customers of a short provider are rationed."""
    STRATEGY = 6
    """A provider's own random decisions (exploration of a learning firm, say).

    Every draw about a provider (its strategy's, the news of it, awareness of it, a taste
    shock for it) is keyed by `key_of(name)`, not by its list position."""
    NEWS = 7
    """Who hears of a release or an entrant."""
    SITE = 8
    """Whether a host region permits a provider's site abroad (once per site and run)."""
    RENEWAL = 9
    """Whether a developer's persistent taste for an option is renewed (`demand.Tastes`),
    keyed like the taste draw it renews."""


class Streams:
    """The random streams of one run, all derived from one non-negative integer seed.

    Args:
        seed: the run's seed; the same seed gives the same draws in any process.

    """

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer (got {seed})")
        self.seed = int(seed)

    def generator(self, purpose: Purpose, *keys: int) -> np.random.Generator:
        """A generator of its own for (purpose, *keys), e.g. (STRATEGY, month, provider)."""
        sequence = np.random.SeedSequence(self.seed, spawn_key=(int(purpose), *map(int, keys)))
        return np.random.Generator(np.random.Philox(sequence))

    def uniform(
        self,
        purpose: Purpose,
        month: int,
        size: int | tuple[int, ...],
        *keys: int,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Uniform [0, 1) draws for every agent this month; agent i always reads element i.

        `keys` name a further substream (one of several draws a month, say); `rows` returns
        only those agents' elements (first axis), drawn as part of the full array.
        """
        return self._draw("random", purpose, month, size, keys, rows)

    def exponential(
        self,
        purpose: Purpose,
        month: int,
        size: int | tuple[int, ...],
        *keys: int,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Standard exponential draws for every agent this month, indexed like `uniform`."""
        return self._draw("standard_exponential", purpose, month, size, keys, rows)

    def _draw(
        self,
        law: str,
        purpose: Purpose,
        month: int,
        size: int | tuple[int, ...],
        keys: tuple[int, ...],
        rows: np.ndarray | None,
    ) -> np.ndarray:
        """`law` (a Generator method) for every agent, then the `rows` asked for."""
        draws = getattr(self.generator(purpose, month, *keys), law)(size)
        return draws if rows is None else draws[rows]


def seed_of(rng: int | np.integer | np.random.Generator | None) -> int:
    """The run's integer seed from what a caller passed as `rng` (Mesa's convention).

    An integer is used as it is; a generator gives one draw (so the run is reproducible from
    that generator's state); None draws fresh entropy, as Mesa does.
    """
    if rng is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(2**63))
    return int(rng)
