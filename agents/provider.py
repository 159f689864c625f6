"""Provider: a firm that turns electricity into compute and compute into tokens sold by API."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

import mesa
import numpy as np

from tokenmarket.agents.fleet import CostStack, Fleet, Vintage
from tokenmarket.model import costs, finance, frontier
from tokenmarket.model.random import Purpose, key_of
from tokenmarket.model.schema import FLOOR

if TYPE_CHECKING:
    from tokenmarket.agents.strategies import MarketView, Strategy
    from tokenmarket.model.market import TokenMarket
    from tokenmarket.model.schema import ProviderSpec
    from tokenmarket.model.sites import Site

TRAILING_MONTHS = 12
"""Window of the histories behind the credit limit, the terminal value and the exit forecast."""
GROWTH_BOUNDS = (-0.1, 0.15)
"""Monthly demand growth a firm will plan capacity for: a one-month spike (a viral release)
compounded over the lead time would otherwise order many times the market."""


class Provider(CostStack, mesa.Agent):
    """A token seller with a cost stack, a capacity pipeline, cash and a strategy.

    State is last month's outcome until `settle` books the new month; everything the
    DataCollector reads is a plain attribute or property with its unit in the name.

    It sells a line of tiers (`spec.tiers`; one, its reference model, by default). Its cost
    stack, capacity, demand and output are in Mtok of the reference model: a tier at compute
    share s needs s of the energy, GPU time and so capex and opex per token, so a token of it
    uses s of a unit of capacity. The strategy prices the reference model; a tier's price is
    that price times s (`tier_prices`), the same markup over unit cost on every tier — what
    a multi-product firm facing logit demand with one price coefficient sets: with log-price
    utility the profit-maximizing p/c is common to all its products, with linear utility
    p - c is (Anderson, de Palma & Thisse 1992, ch. 7; Konovalov & Sandor 2010, Economic
    Theory 44). Revenue is then price x served Mtok of the reference model, as for one model.

    Its capacity may sit at home (its own `fleet` and cost stack) and at sites abroad
    (`sites`, `model/sites.py`), each at its region's costs; its month's cost lines are their
    sum. Its strategy prices off the home cost stack (`average_cost`), the firm's reference.
    """

    def __init__(
        self,
        model: TokenMarket,
        spec: ProviderSpec,
        index: int,
        home: int,
        strategy: Strategy,
        electricity_usd_per_kwh: float,
    ) -> None:
        super().__init__(model)
        self.spec = spec
        self.name = spec.name
        self.index = index
        """Position on every provider axis of the model's arrays."""
        self.key = key_of(spec.name)
        """Its random streams' key (`model.random.key_of`): stable when providers enter."""
        self.home = home
        self.cost_region = home
        """Its home capacity draws power at home (sites abroad: `model/sites.py`)."""
        self.region = spec.home
        self.strategy = strategy
        self.open_weights = spec.open_weights
        self.compute_per_token = spec.energy_kwh_per_mtok
        """Compute per token of its reference model, in kWh/Mtok on the scenario's starting
        hardware (`model/frontier.py`); hardware shocks change the energy per token, not this."""
        self.tiers = spec.tier_list
        """The models it sells (products): each at `compute_share` of the reference compute."""
        self.compute_share = np.array([t.compute_share for t in self.tiers])
        self.capability = 0.0
        """Where its frontier sits: quality = capability + slope ln(compute per token)."""
        self.quality = spec.quality
        self.price_usd_per_mtok = spec.price_usd_per_mtok
        self.scarcity_premium = 1.0
        """Posted price over the strategy's target price: the scarcity premium it remembers."""
        self.own_electricity_usd_per_kwh = electricity_usd_per_kwh
        self.energy_kwh_per_mtok = spec.energy_kwh_per_mtok
        self.idle_power_fraction = spec.idle_power_fraction
        self.pue = spec.pue
        self.amortization_months = spec.amortization_months
        self.opex_fixed_usd_per_month = spec.opex_fixed_usd_per_month
        self.gpu_price_usd = spec.gpu_price_usd or 0.0
        self.gpu_kw = spec.gpu_kw or 1.0
        """Its own hardware; with a compute market these are set from the GPU it buys."""
        self.opex_usd_per_gpu_month = spec.opex_usd_per_gpu_month
        self.gpu = 0
        """GPU type it buys in the scenario's compute market (`model/compute.py`), which also
        sets the hardware fields above; 0, and its own hardware, without one."""
        self.cash_usd = spec.cash_usd
        self.lead_months = model.spec.market.capacity_lead_months
        self.active = True
        self.entry_step = 0
        self.capacity_growth_limit: float | None = None
        """Export controls: most new capacity a month, as a share of capacity; None is free."""
        self.extra_latency_ms = 0.0
        """Congestion: added to every route's latency after a month with unserved demand."""
        self.growth_estimate = 0.0
        self.cumulative_served_mtok = 0.0
        self.reference_output_mtok = 1.0
        self.learner = self
        """Whose output moves its learning curve: its own (its sites' too, `model/sites.py`)."""
        self.leaving = False
        """The strategy signalled an exit this month (`Decision.exit`)."""
        self.revenue_history: deque[float] = deque(maxlen=TRAILING_MONTHS)
        self.operating_cash_history: deque[float] = deque(maxlen=TRAILING_MONTHS)
        """Revenue less power, opex and R&D: the flows an exit avoids (USD/month)."""
        self.profit_history: deque[float] = deque(maxlen=TRAILING_MONTHS)
        self.fleet = Fleet()
        """Its capacity at home; capacity abroad is in its `sites`."""
        self.sites: list[Site] = []
        """Its sites abroad ordered so far (`model/sites.py`), in the order they were ordered."""
        self.home_capacity_mtok = 0.0
        self.npv_usd = 0.0
        """Discounted accounting profit (capex as amortization), summed over the run."""
        self.dcf_usd = 0.0
        """Discounted free cash flow (capex when paid), summed over the run."""
        self._clear_month()

    def _clear_month(self) -> None:
        """Zero the month's flows: at creation, and every month after an exit."""
        self.demand_mtok = self.served_mtok = self.capacity_mtok = self.energy_kwh = 0.0
        self.home_capacity_mtok = 0.0
        self.revenue_usd = self.electricity_usd = self.capex_usd = self.capex_paid_usd = 0.0
        self.opex_usd = self.rnd_usd = self.profit_usd = self.free_cash_flow_usd = 0.0
        self.token_share = self.developer_share = self.demand_share = self.tokens_mtok = 0.0
        self.customers = 0

    def schedule_entry(self, step: int) -> None:
        """Stay out of the market (no capacity, unknown to developers) until `step`."""
        self.active = False
        self.entry_step = step

    @property
    def quality(self) -> float:
        """Quality of its model (0-100 index at the start), from capability and compute."""
        slope = self.model.spec.market.quality_per_log_compute
        return float(frontier.quality(self.capability, self.compute_per_token, slope))

    @quality.setter
    def quality(self, points: float) -> None:
        slope = self.model.spec.market.quality_per_log_compute
        self.capability = float(frontier.capability(points, self.compute_per_token, slope))

    @property
    def tier_prices(self) -> np.ndarray:
        """Posted price of each tier (USD/Mtok): the reference price times its compute share."""
        return self.price_usd_per_mtok * self.compute_share

    @property
    def tier_qualities(self) -> np.ndarray:
        """Quality of each tier: capability + slope ln(compute), on or behind the frontier."""
        slope = self.model.spec.market.quality_per_log_compute
        compute = self.compute_per_token * self.compute_share
        return np.asarray(frontier.quality(self.capability, compute, slope))

    @property
    def strategy_name(self) -> str:
        """Registered name of the strategy."""
        return self.spec.strategy

    def average_cost(self, utilization: float, capacity_mtok: float | None = None) -> float:
        """AC(u) in USD/Mtok for this cost stack (R&D excluded), at current capacity by default."""
        capacity = self.capacity_mtok if capacity_mtok is None else capacity_mtok
        return self.unit_cost(utilization, self.opex_fixed_usd_per_month, max(capacity, 1e-9))

    @property
    def capacity_abroad_mtok(self) -> float:
        """Capacity in service at its sites abroad (Mtok/month; in `capacity_mtok`)."""
        return float(sum(s.capacity_mtok for s in self.sites))

    @property
    def served_abroad_mtok(self) -> float:
        """Load served from its sites abroad this month (Mtok; in `served_mtok`)."""
        return float(sum(s.served_mtok for s in self.sites))

    @property
    def utilization(self) -> float:
        """Served / capacity; NaN (missing) without capacity."""
        return float(costs.share_or_missing(self.served_mtok, self.capacity_mtok))

    @property
    def unit_cost_usd_per_mtok(self) -> float:
        """Realized cost per Mtok served (R&D excluded); NaN (missing) when nothing is served.

        Less than one token (FLOOR Mtok) counts as nothing: tokens are whole, and a month's
        cost over a sub-normal volume (demand that shrank for years) would overflow float64.
        """
        served = self.served_mtok if self.served_mtok >= FLOOR else 0.0
        return float(
            costs.share_or_missing(self.electricity_usd + self.capex_usd + self.opex_usd, served)
        )

    @property
    def electricity_share_of_opex(self) -> float:
        """Electricity / (electricity + non-power opex): the operating-cost view."""
        return float(
            costs.share_or_missing(self.electricity_usd, self.electricity_usd + self.opex_usd)
        )

    @property
    def electricity_share_of_cost(self) -> float:
        """Electricity / (electricity + opex + capex amortization): the total-cost view."""
        return float(
            costs.share_or_missing(
                self.electricity_usd, self.electricity_usd + self.opex_usd + self.capex_usd
            )
        )

    def install_initial_capacity(self, capacity_mtok: float, growth_per_month: float) -> None:
        """A fleet in steady state: ages spread evenly, and the orders of the last `lead` months.

        The fleet in service is already paid for (no cash out) and still amortized over its
        remaining life, unless the scenario takes the operating-cost view of a written-off
        fleet. A firm that has been growing at `growth_per_month` also has orders in the
        pipeline, placed (and paid) before the start: each arriving month's replaces what
        retires then and adds the growth, so capacity follows K0 (1 + g) ** t through the lead
        time instead of sagging until the first orders of the run arrive (MODEL.md's capacity
        rule, run backwards). They belong to the fleet at the start: written off with it in the
        operating-cost view, amortized otherwise.
        """
        now, life = self.model.steps, self.amortization_months
        per_vintage = capacity_mtok / life
        unit = self.capex_per_unit_usd
        written_off = self.model.spec.market.initial_fleet_depreciated and self.entry_step == 0
        unit_per_month = 0.0 if written_off else unit / life
        self.fleet = Fleet(
            life, now, per_vintage, per_vintage * unit_per_month, cohort_gpu=self.gpu
        )
        g = float(np.clip(growth_per_month, *GROWTH_BOUNDS))
        for k in range(1, self.lead_months + 1):
            retiring = per_vintage if 2 <= k <= life + 1 else 0.0
            order = capacity_mtok * ((1.0 + g) ** k - (1.0 + g) ** (k - 1)) + retiring
            if order > 0:
                self.fleet.orders.append(
                    Vintage(order, order * unit_per_month, now + k, now + k + life, self.gpu)
                )
        self.capacity_mtok = self.home_capacity_mtok = capacity_mtok
        self.reference_output_mtok = capacity_mtok
        self.growth_estimate = g

    def capacity_at(self, months_ahead: int) -> float:
        """Capacity in service `months_ahead` from now, counting what is already ordered."""
        step = self.model.steps + months_ahead
        return self.fleet.capacity_mtok(step) + sum(s.fleet.capacity_mtok(step) for s in self.sites)

    def decide(self, market: MarketView) -> None:
        """Let the strategy set price, R&D and capacity orders; pay for hardware on order.

        The strategy draws from its own stream (STRATEGY, month, the key of its name).
        """
        rng = self.model.streams.generator(Purpose.STRATEGY, self.model.steps, self.key)
        decision = self.strategy.decide(self, market, rng)
        self.price_usd_per_mtok = decision.price_usd_per_mtok
        self.scarcity_premium = decision.scarcity_premium
        self.rnd_usd = decision.rnd_usd
        self.leaving = decision.exit
        self.capex_paid_usd = 0.0
        order = self._affordable(decision.capacity_order_mtok)
        if self.capacity_growth_limit is not None:
            allowed = self.capacity_mtok * (1.0 + self.capacity_growth_limit) ** self.lead_months
            order = min(order, max(0.0, allowed - self.capacity_at(self.lead_months)))
        if order > 0:
            arrival = self.model.steps + self.lead_months
            life = self.amortization_months
            for stack, part in self._placed(order, arrival):
                unit = stack.capex_per_unit_usd
                stack.fleet.orders.append(
                    Vintage(part, part * unit / life, arrival, arrival + life, stack.gpu)
                )
                self.capex_paid_usd += part * unit
            self.cash_usd -= self.capex_paid_usd

    def _placed(self, order_mtok: float, arrival: int) -> list[tuple[CostStack, float]]:
        """Where an order's capacity goes: home, or the sites open by its arrival.

        Capacity follows demand in space: each site's target at arrival is its share of the
        firm's load (`Site.preferred_share`: its nearest developers' share, `model/sites.py`)
        of the capacity the firm will have, and it gets what it lacks of it; home gets the
        rest. Hardware is not moved: a fleet is rebalanced by where new orders go (a firm
        builds where its customers are, to serve them at the lowest latency), and if the
        sites lack more than the order, they share it in proportion.
        """
        sites = [s for s in self.sites if s.open_step <= arrival]
        if not sites:
            return [(self, order_mtok)]
        ahead = arrival - self.model.steps
        total = self.capacity_at(ahead) + order_mtok
        lacking = np.array(
            [max(0.0, s.preferred_share * total - s.fleet.capacity_mtok(arrival)) for s in sites]
        )
        scale = min(1.0, order_mtok / lacking.sum()) if lacking.sum() > 0 else 0.0
        parts = lacking * scale
        placed: list[tuple[CostStack, float]] = [(self, order_mtok - float(parts.sum()))]
        return [
            (stack, part) for stack, part in [*placed, *zip(sites, parts, strict=True)] if part > 0
        ]

    def _affordable(self, order_mtok: float) -> float:
        """Shrink an order to what cash plus the credit line can pay for."""
        budget = self.cash_usd + self.credit_line_usd
        unit = self.capex_per_unit_usd
        if unit <= 0 or order_mtok * unit <= budget:  # free, or affordable whole
            return order_mtok
        if budget <= 0:
            return 0.0
        return budget / unit  # < order_mtok, so finite however small the unit cost

    @property
    def credit_line_usd(self) -> float:
        """How far cash may go below zero: months of trailing mean revenue."""
        months = self.model.spec.market.credit_limit_months_of_revenue
        trailing = float(np.mean(self.revenue_history)) if self.revenue_history else 0.0
        return months * trailing

    def update_capacity(self) -> None:
        """Put arrived vintages in service and retire those past their life."""
        self.fleet.retire(self.model.steps)
        self.home_capacity_mtok = self.fleet.capacity_mtok(self.model.steps)
        for site in self.sites:
            site.update_capacity()
        self.capacity_mtok = self.home_capacity_mtok + sum(s.capacity_mtok for s in self.sites)

    def settle(
        self, demand_mtok: float, served_mtok: float, site_served_mtok: Sequence[float] = ()
    ) -> None:
        """Book the month: revenue, each cost line, profit, cash, discounted profit.

        `site_served_mtok`: what each of its sites served (`model/sites.py`); home served the
        rest. Each cost line is the sum of home's and its sites' at their own prices.
        """
        if self.demand_mtok >= FLOOR:  # from one token: a sub-normal divisor would overflow
            growth = demand_mtok / self.demand_mtok - 1.0
            self.growth_estimate = float(
                np.clip(0.9 * self.growth_estimate + 0.1 * growth, *GROWTH_BOUNDS)
            )
        self.demand_mtok, self.served_mtok = demand_mtok, served_mtok
        at_home = max(0.0, served_mtok - math.fsum(site_served_mtok)) if self.sites else served_mtok
        energy, electricity, capex, opex = self.bill(self.home_capacity_mtok, at_home)
        for site, served in zip(self.sites, site_served_mtok, strict=True):
            site.settle(served)
            energy += site.energy_kwh
            electricity += site.electricity_usd
            capex += site.capex_usd
            opex += site.opex_usd
        self.energy_kwh, self.electricity_usd, self.capex_usd = energy, electricity, capex
        self.opex_usd = self.opex_fixed_usd_per_month + opex
        self.revenue_usd = self.price_usd_per_mtok * served_mtok
        self.profit_usd = (
            self.revenue_usd - self.electricity_usd - self.capex_usd - self.opex_usd - self.rnd_usd
        )
        operating = self.revenue_usd - self.electricity_usd - self.opex_usd - self.rnd_usd
        self.cash_usd += operating
        self.free_cash_flow_usd = operating - self.capex_paid_usd
        self.npv_usd += self.profit_usd * self.model.discount_factor
        self.dcf_usd += self.free_cash_flow_usd * self.model.discount_factor
        self.cumulative_served_mtok += served_mtok
        self.revenue_history.append(self.revenue_usd)
        self.operating_cash_history.append(operating)
        self.profit_history.append(self.profit_usd)

    @property
    def terminal_value_usd(self) -> float:
        """Present value (at the start of the run) of the firm beyond this month, if active.

        The growing perpetuity of its last 12 months' mean profit (`finance.terminal_value`),
        discounted from this month; nil once it has left.
        """
        if not self.active:
            return 0.0
        market = self.model.spec.market
        value = finance.terminal_value(
            self.profit_history, market.discount_rate_per_year, market.terminal_growth_per_year
        )
        return value * self.model.discount_factor

    @property
    def firm_value_usd(self) -> float:
        """DCF so far plus the terminal value: the firm's value if the run ended this month."""
        return self.dcf_usd + self.terminal_value_usd

    def should_exit(self) -> bool:
        """Its strategy leaves; or, after burn-in, out of credit or worth more closed.

        The credit line is the hard constraint; the value rule is the firm's own: it leaves
        when it lost cash last month and continuing, by its damped-trend forecast of the
        avoidable cash flows over `exit_forecast_months`, is worth less than leaving
        (`finance.worth_leaving`).
        """
        market = self.model.spec.market
        if self.leaving:
            return True
        if self.model.steps - self.entry_step <= market.burn_in_months:
            return False
        if self.cash_usd < -self.credit_line_usd:
            return True
        return finance.worth_leaving(
            self.operating_cash_history,
            market.discount_rate_per_year,
            market.exit_forecast_months,
            market.exit_trend_damping,
        )

    def exit(self) -> None:
        """Leave the market: capacity is written off; the customers must choose again."""
        self.active = False
        self.fleet = Fleet()
        for site in self.sites:
            site.close()

    def go_dark(self) -> None:
        """After an exit: no capacity, no flows; cash and discounted profit stay as they were."""
        self._clear_month()
