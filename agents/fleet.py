"""A provider's capacity in vintages: memory and time set by the orders, not by the lifetime.

The initial fleet is `life` equal vintages, one retiring each month, so it is held as one
cohort (a count and the per-vintage figures) instead of one object per month of life; the
orders placed during the run (at most one a month, plus the pipeline at the start) are kept
one by one. A lifetime of 10^8 months thus costs what 48 months cost
(benchmarks/bench_fleet.py measures it). Sums are exact-rounded (`math.fsum`), so they do not
depend on the order the vintages were placed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from tokenmarket.model import costs


@dataclass(slots=True)
class Vintage:
    """Capacity ordered together: in service from `arrival_step`, retired at `retire_step`."""

    capacity_mtok: float
    amortization_usd_per_month: float
    arrival_step: int
    retire_step: int
    gpu: int = 0
    """GPU type it runs on (`model/compute.py`; 0 without a compute market)."""


@dataclass(slots=True)
class Fleet:
    """The vintages of one provider: an initial cohort plus the orders placed since.

    The cohort is `life` vintages of `cohort_capacity_mtok` each, in service from
    `start_step`, the r-th of them (r = 1..life) retired at step start_step + r + 1: an
    existing fleet whose ages are spread evenly over its life, so that retirements are smooth.
    """

    life: int = 0
    start_step: int = 0
    cohort_capacity_mtok: float = 0.0
    cohort_amortization_usd_per_month: float = 0.0
    orders: list[Vintage] = field(default_factory=list)
    cohort_gpu: int = 0
    """GPU type of the initial cohort (`model/compute.py`)."""

    def _cohort_count(self, step: int) -> int:
        """Vintages of the initial cohort still in service at `step`."""
        return max(0, self.life - max(1, step - self.start_step) + 1)

    def _total(self, step: int, per_cohort_vintage: float, attribute: str) -> float:
        """Sum of `attribute` over the vintages in service at `step`."""
        terms = [
            getattr(v, attribute) for v in self.orders if v.arrival_step <= step < v.retire_step
        ]
        return math.fsum([per_cohort_vintage * self._cohort_count(step), *terms])

    def capacity_mtok(self, step: int) -> float:
        """Capacity in service at `step` (Mtok/month), counting what is already ordered."""
        return self._total(step, self.cohort_capacity_mtok, "capacity_mtok")

    def amortization_usd_per_month(self, step: int) -> float:
        """Capex amortization of the vintages in service at `step` (USD/month)."""
        return self._total(
            step, self.cohort_amortization_usd_per_month, "amortization_usd_per_month"
        )

    def capacity_by_gpu(self, step: int, n_gpus: int) -> np.ndarray:
        """Capacity in service at `step` (Mtok/month) by GPU type: the fleet's hardware mix."""
        by_gpu = np.zeros(n_gpus)
        by_gpu[self.cohort_gpu] = self.cohort_capacity_mtok * self._cohort_count(step)
        for v in self.orders:
            if v.arrival_step <= step < v.retire_step:
                by_gpu[v.gpu] += v.capacity_mtok
        return by_gpu

    def retire(self, step: int) -> None:
        """Forget the orders past their life at `step` (the cohort retires by its count)."""
        self.orders = [v for v in self.orders if v.retire_step > step]


class Learner(Protocol):
    """What a learning curve reads: a firm's cumulative output and the output it is scaled by."""

    cumulative_served_mtok: float
    reference_output_mtok: float


class CostStack:
    """The energy -> compute -> token cost chain of one pool of capacity, and its month's bill.

    A provider's home capacity (`agents/provider.py`) and each of its sites abroad
    (`model/sites.py`) are one each: the same formulas (`model/costs.py`) at their own power
    price, PUE and hardware, so a site's costs follow its host region's, not its owner's.
    """

    model: Any
    fleet: Fleet
    own_electricity_usd_per_kwh: float
    """Power price before the carbon price of `cost_region`, USD/kWh."""
    cost_region: int
    """Region whose carbon price it pays: where its servers draw power."""
    pue: float
    idle_power_fraction: float
    energy_kwh_per_mtok: float
    gpu_price_usd: float
    gpu_kw: float
    opex_usd_per_gpu_month: float
    amortization_months: int
    gpu: int
    """GPU type it buys now (`model/compute.py`)."""
    learner: Learner
    """The firm whose output moves its learning curve: the provider, wherever it serves."""

    @property
    def electricity_usd_per_kwh(self) -> float:
        """Power price paid, the carbon price of its region included."""
        return self.own_electricity_usd_per_kwh + self.model.carbon_usd_per_kwh[self.cost_region]

    @property
    def capex_per_unit_usd(self) -> float:
        """Hardware cost of one Mtok/month of capacity bought now (learning curve applied)."""
        base = costs.per_unit_of_capacity(self.gpu_price_usd, self.gpu_kw, self.energy_kwh_per_mtok)
        factor = costs.learning_factor(
            self.learner.cumulative_served_mtok,
            self.learner.reference_output_mtok,
            self.model.spec.market.learning_rate,
        )
        return float(base * factor)

    @property
    def opex_per_unit_usd(self) -> float:
        """Non-power opex per Mtok/month of capacity, from the per-GPU figure."""
        return float(
            costs.per_unit_of_capacity(
                self.opex_usd_per_gpu_month, self.gpu_kw, self.energy_kwh_per_mtok
            )
        )

    @property
    def marginal_cost_usd_per_mtok(self) -> float:
        """Load-dependent power cost of one more Mtok."""
        return float(
            costs.marginal_cost(
                self.electricity_usd_per_kwh,
                self.pue,
                self.energy_kwh_per_mtok,
                self.idle_power_fraction,
            )
        )

    def unit_cost(
        self, utilization: float, fixed_usd_per_month: float = 0.0, capacity_mtok: float = 1.0
    ) -> float:
        """Cost per Mtok served at `utilization` (USD/Mtok, `model/costs.py`).

        Power, capex and opex per unit, plus `fixed_usd_per_month` spread over `capacity_mtok`.
        """
        return float(
            costs.average_cost(
                utilization,
                price_usd_per_kwh=self.electricity_usd_per_kwh,
                pue=self.pue,
                energy_kwh_per_mtok=self.energy_kwh_per_mtok,
                idle_power_fraction=self.idle_power_fraction,
                capex_per_unit_usd=self.capex_per_unit_usd,
                amortization_months=self.amortization_months,
                opex_per_unit_usd=self.opex_per_unit_usd,
                opex_fixed_usd_per_month=fixed_usd_per_month,
                capacity_mtok=capacity_mtok,
            )
        )

    def bill(self, capacity_mtok: float, served_mtok: float) -> tuple[float, float, float, float]:
        """The month's (energy kWh, electricity USD, capex amortization USD, opex per unit USD)."""
        energy = float(
            costs.energy_kwh(
                self.pue,
                self.energy_kwh_per_mtok,
                self.idle_power_fraction,
                capacity_mtok,
                served_mtok,
            )
        )
        return (
            energy,
            self.electricity_usd_per_kwh * energy,
            self.fleet.amortization_usd_per_month(self.model.steps),
            self.opex_per_unit_usd * capacity_mtok,
        )
