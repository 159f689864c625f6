"""Developer: a team or firm buying tokens through an API, or doing without one.

The population's choice is computed for everyone at once on the model's arrays
(`TokenMarket.population`); a Developer agent is a window onto its own row, so Mesa's tools,
the app and a curious student can look at developers one by one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from tokenmarket.model.demand import OUTSIDE

if TYPE_CHECKING:
    from tokenmarket.agents.provider import Provider
    from tokenmarket.model.market import TokenMarket


class Developer(mesa.Agent):
    """One row of the population: reads (and is) its state in the model's arrays."""

    def __init__(self, model: TokenMarket, row: int) -> None:
        super().__init__(model)
        self.row = row

    @property
    def region(self) -> str:
        """Name of the developer's region."""
        return self.model.spec.regions[self.model.population.region[self.row]].name

    @property
    def segment(self) -> str:
        """Name of the developer's segment."""
        return self.model.spec.segments[self.model.population.segment[self.row]].name

    @property
    def demand_mtok(self) -> float:
        """Monthly Mtok: tasks x its segment's tokens per task at the start.

        Before the tier's tokens-per-task factor and the intensive-margin response.
        """
        return float(self.model.population.base_demand_mtok[self.row])

    @property
    def switching_cost(self) -> float:
        """Switching cost in utils."""
        return float(self.model.population.switching_cost[self.row])

    @property
    def provider(self) -> Provider | None:
        """The current provider (the owner of its product), or None for the outside option."""
        choice = int(self.model.population.choice[self.row])
        if choice == OUTSIDE:
            return None
        return self.model.provider_list[self.model.product_provider[choice]]

    @property
    def tier(self) -> str | None:
        """Name of the current tier of its provider, or None for the outside option."""
        choice = int(self.model.population.choice[self.row])
        return None if choice == OUTSIDE else self.model.product_names[choice][1]

    @property
    def choice_set(self) -> list[Provider]:
        """Active providers this developer knows of and may use."""
        pop, row = self.model.population, self.row
        return [
            p
            for p in self.model.provider_list
            if p.active and pop.aware[row, p.index] and pop.access[row, p.index]
        ]
