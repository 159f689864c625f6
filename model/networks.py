"""Networks: points of presence and cross-border links that cut latency, bought at a price.

Without them a developer in region r reaches provider i over the public route to i's home,
`latency_ms[r, home_i]`. A point of presence (`Scenario.pops`) is bought by a provider from
a network operator at a monthly price (a scenario input): from its month on, developers in its
region reach the provider in `latency_ms` of the PoP — edge termination plus the operator's
backbone or a premium cross-border line (the seed article's "midstream" network companies;
China Telecom's CN2-class lines against the public bottleneck measured by Zhu et al.,
SIGMETRICS 2020, cal B.8). A network operator's line (`Scenario.links`) is sold at its price
to every provider of a home: one PoP per provider. A route is the faster of the two, so a PoP
never makes anyone slower. Its price is a fixed cost of the provider, added to its fixed opex
from the month it is bought, so its pricing covers it (a lump sum per month, not per token: a
leased line or a colocated edge is paid whether used or not).

A site abroad (`model/sites.py`) is a third route: from its opening month, developers reach
the provider at the site's latency (its host region's developers at the site's own round
trip, others over the public route to its host), so a provider's latency from a region is
that of its nearest open site, PoP or home.

Units: ms (round trip); USD per month.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tokenmarket.model.schema import PopSpec

if TYPE_CHECKING:
    from tokenmarket.agents.provider import Provider
    from tokenmarket.model.schema import Scenario


class Routes:
    """Latency from each developer region to each provider, with the PoPs bought so far."""

    def __init__(self, spec: Scenario, home: np.ndarray) -> None:
        names = spec.region_names
        providers = [p.name for p in spec.all_providers]
        self.public_ms = spec.latency_matrix()[:, home]
        """[developer region, provider]: the public route to the provider's home."""
        pops = spec.pops + [
            PopSpec(provider=p.name, **link.model_dump(exclude={"home"}))
            for link in spec.links
            for p in spec.all_providers
            if p.home == link.home
        ]
        self.pop_provider = np.array([providers.index(p.provider) for p in pops], dtype=int)
        self.pop_region = np.array([names.index(p.region) for p in pops], dtype=int)
        self.pop_step = np.array([p.step for p in pops], dtype=int)
        self.pop_ms = np.array([p.latency_ms for p in pops], dtype=float)
        self.pop_usd_per_month = np.array([p.usd_per_month for p in pops], dtype=float)
        self.site_routes: list[tuple[int, int, np.ndarray]] = []
        """(provider, opening month, latency from each developer region) of each site built."""

    def add_site(self, provider: int, open_step: int, latency_ms: np.ndarray) -> None:
        """A site of `provider`, serving from `open_step` at `latency_ms` by developer region."""
        self.site_routes.append((provider, open_step, latency_ms))

    def latency_ms(self, step: int) -> np.ndarray:
        """[developer region, provider] in ms at `step`: the fastest of home, PoPs and sites."""
        latency = self.public_ms.copy()
        bought = self.pop_step <= step
        np.minimum.at(
            latency, (self.pop_region[bought], self.pop_provider[bought]), self.pop_ms[bought]
        )
        for provider, open_step, site_ms in self.site_routes:
            if open_step <= step:
                np.minimum(latency[:, provider], site_ms, out=latency[:, provider])
        return latency

    def buy(self, providers: list[Provider], step: int) -> None:
        """The PoPs of month `step`: each adds its monthly price to its provider's fixed opex."""
        for k in np.flatnonzero(self.pop_step == step):
            providers[self.pop_provider[k]].opex_fixed_usd_per_month += float(
                self.pop_usd_per_month[k]
            )
