"""What a strategy is: typed parameters, what it may observe, and the decision it returns.

A strategy is a class with a pydantic `Params` model (typed fields with units and bounds:
they become the `param_{provider}_{field}` knobs) and one method,
`decide(me, market, rng) -> Decision`. It sees its own firm through `Firm` and last month's
market through `MarketView`, both read-only protocols, so a strategy is tested against a
scripted market without building a model, and this module imports nothing of the model.

The capacity rule and the price adjustments shared by the built-ins (`scarcity_premium`,
`smoothed`, `capacity_order`) are plain functions with declared parameters; a strategy calls
those it wants, so the price it returns is the price it posts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NotRequired, Protocol, TypedDict

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


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
    price_utility: Literal["log", "linear"]

    def reach(self, provider_index: int) -> np.ndarray:
        """Share of the provider's customers who may access each provider (by index)."""
        ...


class Firm(Protocol):
    """What a strategy knows of its own firm: last month's outcome and its cost stack."""

    @property
    def index(self) -> int:
        """Position on every provider axis of the market's arrays."""
        ...

    @property
    def quality(self) -> float: ...  # noqa: D102
    @property
    def price_usd_per_mtok(self) -> float:
        """Price posted last month."""
        ...

    @property
    def demand_mtok(self) -> float: ...  # noqa: D102
    @property
    def capacity_mtok(self) -> float: ...  # noqa: D102
    @property
    def revenue_usd(self) -> float: ...  # noqa: D102
    @property
    def profit_usd(self) -> float:
        """Last month's profit (revenue less every cost line and R&D), USD."""
        ...

    @property
    def marginal_cost_usd_per_mtok(self) -> float: ...  # noqa: D102
    @property
    def scarcity_premium(self) -> float:
        """Premium over its target price posted last month (1 is none; `scarcity_premium`)."""
        ...

    @property
    def lead_months(self) -> int:
        """Months between ordering capacity and its arrival."""
        ...

    @property
    def growth_estimate(self) -> float:
        """Smoothed monthly growth of the firm's demand."""
        ...

    def average_cost(self, utilization: float) -> float:
        """AC(u) in USD/Mtok at current capacity."""
        ...

    def capacity_at(self, months_ahead: int) -> float:
        """Capacity in service `months_ahead` from now, orders in the pipeline included."""
        ...


@dataclass(frozen=True, slots=True)
class Decision:
    """A month's decisions: posted price, R&D spend, capacity ordered (arrives after the lead).

    `exit` = True: the firm serves this month and leaves the market at its end.
    """

    price_usd_per_mtok: float
    rnd_usd: float
    capacity_order_mtok: float
    exit: bool = False
    scarcity_premium: float = 1.0
    """Posted price over the target price, >= 1: the premium the firm remembers next month."""


class Classifier(TypedDict):
    """What a strategy reads and whether it draws at random (after the Axelrod library's)."""

    uses_rival_prices: bool
    uses_demand_estimates: bool
    """Reads demand shares, the outside share or the market's price sensitivity."""
    stochastic: bool
    """Draws from its random generator: same seed, same draws."""
    learns: NotRequired[bool]
    """Changes its rule from the profits it observes (absent: False)."""


def param(default: Any, *, unit: str, doc: str, ge: float, le: float) -> Any:
    """A strategy parameter: default, unit, meaning and closed bounds (the knob's range)."""
    return Field(default, ge=ge, le=le, description=doc, json_schema_extra={"unit": unit})


def declared(model: type[BaseModel], name: str) -> dict[str, Any]:
    """Kind, unit, default, closed bounds and meaning of a field declared with `param`."""
    info = model.model_fields[name]
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return {
        "kind": "integer" if info.annotation is int else "real",
        "unit": str(extra.get("unit", "")),
        "default": info.default,
        "low": next(m.ge for m in info.metadata if hasattr(m, "ge")),
        "high": next(m.le for m in info.metadata if hasattr(m, "le")),
        "doc": info.description or "",
    }


def redefault(model: type[BaseModel], name: str, default: Any) -> Any:
    """A field of `model` declared again with another default; unit, bounds, meaning kept."""
    d = declared(model, name)
    return param(default, unit=d["unit"], doc=d["doc"], ge=d["low"], le=d["high"])


class StrategyParams(BaseModel):
    """Base of every strategy's parameters: strict types, finite values, no unknown keys.

    Every strategy plans capacity for some utilization, and the model sizes a firm's
    initial fleet with it, so `target_utilization` is declared here for all.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    target_utilization: float = param(
        0.8,
        unit="share of capacity",
        doc="utilization the firm plans capacity for, and at which it evaluates AC",
        ge=0.05,
        le=1.0,
    )


class Strategy(ABC):
    """A pricing, R&D and capacity rule. Subclasses set `Params` and `classifier`.

    Args:
        params: the validated parameters (see `registry.make`).

    """

    Params: ClassVar[type[StrategyParams]] = StrategyParams
    classifier: ClassVar[Classifier]

    def __init__(self, params: StrategyParams) -> None:
        self.params = params

    @abstractmethod
    def decide(self, me: Firm, market: MarketView, rng: np.random.Generator) -> Decision:
        """Price, R&D and capacity for this month.

        `rng` is the strategy's own stream for this month (`Purpose.STRATEGY`, month,
        provider): draws from it never move another agent's draws.
        """


# ------------------------------------------------------------------ shared, declared rules
class PostingParams(StrategyParams):
    """Parameters of the built-ins' shared rules: capacity, scarcity pricing, smoothing, R&D."""

    capacity_headroom: float = param(
        1.0,
        unit="multiplier",
        doc="capacity ordered relative to what the demand forecast calls for",
        ge=0.1,
        le=5.0,
    )
    scarcity_gain: float = param(
        0.5,
        unit="relative price change per month per unit excess demand",
        doc="tatonnement speed k: the price moves by k (demand/capacity - 1) a month above "
        "the target price",
        ge=0.0,
        le=10.0,
    )
    max_price_change: float = param(
        0.1,
        unit="share per month",
        doc="largest relative price change in one month",
        ge=0.0,
        le=1.0,
    )
    rnd_share: float = param(
        0.0,
        unit="share of revenue",
        doc="share of last month's revenue spent on R&D (below 1, so a price can cover it)",
        ge=0.0,
        le=0.9,
    )


def scarcity_premium(target_price: float, me: Firm, gain: float) -> float:
    """The month's premium over the target price: last month's, moved by excess demand.

    `m_t = max(1, m_{t-1} (1 + k (D_{t-1} / K_{t-1} - 1)))`, a multiplier on the strategy's
    target price, with `D` the demand the firm was asked to serve at its posted price and
    `K` its capacity. A firm that rations (D > K) raises its premium month after month until
    demand fits its capacity, from at least the premium its last price holds over this
    month's target (`m_{t-1} >= p_{t-1} / target_t`): a firm short of capacity never cuts its
    price. While capacity binds (D = K) the premium persists; when
    capacity is slack it decays at the rate `k (1 - D/K)` back to none (m = 1). The memory
    is the firm's (`Firm.scarcity_premium`, the premium it actually posted: see `post`), so
    the premium outlives a fall in cost, which a premium rebuilt from cost every month did
    not (a firm at 1.8x its capacity then cut its price as its cost fell).

    Why: capacity takes `lead_months` to arrive, so a firm short of it can only ration or
    price. The rule is Walrasian tatonnement on each firm's own market, the price rising with
    excess demand (Arrow and Hurwicz 1958, "On the stability of the competitive equilibrium,
    I", Econometrica 26: stable under gross substitutes, which logit demand satisfies; in
    discrete time for a small enough step, Uzawa 1960). Shared compute is priced this way
    (Amazon EC2 spot prices rise with utilization: Ben-Yehuda et al. 2013, ACM TEAC 1(3));
    Chinese providers raised API prices in 2025-26 as agentic workloads multiplied the
    compute their customers asked for (docs/calibration.md, B.5).
    """
    if me.capacity_mtok <= 0.0:
        return me.scarcity_premium
    excess = me.demand_mtok / me.capacity_mtok - 1.0
    premium = me.scarcity_premium
    if excess > 0.0:
        premium = max(premium, me.price_usd_per_mtok / target_price)
    return max(1.0, premium * (1.0 + gain * excess))


def smoothed(price: float, previous: float, max_change: float) -> float:
    """Limit the month's price change to +-`max_change` of last month's price.

    Why: posted API prices move in steps and rarely by more than a few tens of percent a
    month (menu costs, contracts); the limit also damps cycles between imitating rules.
    """
    return float(np.clip(price, previous * (1.0 - max_change), previous * (1.0 + max_change)))


def capacity_order(me: Firm, target_utilization: float, headroom: float) -> float:
    """Order what forecast demand at arrival needs, net of what will be there by then.

    Forecast: D (1 + g_hat) ** lead / u_target; capacity at arrival counts the orders in
    the pipeline and drops the vintages that retire before then.
    """
    lead = me.lead_months
    needed = me.demand_mtok * (1.0 + me.growth_estimate) ** lead / target_utilization
    return max(0.0, needed * headroom - me.capacity_at(lead))


def post(me: Firm, target_price: float, params: PostingParams) -> Decision:
    """The built-ins' month: target price with the scarcity premium, smoothed; R&D; capacity.

    The premium the firm remembers is the one it posted: a rise the monthly limit held back
    is not banked (no wind-up), nor is a fall it held back counted as a premium.
    """
    premium = scarcity_premium(target_price, me, params.scarcity_gain)
    price = smoothed(target_price * premium, me.price_usd_per_mtok, params.max_price_change)
    return Decision(
        price,
        params.rnd_share * me.revenue_usd,
        capacity_order(me, params.target_utilization, params.capacity_headroom),
        scarcity_premium=float(np.clip(price / target_price, 1.0, premium)),
    )
