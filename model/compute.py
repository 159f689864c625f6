"""Compute as a market: GPU types, who may buy which, and what each provider buys.

A scenario may list GPU types (`Scenario.gpus`): all-in price (USD per unit), IT power (kW
per unit, host included) and throughput relative to the reference GPU, the first listed, on
which every provider's compute per token is measured (`model/frontier.py`). A GPU type may
be sold only in some regions, and `gpu_access` shocks open or close a region's access to a
type (export controls, and a region's own purchase rules). Each month a provider buys the
type, among those its home may buy, with the lowest monthly cost per unit of reference
throughput at its own power price, PUE, idle fraction, target utilization, life and non-power
opex: the cost-minimizing choice of a firm that takes hardware prices as given. Controls then
act through cost and efficiency, not a cap on capacity: a provider cut off from the best GPU
buys a worse one, pays more per token for new capacity and, since strategies price off the
full cost of the hardware they buy, posts higher prices (Leontief cost minimization with one
input chosen among substitutes; the mechanism of the H20 licence of April 2025, which moved
Chinese buyers to domestic accelerators with ~60% of an H100's inference throughput).

The fleet keeps what it bought: each vintage carries its GPU type (`agents/fleet.py`), so the
power and non-power opex a provider pays are those of its mix of hardware, while its pricing
looks forward at the hardware it buys now (`equip_for_purchase` before decisions,
`equip_fleet` before the month is booked).

Units: GPU price USD; power kW; throughput relative to the reference GPU (dimensionless);
energy per token kWh per Mtok (IT, PUE excluded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tokenmarket.model.costs import HOURS_PER_MONTH

if TYPE_CHECKING:
    from tokenmarket.agents.provider import Provider
    from tokenmarket.model.schema import Scenario
    from tokenmarket.model.sites import Site

    type Buyer = Provider | Site
    """Who buys GPUs: a provider for its home capacity, or one of its sites abroad."""


@dataclass(slots=True)
class GpuMarket:
    """The GPU types on sale and, by region, which of them may be bought."""

    names: list[str]
    price_usd: np.ndarray
    """All-in capex per unit (card plus its share of servers, network, building), by type."""
    kw: np.ndarray
    """IT power per unit at full load, host included, by type."""
    throughput: np.ndarray
    """Tokens per second relative to the reference GPU (the first type), by type."""
    allowed: np.ndarray
    """[region, type]: True where the region's providers may buy the type."""
    barred: np.ndarray
    """[home, type]: True where firms of that home may not buy the type anywhere."""

    @classmethod
    def of(cls, spec: Scenario) -> GpuMarket | None:
        """The scenario's compute market; None when it lists no GPUs (own hardware)."""
        if not spec.gpus:
            return None
        names = spec.region_names
        return cls(
            names=[g.name for g in spec.gpus],
            price_usd=np.array([g.price_usd for g in spec.gpus]),
            kw=np.array([g.kw for g in spec.gpus]),
            throughput=np.array([g.relative_throughput for g in spec.gpus]),
            allowed=np.array(
                [[g.regions is None or r in g.regions for g in spec.gpus] for r in names]
            ),
            barred=np.array([[r in g.barred_homes for g in spec.gpus] for r in names]),
        )

    def set_access(self, region: int, gpu: str, allowed: bool) -> None:
        """Open or close one region's access to one GPU type (a `gpu_access` shock)."""
        self.allowed[region, self.names.index(gpu)] = allowed

    def energy_ratio(self, gpu: int | np.ndarray) -> float | np.ndarray:
        """IT energy per token on `gpu` over the reference GPU's: (kW / throughput) / kW_ref."""
        return self.kw[gpu] / self.throughput[gpu] / self.kw[0]

    def monthly_cost_per_throughput(self, provider: Buyer) -> np.ndarray:
        """USD a month per unit of reference throughput of each type, for this provider.

        Amortized price plus non-power opex plus power at the provider's target utilization
        (idle servers draw `phi` of full power), over the type's relative throughput; learning
        discounts (the same for every type) leave the ranking unchanged and are left out.
        """
        u = provider.strategy.params.target_utilization
        load = provider.idle_power_fraction + (1.0 - provider.idle_power_fraction) * u
        power = provider.electricity_usd_per_kwh * provider.pue * self.kw * HOURS_PER_MONTH * load
        per_unit = (
            self.price_usd / provider.amortization_months + provider.opex_usd_per_gpu_month + power
        )
        return per_unit / self.throughput

    def best(self, provider: Buyer, region: int | None = None) -> int:
        """The cheapest type per unit of throughput among those it may buy where it builds.

        `region`: where the capacity stands (default: the provider's home); a type must be
        sold there and not barred to firms of the buyer's home (`barred`). Ties go to the
        type listed first. The scenario guarantees every home, and every site, may buy one.
        """
        where = provider.home if region is None else region
        may_buy = self.allowed[where] & ~self.barred[provider.home]
        cost = np.where(may_buy, self.monthly_cost_per_throughput(provider), np.inf)
        return int(np.argmin(cost))

    def equip_for_purchase(self, provider: Buyer, region: int | None = None) -> None:
        """Set the provider's hardware to the best GPU it may buy now: the cost it plans on.

        Capex and non-power opex per unit of capacity, marginal and average cost then follow
        from the GPU's price, power and throughput through `model/costs.py` unchanged.
        """
        gpu = self.best(provider, region)
        provider.gpu = gpu
        provider.gpu_price_usd = float(self.price_usd[gpu])
        provider.gpu_kw = float(self.kw[gpu])
        provider.energy_kwh_per_mtok = provider.compute_per_token * float(self.energy_ratio(gpu))

    def equip_fleet(self, provider: Buyer, step: int) -> None:
        """Set the provider's hardware to its fleet's mix in service at `step`: the cost it pays.

        Energy per token is the capacity-weighted mean over the types in service; the power per
        GPU is the GPU-count-weighted mean, so that non-power opex per GPU is paid per GPU of
        each type. Without capacity the hardware it buys stands in.
        """
        capacity = provider.fleet.capacity_by_gpu(step, len(self.names))
        if capacity.sum() <= 0:
            return
        energy = provider.compute_per_token * self.energy_ratio(np.arange(len(self.names)))
        gpus = capacity * energy / self.kw
        """Units of each type in service, up to a common factor (Mtok x kWh/Mtok / kW)."""
        provider.energy_kwh_per_mtok = float(capacity @ energy / capacity.sum())
        provider.gpu_kw = float(gpus @ self.kw / gpus.sum())
