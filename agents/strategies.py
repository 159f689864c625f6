"""Pricing, R&D and capacity strategies: a protocol, a registry, and the built-in six.

A strategy is a small object with one decision method, `decide(me, market) -> Decision`,
registered by name so that scenario files and sweeps can name it. A researcher adds one
without touching the model:

    @strategies.register("my_rule")
    @dataclass
    class MyRule(strategies.Strategy):
        markup: float = 0.2
        def target_price(self, me, market):
            return me.average_cost(self.target_utilization) * (1 + self.markup)

What every strategy shares lives in `Strategy.decide`: it sizes capacity from forecast demand
at the utilization it aims for, raises its price when demand runs above that utilization
(scarcity pricing: without it no demand-driven price rise can emerge), and limits its price
change per month (smoothing). Subclasses say only how they set their target price and R&D.
Margins are fields, so a sweep can vary them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from tokenmarket.model import theory
from tokenmarket.model.demand import price_term

if TYPE_CHECKING:
    from tokenmarket.agents.provider import Provider


class MarketView(Protocol):
    """What a firm can observe of the market at the start of a month (last month's outcome)."""

    step: int
    price_usd_per_mtok: np.ndarray
    """Posted prices of all providers, by provider index."""
    quality: np.ndarray
    active: np.ndarray
    demand_share: np.ndarray
    """Each provider's share of all token demand, the outside option included."""
    outside_share: float
    price_sensitivity: float
    """Demand-weighted mean alpha / mu of the developers: a firm's estimate of the slope."""
    price_utility: str

    def reach(self, provider_index: int) -> np.ndarray:
        """Share of the provider's customers who may access each provider (by index)."""
        ...


@dataclass(frozen=True, slots=True)
class Decision:
    """A month's decisions: posted price, R&D spend, capacity ordered (arrives after the lead)."""

    price_usd_per_mtok: float
    rnd_usd: float
    capacity_order_mtok: float


@dataclass
class Strategy:
    """Base class: the shared capacity rule, scarcity pricing and smoothing."""

    name: ClassVar[str] = ""
    target_utilization: float = 0.8
    """Utilization the capacity rule aims for, and at which the strategy evaluates AC."""
    capacity_headroom: float = 1.0
    """Multiplier on the capacity the forecast calls for (> 1 expands aggressively)."""
    scarcity_gain: float = 0.5
    """Price premium per unit of demand/capacity above the target utilization."""
    max_price_change: float = 0.1
    """Largest relative price change in one month."""
    rnd_share: float = 0.0
    """Share of last month's revenue spent on R&D."""

    def target_price(self, me: Provider, market: MarketView) -> float:
        """The price this strategy wants before scarcity pricing and smoothing (USD/Mtok)."""
        raise NotImplementedError

    def decide(self, me: Provider, market: MarketView) -> Decision:
        """Price, R&D and capacity for this month, from what the firm can observe."""
        price = self.target_price(me, market)
        excess = (
            me.demand_mtok / me.capacity_mtok - self.target_utilization if me.capacity_mtok else 0
        )
        price *= 1.0 + self.scarcity_gain * max(0.0, excess)
        low, high = 1.0 - self.max_price_change, 1.0 + self.max_price_change
        price = float(np.clip(price, me.price_usd_per_mtok * low, me.price_usd_per_mtok * high))
        return Decision(price, self.rnd_share * me.revenue_usd, self.capacity_order(me))

    def capacity_order(self, me: Provider) -> float:
        """Order what forecast demand at arrival needs, net of what will be there by then.

        Forecast: D (1 + g_hat) ** lead / u_target; capacity at arrival counts the orders in
        the pipeline and drops the vintages that retire before then.
        """
        lead = me.lead_months
        needed = me.demand_mtok * (1.0 + me.growth_estimate) ** lead / self.target_utilization
        return max(0.0, needed * self.capacity_headroom - me.capacity_at(lead))


_REGISTRY: dict[str, type[Strategy]] = {}


def register(name: str) -> Callable[[type[Strategy]], type[Strategy]]:
    """Class decorator: make a strategy available to scenarios and sweeps under `name`."""

    def add(cls: type[Strategy]) -> type[Strategy]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return add


def names() -> list[str]:
    """Registered strategy names, in registration order."""
    return list(_REGISTRY)


def make(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """A new strategy object; a ValueError names the unknown strategy or parameter."""
    if name not in _REGISTRY:
        raise ValueError(f"strategy: unknown strategy {name!r}; one of {names()}")
    cls = _REGISTRY[name]
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    params = dict(params or {})
    for key, value in params.items():
        if key not in fields:
            raise ValueError(
                f"strategy_params.{key}: not a parameter of {name!r}; one of {sorted(fields)}"
            )
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ValueError(
                f"strategy_params.{key}: must be a non-negative number (got {value!r})"
            )
    strategy = cls(**params)
    if not 0.05 <= strategy.target_utilization <= 1.0:
        raise ValueError("strategy_params.target_utilization: must be in [0.05, 1]")
    if strategy.max_price_change > 1.0:
        raise ValueError("strategy_params.max_price_change: must be in [0, 1]")
    return strategy


def _rivals(me: Provider, market: MarketView) -> np.ndarray:
    """Mask of the active providers other than me."""
    mask = market.active.copy()
    mask[me.index] = False
    return mask


def _relevant_rivals(me: Provider, market: MarketView, min_reach: float = 0.5) -> np.ndarray:
    """Active rivals that at least `min_reach` of my customers may access."""
    return _rivals(me, market) & (market.reach(me.index) >= min_reach)


@register("cost_plus")
@dataclass
class CostPlus(Strategy):
    """Fixed markup over average cost at the target utilization: the neutral baseline."""

    markup: float = 0.3

    def target_price(self, me: Provider, market: MarketView) -> float:  # noqa: D102
        return me.average_cost(self.target_utilization) * (1.0 + self.markup)


@register("low_price")
@dataclass
class LowPrice(Strategy):
    """Cost leadership: thin margin over AC, undercut the cheapest relevant rival, build ahead.

    The undercut stops at a floor max(MC (1 + floor_markup), floor_fraction x AC(u_target)):
    marginal cost is a few percent of average cost, so a floor at MC alone is a race to exit.
    A rival is relevant when at least half of my customers may access it.
    """

    margin: float = 0.1
    undercut: float = 0.05
    floor_markup: float = 0.2
    floor_fraction: float = 0.9
    target_utilization: float = 0.75
    capacity_headroom: float = 1.15
    rnd_share: float = 0.02

    def target_price(self, me: Provider, market: MarketView) -> float:  # noqa: D102
        ac = me.average_cost(self.target_utilization)
        price = ac * (1.0 + self.margin)
        rivals = _relevant_rivals(me, market)
        if rivals.any():
            price = min(price, market.price_usd_per_mtok[rivals].min() * (1.0 - self.undercut))
        floor = max(
            me.marginal_cost_usd_per_mtok * (1.0 + self.floor_markup), self.floor_fraction * ac
        )
        return max(price, floor)


@register("differentiation")
@dataclass
class Differentiation(Strategy):
    """Invest in quality and charge for it; ignore rivals' prices.

    Spends `rnd_share` of revenue on R&D; the markup over AC rises by `premium_per_point` for
    each quality point above the mean active rival (and never falls below `base_markup`).
    """

    base_markup: float = 0.5
    premium_per_point: float = 0.05
    rnd_share: float = 0.15

    def target_price(self, me: Provider, market: MarketView) -> float:  # noqa: D102
        rivals = _rivals(me, market)
        lead = me.quality - market.quality[rivals].mean() if rivals.any() else 0.0
        markup = self.base_markup + self.premium_per_point * max(0.0, lead)
        return me.average_cost(self.target_utilization) * (1.0 + markup)


@register("penetration_then_raise")
@dataclass
class PenetrationThenRaise(Strategy):
    """Buy share cheaply, then harvest it: the demand-driven phase of a pricing cycle.

    Prices at a thin margin over AC until its demand share reaches `share_target` or the
    month `raise_after_month` comes; then raises the price by `raise_rate` a month for as long
    as its share stays within `share_tolerance` (relative) of the share it had when it began,
    up to `max_markup` over AC: customers held only by a shortage elsewhere are not captive
    for ever (entry and regulators would answer), and the cap keeps the rule finite.
    """

    margin: float = 0.02
    share_target: float = 0.15
    raise_after_month: int = 36
    raise_rate: float = 0.03
    share_tolerance: float = 0.1
    max_markup: float = 3.0
    capacity_headroom: float = 1.1
    _reference_share: float | None = field(default=None, init=False, repr=False)

    def target_price(self, me: Provider, market: MarketView) -> float:  # noqa: D102
        share = market.demand_share[me.index]
        if self._reference_share is None:
            if share < self.share_target and market.step < self.raise_after_month:
                return me.average_cost(self.target_utilization) * (1.0 + self.margin)
            self._reference_share = share
        if share >= (1.0 - self.share_tolerance) * self._reference_share:
            ceiling = me.average_cost(self.target_utilization) * (1.0 + self.max_markup)
            return min(
                me.price_usd_per_mtok * (1.0 + self.raise_rate), max(ceiling, me.price_usd_per_mtok)
            )
        return me.price_usd_per_mtok


@register("follower")
@dataclass
class Follower(Strategy):
    """Price near the median active rival, never below AC x `floor_fraction`."""

    offset: float = 0.0
    floor_fraction: float = 1.0

    def target_price(self, me: Provider, market: MarketView) -> float:  # noqa: D102
        rivals = _rivals(me, market)
        floor = self.floor_fraction * me.average_cost(self.target_utilization)
        if not rivals.any():
            return max(me.price_usd_per_mtok, floor)
        return max(float(np.median(market.price_usd_per_mtok[rivals])) * (1.0 + self.offset), floor)


@register("best_response")
@dataclass
class BestResponse(Strategy):
    """Myopic best response to rivals' current prices under the logit demand it can estimate.

    Inverts observed shares into mean utilities (Berry 1994: delta_k - delta_0 =
    ln(s_k / s_0)), adds back its own price term to recover its non-price utility, then sets
    the price that maximises (p - MC) s(p) with rivals' prices, hence their s_k / s_0, fixed.
    The price coefficient is the market's demand-weighted alpha / mu unless
    `price_sensitivity` is given. Used to check the
    model against logit Bertrand–Nash theory; the cap `max_markup` keeps it finite where the
    log-price demand is inelastic.
    """

    price_sensitivity: float = 0.0
    """alpha / mu assumed by the firm; 0 means: estimate it from the market."""
    max_markup: float = 20.0
    max_price_change: float = 0.2

    def target_price(self, me: Provider, market: MarketView) -> float:  # noqa: D102
        a = self.price_sensitivity or market.price_sensitivity
        shares = np.where(market.active, market.demand_share, 0.0)
        s0 = market.outside_share
        if shares[me.index] <= 0.0 or s0 <= 0.0 or a <= 0.0:
            return me.price_usd_per_mtok
        own = shares[me.index]
        others = 1.0 + (shares.sum() - own) / s0
        f_own = price_term(np.asarray(me.price_usd_per_mtok), market.price_utility)
        mc = me.marginal_cost_usd_per_mtok
        return theory.logit_best_response(
            float(np.log(own / s0) + a * f_own),
            mc,
            a,
            others,
            price_utility=market.price_utility,
            p_max=max(mc, me.average_cost(self.target_utilization)) * (1.0 + self.max_markup),
        )
