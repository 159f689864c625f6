"""The built-in strategies: pricing, R&D and capacity rules of MODEL.md.

Each is registered in pyproject.toml's `tokenmarket.strategies` entry-point group, as a
third-party strategy would be. Each sets a target price and posts it through the shared,
declared rules of `base.post`: a scarcity premium with memory (tatonnement), a limit on
the monthly price change, R&D as a share of revenue, and the capacity rule.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from tokenmarket.agents.strategies.base import (
    Classifier,
    Decision,
    Firm,
    MarketView,
    PostingParams,
    Strategy,
    param,
    post,
    redefault,
)
from tokenmarket.model import theory
from tokenmarket.model.demand import price_term

MARKUP = "share of AC"


def _rivals(me: Firm, market: MarketView) -> np.ndarray:
    """Mask of the active providers other than me."""
    mask = market.active.copy()
    mask[me.index] = False
    return mask


def _relevant_rivals(me: Firm, market: MarketView, min_reach: float = 0.5) -> np.ndarray:
    """Active rivals that at least `min_reach` of my customers may access."""
    return _rivals(me, market) & (market.reach(me.index) >= min_reach)


class _Posting(Strategy):
    """A built-in: a target price, posted through the shared rules (`base.post`)."""

    params: PostingParams

    @abstractmethod
    def target_price(self, me: Firm, market: MarketView) -> float:
        """The price this rule wants before the scarcity premium and smoothing (USD/Mtok)."""

    def decide(self, me: Firm, market: MarketView, rng: np.random.Generator) -> Decision:
        """Post the target price through the shared rules; no random draw."""
        return post(me, self.target_price(me, market), self.params)


class CostPlusParams(PostingParams):
    """Parameters of `cost_plus`."""

    markup: float = param(0.3, unit=MARKUP, doc="markup over AC at target utilization", ge=0, le=20)


class CostPlus(_Posting):
    """Fixed markup over average cost at the target utilization: the neutral baseline."""

    Params = CostPlusParams
    params: CostPlusParams
    classifier = Classifier(uses_rival_prices=False, uses_demand_estimates=False, stochastic=False)

    def target_price(self, me: Firm, market: MarketView) -> float:  # noqa: D102
        p = self.params
        return me.average_cost(p.target_utilization) * (1.0 + p.markup)


class LowPriceParams(PostingParams):
    """Parameters of `low_price`."""

    margin: float = param(0.1, unit=MARKUP, doc="margin over AC before undercutting", ge=0, le=5)
    undercut: float = param(
        0.05, unit="share of rival price", doc="undercut of the cheapest relevant rival", ge=0, le=1
    )
    floor_markup: float = param(
        0.2, unit="share of MC", doc="the price floor's markup over marginal cost", ge=0, le=10
    )
    floor_fraction: float = param(
        0.9, unit="share of AC", doc="the price floor as a share of AC", ge=0, le=2
    )
    target_utilization: float = redefault(PostingParams, "target_utilization", 0.75)
    capacity_headroom: float = redefault(PostingParams, "capacity_headroom", 1.15)
    rnd_share: float = redefault(PostingParams, "rnd_share", 0.02)


class LowPrice(_Posting):
    """Cost leadership: thin margin over AC, undercut the cheapest relevant rival, build ahead.

    The undercut stops at a floor max(MC (1 + floor_markup), floor_fraction x AC(u_target)):
    marginal cost is a few percent of average cost, so a floor at MC alone is a race to exit.
    A rival is relevant when at least half of my customers may access it.
    """

    Params = LowPriceParams
    params: LowPriceParams
    classifier = Classifier(uses_rival_prices=True, uses_demand_estimates=False, stochastic=False)

    def target_price(self, me: Firm, market: MarketView) -> float:  # noqa: D102
        p = self.params
        ac = me.average_cost(p.target_utilization)
        price = ac * (1.0 + p.margin)
        rivals = _relevant_rivals(me, market)
        if rivals.any():
            price = min(price, market.price_usd_per_mtok[rivals].min() * (1.0 - p.undercut))
        floor = max(me.marginal_cost_usd_per_mtok * (1.0 + p.floor_markup), p.floor_fraction * ac)
        return max(price, floor)


class DifferentiationParams(PostingParams):
    """Parameters of `differentiation`."""

    base_markup: float = param(
        0.5, unit=MARKUP, doc="markup over AC at no quality lead", ge=0, le=20
    )
    premium_per_point: float = param(
        0.05, unit="markup per quality point", doc="markup added per point of lead", ge=0, le=1
    )
    rnd_share: float = redefault(PostingParams, "rnd_share", 0.15)


class Differentiation(_Posting):
    """Invest in quality and charge for it; ignore rivals' prices.

    Spends `rnd_share` of revenue on R&D; the markup over AC rises by `premium_per_point` for
    each quality point above the mean active rival (and never falls below `base_markup`).
    """

    Params = DifferentiationParams
    params: DifferentiationParams
    classifier = Classifier(uses_rival_prices=False, uses_demand_estimates=False, stochastic=False)

    def target_price(self, me: Firm, market: MarketView) -> float:  # noqa: D102
        p = self.params
        rivals = _rivals(me, market)
        lead = me.quality - market.quality[rivals].mean() if rivals.any() else 0.0
        markup = p.base_markup + p.premium_per_point * max(0.0, lead)
        return me.average_cost(p.target_utilization) * (1.0 + markup)


class PenetrationParams(PostingParams):
    """Parameters of `penetration_then_raise`."""

    margin: float = param(0.02, unit=MARKUP, doc="thin margin while buying share", ge=0, le=5)
    share_target: float = param(
        0.15, unit="share of demand", doc="demand share at which harvesting starts", ge=0, le=1
    )
    raise_after_month: int = param(
        36, unit="month", doc="month at which harvesting starts at the latest", ge=0, le=10_000
    )
    raise_rate: float = param(
        0.03, unit="share per month", doc="price rise per month while harvesting", ge=0, le=1
    )
    share_tolerance: float = param(
        0.1, unit="share of reference share", doc="share loss that stops the raises", ge=0, le=1
    )
    max_markup: float = param(3.0, unit=MARKUP, doc="ceiling of the harvest price", ge=0, le=50)
    capacity_headroom: float = redefault(PostingParams, "capacity_headroom", 1.1)


class PenetrationThenRaise(_Posting):
    """Buy share cheaply, then harvest it: the demand-driven phase of a pricing cycle.

    Prices at a thin margin over AC until its demand share reaches `share_target` or the
    month `raise_after_month` comes; then raises the price by `raise_rate` a month for as long
    as its share stays within `share_tolerance` (relative) of the share it had when it began,
    up to `max_markup` over AC: customers held only by a shortage elsewhere are not captive
    for ever (entry and regulators would answer), and the cap keeps the rule finite.
    """

    Params = PenetrationParams
    params: PenetrationParams
    classifier = Classifier(uses_rival_prices=False, uses_demand_estimates=True, stochastic=False)

    def __init__(self, params: PenetrationParams) -> None:
        super().__init__(params)
        self.reference_share: float | None = None
        """Demand share when harvesting began; None while buying share."""

    def target_price(self, me: Firm, market: MarketView) -> float:  # noqa: D102
        p = self.params
        share = market.demand_share[me.index]
        if self.reference_share is None:
            if share < p.share_target and market.step < p.raise_after_month:
                return me.average_cost(p.target_utilization) * (1.0 + p.margin)
            self.reference_share = share
        if share >= (1.0 - p.share_tolerance) * self.reference_share:
            ceiling = me.average_cost(p.target_utilization) * (1.0 + p.max_markup)
            return min(
                me.price_usd_per_mtok * (1.0 + p.raise_rate), max(ceiling, me.price_usd_per_mtok)
            )
        return me.price_usd_per_mtok


class FollowerParams(PostingParams):
    """Parameters of `follower`."""

    offset: float = param(
        0.0, unit="share of median price", doc="premium over the median rival", ge=-0.5, le=2
    )
    floor_fraction: float = param(1.0, unit="share of AC", doc="the price floor", ge=0, le=2)


class Follower(_Posting):
    """Price near the median active rival, never below AC x `floor_fraction`."""

    Params = FollowerParams
    params: FollowerParams
    classifier = Classifier(uses_rival_prices=True, uses_demand_estimates=False, stochastic=False)

    def target_price(self, me: Firm, market: MarketView) -> float:  # noqa: D102
        p = self.params
        rivals = _rivals(me, market)
        floor = p.floor_fraction * me.average_cost(p.target_utilization)
        if not rivals.any():
            return max(me.price_usd_per_mtok, floor)
        return max(float(np.median(market.price_usd_per_mtok[rivals])) * (1.0 + p.offset), floor)


class BestResponseParams(PostingParams):
    """Parameters of `best_response`."""

    price_sensitivity: float = param(
        0.0,
        unit="utils per unit f(p)",
        doc="alpha / mu the firm assumes; 0 estimates it from the market",
        ge=0,
        le=100,
    )
    max_markup: float = param(20.0, unit=MARKUP, doc="cap on the best-response price", ge=0, le=100)
    max_price_change: float = redefault(PostingParams, "max_price_change", 0.2)


class BestResponse(_Posting):
    """Myopic best response to rivals' current prices under the logit demand it can estimate.

    Inverts observed shares into mean utilities (Berry 1994: delta_k - delta_0 =
    ln(s_k / s_0)), adds back its own price term to recover its non-price utility, then sets
    the price that maximises (p - MC) s(p) with rivals' prices, hence their s_k / s_0, fixed.
    The price coefficient is the market's demand-weighted alpha / mu unless
    `price_sensitivity` is given. Used to check the model against logit Bertrand–Nash
    theory; the cap `max_markup` keeps it finite where the log-price demand is inelastic.
    """

    Params = BestResponseParams
    params: BestResponseParams
    classifier = Classifier(uses_rival_prices=True, uses_demand_estimates=True, stochastic=False)

    def target_price(self, me: Firm, market: MarketView) -> float:  # noqa: D102
        p = self.params
        a = p.price_sensitivity or market.price_sensitivity
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
            p_max=max(mc, me.average_cost(p.target_utilization)) * (1.0 + p.max_markup),
        )
