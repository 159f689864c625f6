"""Sites: a provider's capacity abroad, and going global as investment rather than export.

A provider serves from home (its own fleet, `agents/provider.py`) and from the sites abroad it
has built (`Scenario.sites`). It keeps one product line: a site adds capacity and a nearer
route, not an option of its own in the developers' logit (a duplicate option would raise the
firm's share by the independence of irrelevant alternatives, not by anything a developer
gains). Each site is a pool of capacity with its own fleet of vintages and the costs of
where it stands (`agents/fleet.CostStack`): its host region's power price and carbon price,
its facility's PUE, and the GPUs a firm of its owner's home may buy *there*
(`model/compute.py`). So building abroad is how a firm under export controls at home reaches
a GPU its home may not buy, unless the rule follows the owner (`GpuType.barred_homes`: the
US rule of October 2023 covers firms headquartered in China wherever they build).

Demand and supply in space:
- developers see the latency of the firm's nearest open site, or of a PoP, whichever is
  faster (`model/networks.Routes`);
- a month's served load is allocated to sites nearest-first: (developer region, location)
  pairs in order of latency, each filling what is left of the region's load and of the
  location's capacity (`allocate`); home takes what rounding leaves. The greedy order is
  the rule of a content-delivery network (serve each user from the nearest replica with
  room), not a cost optimum;
- new capacity follows demand: each site gets what it lacks of its nearest developers'
  share of the firm's capacity (`Provider._placed`).

Access (`Scenario.access`) stays by the provider's home, wherever its tokens are served:
the rules behind it (bans of a firm's app or API, enterprise compliance lists, sanctions)
name the firm, not its servers. A local site is not made domestic by this model; what it
changes is latency, cost and GPUs. Tokens are reported by developer region, provider home
and site region (`TokenMarket.flow_frame`): a home region's tokens served abroad are
export when served from home, investment when served from a site abroad.

The build decision (`SiteOption.value`) is an investment rule like entry's
(`model/entry.py`): a firm builds when the present value of what the site adds, from its
opening on, covers its sunk cost `market.entry_hurdle` times over (Dixit & Pindyck 1994,
ch. 5), the host permits it (`Scenario.site_permission`, drawn once per site and run), and
its cash and credit can pay for it. What the site adds each month, at the prices and logit
choice probabilities of now (static expectations, as an entrant's):
- demand: developers for whom the site is nearer than the firm's present routes gain
  gamma x (latency saved) utils on every tier of the firm; their expected load rises from
  w / W to w e^du / (W - w + w e^du), valued at price less the site's unit cost;
- cost: the load of the regions it would become nearest to moves there, at the difference
  between home's unit cost and the site's (negative where power or GPUs cost more abroad);
- less its fixed cost of running. That monthly gain, as a growing perpetuity
  (`finance.terminal_value`), discounted over its lead time, is the site's value.

Units: Mtok of the provider's reference model a month; USD; ms; months.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tokenmarket.agents.fleet import CostStack, Fleet
from tokenmarket.model import finance

if TYPE_CHECKING:
    from tokenmarket.agents.provider import Provider
    from tokenmarket.agents.strategies import Strategy
    from tokenmarket.model.schema import Scenario, SiteSpec


class Site(CostStack):
    """A provider's data center abroad: capacity at its host region's costs.

    Its firm-wide traits (idle power, hardware life, non-power opex per GPU, compute per
    token, learning) are its owner's; what depends on the place is its own.
    """

    def __init__(self, owner: Provider, option: SiteOption, ordered_step: int) -> None:
        model = owner.model
        scenario = model.spec
        spec, region = option.spec, option.region
        self.model = model
        self.owner = owner
        self.spec = spec
        self.region = region
        self.cost_region = region
        self.latency_ms = option.latency_ms
        """Round trip from each developer region to it (ms)."""
        self.home = owner.home
        """Its owner's home: what a GPU's headquarters rule looks at (`model/compute.py`)."""
        self.open_step = (
            spec.open_step if spec.open_step is not None else ordered_step + spec.lead_months
        )
        """First month it can serve: its history's date, or its order plus its lead time."""
        self.own_electricity_usd_per_kwh = (
            spec.electricity_usd_per_kwh or scenario.regions[region].electricity_usd_per_kwh
        ) * model.power_price_factor[region]
        self.pue = spec.pue or owner.pue
        self.idle_power_fraction = owner.idle_power_fraction
        self.amortization_months = owner.amortization_months
        self.opex_usd_per_gpu_month = owner.opex_usd_per_gpu_month
        self.learner = owner
        self.opex_fixed_usd_per_month = spec.opex_fixed_usd_per_month
        self.gpu, self.gpu_price_usd, self.gpu_kw = owner.gpu, owner.gpu_price_usd, owner.gpu_kw
        self.energy_kwh_per_mtok = owner.energy_kwh_per_mtok
        """Hardware: its owner's until the compute market equips it for its own region."""
        self.fleet = Fleet()
        self.preferred_share = 0.0
        """Share of its owner's load whose developers are nearest to it (`Provider._placed`)."""
        self.capacity_mtok = self.served_mtok = self.energy_kwh = 0.0
        self.electricity_usd = self.capex_usd = self.opex_usd = 0.0

    @property
    def index(self) -> int:
        """Its owner's index: the model it runs is its owner's (its platform efficiency too)."""
        return self.owner.index

    @property
    def strategy(self) -> Strategy:
        """Its owner's strategy (its target utilization sets the GPU a site buys)."""
        return self.owner.strategy

    @property
    def compute_per_token(self) -> float:
        """Compute per token of the model it serves: its owner's."""
        return self.owner.compute_per_token

    def update_capacity(self) -> None:
        """Put arrived vintages in service and retire those past their life."""
        self.fleet.retire(self.model.steps)
        self.capacity_mtok = self.fleet.capacity_mtok(self.model.steps)

    def settle(self, served_mtok: float) -> None:
        """Book its month: energy and each cost line at its own prices; fixed cost once open."""
        self.served_mtok = served_mtok
        self.energy_kwh, self.electricity_usd, self.capex_usd, variable = self.bill(
            self.capacity_mtok, served_mtok
        )
        fixed = self.opex_fixed_usd_per_month if self.model.steps >= self.open_step else 0.0
        self.opex_usd = fixed + variable

    def close(self) -> None:
        """Its owner left: capacity written off, no further flows."""
        self.fleet = Fleet()
        self.capacity_mtok = self.served_mtok = self.energy_kwh = 0.0
        self.electricity_usd = self.capex_usd = self.opex_usd = 0.0


@dataclass(slots=True)
class SiteOption:
    """A site a provider may build: its terms, where, and whether the host permits it."""

    spec: SiteSpec
    provider: int
    region: int
    latency_ms: np.ndarray
    """Round trip from each developer region to it (ms): the public route to its region,
    its own figure (or the region's own round trip) from the region itself."""
    permitted: bool

    def order_step(self) -> int | None:
        """Month a dated site is ordered (its lead time before opening, from month 1)."""
        if self.spec.open_step is None:
            return None
        return max(1, self.spec.open_step - self.spec.lead_months)


def options(spec: Scenario, permission_draw: np.ndarray) -> list[SiteOption]:
    """The scenario's sites, in its order; `permission_draw` is one uniform per site."""
    names = spec.region_names
    providers = [p.name for p in spec.all_providers]
    homes = {p.name: p.home for p in spec.all_providers}
    public_ms = spec.latency_matrix()
    out = []
    for site, u in zip(spec.sites, permission_draw, strict=True):
        r = names.index(site.region)
        latency = public_ms[:, r].copy()
        latency[r] = site.latency_ms if site.latency_ms is not None else public_ms[r, r]
        permission = spec.site_permission.get(site.region, {}).get(homes[site.provider], 1.0)
        out.append(
            SiteOption(
                spec=site,
                provider=providers.index(site.provider),
                region=r,
                latency_ms=latency,
                permitted=site.open_step is not None or bool(u < permission),
            )
        )
    return out


def allocate(
    load_mtok: np.ndarray, capacity_mtok: np.ndarray, latency_ms: np.ndarray
) -> np.ndarray:
    """Served load by (developer region, location), nearest first; home is location 0.

    `load_mtok[r]` is the load served to region r's developers, `capacity_mtok[k]` location
    k's, `latency_ms[r, k]` the round trip between them. Pairs are taken in order of latency
    (ties: the location listed first, home), each filling what is left of both. What
    rounding leaves goes home, so the rows sum to `load_mtok` exactly as allocated.
    """
    left_load, left_capacity = load_mtok.astype(float), capacity_mtok.astype(float)
    served = np.zeros(latency_ms.shape)
    for flat in np.argsort(latency_ms, axis=None, kind="stable"):
        r, k = divmod(int(flat), latency_ms.shape[1])
        amount = min(left_load[r], left_capacity[k])
        if amount > 0:
            served[r, k] += amount
            left_load[r] -= amount
            left_capacity[k] -= amount
    served[:, 0] += np.maximum(left_load, 0.0)
    return served


def nearest_shares(load_mtok: np.ndarray, latency_ms: np.ndarray) -> np.ndarray:
    """Share of the load whose developers are nearest to each location (ties: listed first)."""
    nearest = np.argmin(latency_ms, axis=1)
    by_location = np.bincount(nearest, weights=load_mtok, minlength=latency_ms.shape[1])
    total = load_mtok.sum()
    return by_location / total if total > 0 else np.eye(latency_ms.shape[1])[0]


def value_usd(
    monthly_gain_usd: float, lead_months: int, discount_per_year: float, growth_per_year: float
) -> float:
    """Present value now of a monthly gain from `lead_months` on, as a growing perpetuity.

    Floored at zero as `finance.terminal_value` is: a site that would lose money is worth
    nothing to a firm that need not build it.
    """
    perpetuity = finance.terminal_value([monthly_gain_usd], discount_per_year, growth_per_year)
    return perpetuity * (1.0 + finance.monthly_rate(discount_per_year)) ** -lead_months
