"""Baseline (a): the developers' choice written per agent, the way Mesa examples write it.

One `PerAgentDeveloper` (a `mesa.Agent`) per developer, holding its own state as plain
Python attributes (region, tastes, switching cost, awareness and access lists, current
choice), and a `step()` that loops over the providers in Python: systematic utility from
its tastes, a Gumbel draw from the model's seeded generator, unavailable providers skipped,
and a switch only if the best alternative beats the current option plus the switching cost.
The model activates them with `AgentSet.do("step")`.

This is the same rule as `tokenmarket.model.demand.choose`; the state is copied from a
`TokenMarket`, so both start from the same population, prices and qualities. Only the
choice is done here (no awareness diffusion, clearing or accounting), so comparing a full
`TokenMarket.step()` against one sweep of this model understates the array model's lead.

Draws (`draws=`):
    "stdlib"  Mesa's `self.random` (a seeded `random.Random`), the faster one.
    "numpy"   Mesa's `self.rng` (a seeded `numpy.random.Generator`), one scalar draw a call.
Either way one uniform U per option, turned into a Gumbel(0, mu) draw as -mu ln(-ln U).
Systematic utility (`utility=`):
    "tastes"  computed per agent and provider from its own tastes (what an example writes).
    "table"   read from a per-cell table the model precomputes (the array model's trick).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from tokenmarket.model.demand import OUTSIDE, price_term

if TYPE_CHECKING:
    from tokenmarket.model.market import TokenMarket

DRAWS = ("stdlib", "numpy")
UTILITIES = ("tastes", "table")
TINY = 5e-324
"""Stands in for a uniform draw of exactly 0, whose log is undefined."""


class PerAgentDeveloper(mesa.Agent):
    """A developer with its own attributes and a Python `step()` over the providers."""

    def __init__(
        self,
        model: PerAgentMarket,
        region: int,
        cell: int,
        alpha: float,
        beta: float,
        gamma: float,
        u0: float,
        switching_cost: float,
        aware: list[bool],
        access: list[bool],
        choice: int,
    ) -> None:
        super().__init__(model)
        self.region = region
        self.cell = cell
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.u0 = u0
        self.switching_cost = switching_cost
        self.aware = aware
        self.access = access
        self.choice = choice

    def step(self) -> None:
        """Review the current choice: best random utility, kept unless it beats the switch."""
        m = self.model
        mu, log = m.mu, math.log
        # One uniform per option from the model's seeded generator; -mu ln(-ln U) is Gumbel.
        rand = self.random.random if m.draws == "stdlib" else self.rng.random
        table = m.v_inside[self.cell] if m.utility == "table" else None
        latency, trust = m.latency_ms[self.region], m.trust[self.region]
        current = self.choice
        current_utility = -math.inf
        best, best_utility = OUTSIDE, -math.inf
        for j in range(m.n_providers):
            if not (m.active[j] and self.aware[j] and self.access[j]):
                continue
            if table is None:
                utility = (
                    self.beta * m.quality[j]
                    - self.alpha * m.price_term[j]
                    - self.gamma * latency[j]
                    + trust[j]
                )
            else:
                utility = table[j]
            utility -= mu * log(-log(rand() or TINY))
            if j == current:
                current_utility = utility
            elif utility > best_utility:
                best, best_utility = j, utility
        if m.utility == "table":
            outside = m.v_outside[self.cell]
        else:
            outside = self.beta * m.outside_quality - self.alpha * m.outside_price_term + self.u0
        outside -= mu * log(-log(rand() or TINY))
        if current == OUTSIDE:
            current_utility = outside
        elif outside > best_utility:
            best, best_utility = OUTSIDE, outside
        if best_utility > current_utility + self.switching_cost:
            self.choice = best


class PerAgentMarket(mesa.Model):
    """The developers of a `TokenMarket`, as per-agent objects; `step()` is one choice sweep."""

    def __init__(
        self,
        source: TokenMarket,
        *,
        rows: np.ndarray | None = None,
        draws: str = "stdlib",
        utility: str = "tastes",
        rng: Any = None,
    ) -> None:
        if draws not in DRAWS or utility not in UTILITIES:
            raise ValueError(f"draws in {DRAWS}, utility in {UTILITIES}")
        super().__init__(rng=rng)
        self.draws, self.utility = draws, utility
        spec, pop = source.spec, source.population
        self.mu = spec.market.mu
        providers = source.provider_list
        self.n_providers = len(providers)
        self.active = [bool(p.active) for p in providers]
        self.quality = [float(p.quality) for p in providers]
        self.price_term = price_term(
            np.array([p.price_usd_per_mtok for p in providers]), spec.market.price_utility
        ).tolist()
        extra = np.array([p.extra_latency_ms for p in providers])
        self.latency_ms = (source.routes.latency_ms(source.steps) + extra).tolist()
        n_regions = source.n_regions
        self.trust = np.where(
            np.arange(n_regions)[:, None] == source.home[None, :],
            spec.market.home_bias_utils,
            0.0,
        ).tolist()
        self.outside_quality = float(source.outside_quality)
        self.outside_price_term = float(
            price_term(
                np.asarray(spec.market.outside_price_usd_per_mtok), spec.market.price_utility
            )
        )
        v_inside, v_outside = source._cell_utilities()
        self.v_inside, self.v_outside = v_inside.tolist(), v_outside.tolist()

        rows = np.arange(pop.size) if rows is None else np.asarray(rows)
        segment = pop.segment[rows]
        self.developers = PerAgentDeveloper.create_agents(
            self,
            rows.size,
            region=pop.region[rows].tolist(),
            cell=pop.cell[rows].tolist(),
            alpha=source.segment_alpha[segment].tolist(),
            beta=source.segment_beta[segment].tolist(),
            gamma=source.segment_gamma[segment].tolist(),
            u0=source.segment_u0[segment].tolist(),
            switching_cost=pop.switching_cost[rows].tolist(),
            aware=pop.aware[rows].tolist(),
            access=pop.access[rows].tolist(),
            choice=pop.choice[rows].tolist(),
        )

    def choices(self) -> np.ndarray:
        """Current choice of every agent, in row order."""
        return np.array([a.choice for a in self.developers])

    def step(self) -> None:
        """One sweep: every developer reviews its choice."""
        self.developers.do("step")
