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

A GPU runs a software stack (`Scenario.platforms`: CUDA, CANN). A model developed and tuned on
one stack runs at a fraction of a GPU's rated throughput on another until it is ported
(`Platform.foreign_efficiency`): DeepSeek's first port of its CUDA-built models to Huawei's
Ascend 910C reached ~60% of an H100 (Feb 2025), while Huawei's own co-designed serving stack
reported ~85% of an H100 per chip on the same model four months later (cal B.4b). Every
per-token quantity of the hardware (capex, power, non-power opex per unit of capacity) divides
by the throughput the provider's model gets, so both the purchase choice and the fleet's bills
see it: a gap of `efficiency` raises the hardware's cost per token by 1 / `efficiency`. Each
month a provider plans on or runs a platform's GPUs it closes `porting_per_month` of the
remaining gap (learning by doing: kernels, quantization and parallelism tuned for the stack;
an exponential approach, the simplest one with a half-life that a source can date). The
choice is myopic, at today's efficiency: a firm does not buy a platform for its future port.

The fleet keeps what it bought: each vintage carries its GPU type (`agents/fleet.py`), so the
power and non-power opex a provider pays are those of its mix of hardware, while its pricing
looks forward at the hardware it buys now (`equip_for_purchase` before decisions,
`equip_fleet` before the month is booked).

Units: GPU price USD; power kW; throughput relative to the reference GPU (dimensionless);
energy per token kWh per Mtok (IT, PUE excluded); efficiency dimensionless, in (0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tokenmarket.model.costs import HOURS_PER_MONTH

if TYPE_CHECKING:
    from tokenmarket.agents.provider import Provider
    from tokenmarket.model.schema import GpuType, Scenario
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
    platform: list[str | None]
    """Software stack of each type; None: one every model runs at full throughput."""
    efficiency: np.ndarray
    """[provider, type]: throughput its model gets on the type over the type's rated
    throughput; 1 on its own platform, the platform's foreign efficiency until ported."""
    porting: np.ndarray
    """Share of the remaining gap closed a month on each type's platform."""
    barred: np.ndarray
    """[home, type]: True where firms of that home may not buy the type anywhere."""

    @classmethod
    def of(cls, spec: Scenario) -> GpuMarket | None:
        """The scenario's compute market; None when it lists no GPUs (own hardware)."""
        if not spec.gpus:
            return None
        names = spec.region_names
        stacks = {p.name: p for p in spec.platforms}

        def start(native: str | None, gpu: GpuType) -> float:
            if gpu.platform is None or gpu.platform == (native or spec.gpus[0].platform):
                return 1.0
            return stacks[gpu.platform].foreign_efficiency

        return cls(
            names=[g.name for g in spec.gpus],
            price_usd=np.array([g.price_usd for g in spec.gpus]),
            kw=np.array([g.kw for g in spec.gpus]),
            throughput=np.array([g.relative_throughput for g in spec.gpus]),
            allowed=np.array(
                [[g.regions is None or r in g.regions for g in spec.gpus] for r in names]
            ),
            platform=[g.platform for g in spec.gpus],
            efficiency=np.array(
                [[start(p.platform, g) for g in spec.gpus] for p in spec.all_providers]
            ),
            porting=np.array(
                [stacks[g.platform].porting_per_month if g.platform else 0.0 for g in spec.gpus]
            ),
            barred=np.array([[r in g.barred_homes for g in spec.gpus] for r in names]),
        )

    def set_access(self, region: int, gpu: str, allowed: bool) -> None:
        """Open or close one region's access to one GPU type (a `gpu_access` shock)."""
        self.allowed[region, self.names.index(gpu)] = allowed

    def throughput_for(self, provider: Buyer) -> np.ndarray:
        """Throughput the provider's model gets on each type, relative to the reference GPU."""
        return self.throughput * self.efficiency[provider.index]

    def energy_ratio(self, provider: Buyer) -> np.ndarray:
        """The provider's IT energy per token on each type over the reference GPU's (rated).

        (kW / throughput its model gets) / kW_ref.
        """
        return self.kw / self.throughput_for(provider) / self.kw[0]

    def monthly_cost_per_throughput(self, provider: Buyer) -> np.ndarray:
        """USD a month per unit of reference throughput of each type, for this provider.

        Amortized price plus non-power opex plus power at the provider's target utilization
        (idle servers draw `phi` of full power), over the throughput the provider's model gets
        on the type (its relative throughput times the model's efficiency there); learning
        discounts (the same for every type) leave the ranking unchanged and are left out.
        """
        u = provider.strategy.params.target_utilization
        load = provider.idle_power_fraction + (1.0 - provider.idle_power_fraction) * u
        power = provider.electricity_usd_per_kwh * provider.pue * self.kw * HOURS_PER_MONTH * load
        per_unit = (
            self.price_usd / provider.amortization_months + provider.opex_usd_per_gpu_month + power
        )
        return per_unit / self.throughput_for(provider)

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
        provider.energy_kwh_per_mtok = provider.compute_per_token * float(
            self.energy_ratio(provider)[gpu]
        )

    def equip_fleet(self, provider: Buyer, step: int) -> np.ndarray:
        """Set the provider's hardware to its fleet's mix in service at `step`: the cost it pays.

        Energy per token is the capacity-weighted mean over the types in service; the power per
        GPU is the GPU-count-weighted mean, so that non-power opex per GPU is paid per GPU of
        each type. Without capacity the hardware it buys stands in. Returns the types it works
        on this month (in service, or the type it buys now): where its firm ports (`port`).
        """
        capacity = provider.fleet.capacity_by_gpu(step, len(self.names))
        if capacity.sum() > 0:
            energy = provider.compute_per_token * self.energy_ratio(provider)
            gpus = capacity * energy / self.kw
            """Units of each type in service, up to a common factor (Mtok x kWh/Mtok / kW)."""
            provider.energy_kwh_per_mtok = float(capacity @ energy / capacity.sum())
            provider.gpu_kw = float(gpus @ self.kw / gpus.sum())
        working = capacity > 0
        working[provider.gpu] = True
        return working

    def port(self, provider: Provider, working: np.ndarray) -> None:
        """A month of porting work by the provider's firm on the platforms it works on.

        `working`: the types it runs or buys now, at home or at any of its sites (one model,
        one porting effort a month, wherever it runs). On each of their platforms, close
        `porting` of the gap to its native efficiency: next month's efficiency; installed
        capacity (Mtok) is not revalued, its energy and opex per token fall.
        """
        stacks = {self.platform[g] for g in np.flatnonzero(working)}
        on = np.array([s is not None and s in stacks for s in self.platform])
        row = self.efficiency[provider.index]
        row[on] += self.porting[on] * (1.0 - row[on])
