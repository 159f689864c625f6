"""The built-in strategies: pricing, R&D and capacity rules of MODEL.md.

Each is registered in pyproject.toml's `tokenmarket.strategies` entry-point group, as a
third-party strategy would be. Each sets a target price and posts it through the shared,
declared rules of `base.post`: a scarcity premium with memory (tatonnement), a limit on
the monthly price change, R&D as a share of revenue, and the capacity rule. Capacity
(`capacity_headroom`), the utilization it plans for (`target_utilization`) and R&D
(`rnd_share`) are declared by every built-in, so a sweep can hold them equal and vary only
the pricing rule.

Cost. Every rule prices off `full_cost`: average cost at the target utilization, capex
amortization and opex included, grossed up for R&D. A firm sizes capacity to its demand
(`base.capacity_order`), so in the long run one more token a month needs 1/u_target more
capacity: its long-run marginal cost is the full cost, not the power bill (which is 1-5 %
of it). Pricing at short-run marginal cost is the classic route to a capacity-heavy
industry's price war and exits (Kreps & Scheinkman 1983, Bell J. Econ. 14(2): capacity is
chosen with the price competition it will face in mind).
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

MARKUP = "share of full cost"


def full_cost(me: Firm, params: PostingParams) -> float:
    """USD/Mtok a price must cover: AC at the target utilization, plus R&D per token.

    R&D is `rnd_share` of revenue, r p per token, so p covers AC + r p when
    p >= AC / (1 - r).
    """
    return me.average_cost(params.target_utilization) / (1.0 - params.rnd_share)


def _rivals(me: Firm, market: MarketView) -> np.ndarray:
    """Mask of the active providers other than me."""
    mask = market.active.copy()
    mask[me.index] = False
    return mask


def _relevant_rivals(me: Firm, market: MarketView, min_reach: float = 0.5) -> np.ndarray:
    """Active rivals that at least `min_reach` of my customers may access."""
    return _rivals(me, market) & (market.reach(me.index) >= min_reach)


def market_price(me: Firm, market: MarketView) -> float:
    """The market's going price as this firm sees it: median of active rivals; own if alone."""
    rivals = _rivals(me, market)
    if not rivals.any():
        return me.price_usd_per_mtok
    return float(np.median(market.price_usd_per_mtok[rivals]))


class _Posting(Strategy):
    """A built-in: a target price, posted through the shared rules (`base.post`)."""

    params: PostingParams

    @abstractmethod
    def target_price(self, me: Firm, market: MarketView) -> float:
        """The price this rule wants before the scarcity premium and smoothing (USD/Mtok)."""

    def decide(self, me: Firm, market: MarketView, rng: np.random.Generator) -> Decision:
        """Post the target price through the shared rules; no random draw."""
        return post(me, self.target_price(me, market), self.params)


class BoundedParams(PostingParams):
    """The ceiling of the rules whose price follows demand rather than cost."""

    max_premium: float = param(
        1.0,
        unit="share of the market price",
        doc="most the target price may exceed the median active rival's (full cost if higher)",
        ge=0,
        le=20,
    )


def capped(price: float, me: Firm, market: MarketView, params: BoundedParams) -> float:
    """`price`, at most (1 + max_premium) x the market price, but never below full cost.

    Why: a rule fed by estimated demand can ask any price the estimate allows (log-price
    logit demand with a slope below one has no interior optimum); a posted price several
    times the going rate with no quality edge finds no buyer, so the cap costs nothing real.
    """
    ceiling = max(full_cost(me, params), (1.0 + params.max_premium) * market_price(me, market))
    return min(price, ceiling)


class CostPlusParams(PostingParams):
    """Parameters of `cost_plus`."""

    markup: float = param(0.3, unit=MARKUP, doc="markup over full cost", ge=0, le=20)


class CostPlus(_Posting):
    """Fixed markup over full cost: the neutral baseline.

    Full-cost pricing is what surveyed firms report doing (Hall & Hitch 1939, Oxford Econ.
    Papers 2; Blinder et al. 1998, Asking About Prices): it ignores demand and rivals.
    """

    Params = CostPlusParams
    params: CostPlusParams
    classifier = Classifier(uses_rival_prices=False, uses_demand_estimates=False, stochastic=False)

    def target_price(self, me: Firm, market: MarketView) -> float:  # noqa: D102
        return full_cost(me, self.params) * (1.0 + self.params.markup)


class LowPriceParams(PostingParams):
    """Parameters of `low_price`."""

    margin: float = param(
        0.1, unit=MARKUP, doc="margin over full cost before undercutting", ge=0, le=5
    )
    undercut: float = param(
        0.05, unit="share of rival price", doc="undercut of the cheapest relevant rival", ge=0, le=1
    )
    floor_markup: float = param(
        0.0, unit=MARKUP, doc="the price floor's markup over full cost", ge=0, le=5
    )
    target_utilization: float = redefault(PostingParams, "target_utilization", 0.75)
    capacity_headroom: float = redefault(PostingParams, "capacity_headroom", 1.15)
    rnd_share: float = redefault(PostingParams, "rnd_share", 0.02)


class LowPrice(_Posting):
    """Cost leadership: thin margin over full cost, undercut the cheapest relevant rival.

    Porter (1980, Competitive Strategy, ch. 2): the cost leader earns above-average returns
    by being the lowest-cost producer and pricing at or below its rivals, never below its own
    cost. So the undercut stops at the floor full cost x (1 + floor_markup), the cost of a
    token at the utilization the firm builds for: a floor below it only loses money. A rival
    is relevant when at least half of my customers may access it.
    """

    Params = LowPriceParams
    params: LowPriceParams
    classifier = Classifier(uses_rival_prices=True, uses_demand_estimates=False, stochastic=False)

    def target_price(self, me: Firm, market: MarketView) -> float:  # noqa: D102
        p = self.params
        cost = full_cost(me, p)
        price = cost * (1.0 + p.margin)
        rivals = _relevant_rivals(me, market)
        if rivals.any():
            price = min(price, market.price_usd_per_mtok[rivals].min() * (1.0 - p.undercut))
        return max(price, cost * (1.0 + p.floor_markup))


class DifferentiationParams(BoundedParams):
    """Parameters of `differentiation`."""

    price_sensitivity: float = param(
        0.0,
        unit="utils per unit f(p)",
        doc="alpha / mu the firm assumes; 0 estimates it from the market",
        ge=0,
        le=100,
    )
    rnd_share: float = redefault(PostingParams, "rnd_share", 0.15)


class Differentiation(_Posting):
    """Invest in quality and charge the markup its own estimated logit demand supports.

    The markup reads no rival's price (only its cap does): it reads its own demand share s and
    the market's price slope a, which under logit demand sum up its quality edge (a better
    model wins share at a given price), and sets the profit-maximising markup of a logit
    firm, p - c = 1 / (a (1 - s)) (or the log-price analogue, `theory.logit_markup_price`), with c
    its full cost (Anderson, de Palma & Thisse 1992, Discrete Choice Theory of Product
    Differentiation, ch. 7; Berry 1994, RAND J. Econ. 25(2)). Repeated month after month at
    the share the price produces, the rule converges to the firm's logit best response.
    Spends `rnd_share` of revenue on R&D to keep the edge; capped by `capped`.
    """

    Params = DifferentiationParams
    params: DifferentiationParams
    classifier = Classifier(uses_rival_prices=True, uses_demand_estimates=True, stochastic=False)

    def target_price(self, me: Firm, market: MarketView) -> float:  # noqa: D102
        p = self.params
        a = p.price_sensitivity or market.price_sensitivity
        cost = full_cost(me, p)
        if a <= 0.0:
            return capped(float("inf"), me, market, p)
        share = float(market.demand_share[me.index])
        return capped(
            theory.logit_markup_price(cost, share, a, price_utility=market.price_utility),
            me,
            market,
            p,
        )


class PenetrationParams(BoundedParams):
    """Parameters of `penetration_then_raise`."""

    margin: float = param(0.02, unit=MARKUP, doc="thin margin while buying share", ge=0, le=5)
    share_target: float = param(
        0.15, unit="share of demand", doc="demand share at which harvesting starts", ge=0, le=1
    )
    raise_after_month: int = param(
        36, unit="month", doc="month at which harvesting starts at the latest", ge=0, le=10_000
    )
    raise_rate: float = param(
        0.03, unit="share per month", doc="price step per month while harvesting", ge=0, le=1
    )
    share_tolerance: float = param(
        0.1,
        unit="share of reference share",
        doc="share loss that turns raises into cuts",
        ge=0,
        le=1,
    )
    give_up_share: float = param(
        0.01,
        unit="share of demand",
        doc="demand share below which the niche counts as lost",
        ge=0,
        le=1,
    )
    give_up_months: int = param(
        12,
        unit="months",
        doc="months below give_up_share, harvesting, before it exits",
        ge=1,
        le=10_000,
    )
    max_premium: float = redefault(BoundedParams, "max_premium", 0.5)
    capacity_headroom: float = redefault(PostingParams, "capacity_headroom", 1.1)


class PenetrationThenRaise(_Posting):
    """Buy share cheaply, then harvest it while it holds; give up when the niche is gone.

    Penetration pricing with switching costs (Klemperer 1987, Q. J. Econ. 102(2);
    Farrell & Klemperer 2007, Handbook of IO 3): a firm prices low while customers are
    choosing, then raises to what their switching costs allow. It prices at a thin margin
    over full cost until its demand share reaches `share_target` or month
    `raise_after_month` comes; then, each month, it raises the price by `raise_rate` while
    its share stays within `share_tolerance` of the share it had when harvesting began, and
    cuts it by `raise_rate` (never below full cost) when the share falls further: the raises
    test how much lock-in there is, the cuts answer when they found its end. The price stays
    within (1 + max_premium) x the market's (`capped`). After `give_up_months` harvesting
    months in a row below `give_up_share` of demand the niche is gone and it exits.
    """

    Params = PenetrationParams
    params: PenetrationParams
    classifier = Classifier(uses_rival_prices=True, uses_demand_estimates=True, stochastic=False)

    def __init__(self, params: PenetrationParams) -> None:
        super().__init__(params)
        self.reference_share: float | None = None
        """Demand share when harvesting began; None while buying share."""
        self.months_below = 0
        """Harvesting months in a row below `give_up_share`."""

    def decide(self, me: Firm, market: MarketView, rng: np.random.Generator) -> Decision:
        """Post the target price; signal an exit once the niche is gone."""
        decision = super().decide(me, market, rng)
        if self.months_below >= self.params.give_up_months:
            return Decision(decision.price_usd_per_mtok, 0.0, 0.0, exit=True)
        return decision

    def target_price(self, me: Firm, market: MarketView) -> float:  # noqa: D102
        p = self.params
        share = float(market.demand_share[me.index])
        cost = full_cost(me, p)
        if self.reference_share is None:
            if share < p.share_target and market.step < p.raise_after_month:
                return cost * (1.0 + p.margin)
            self.reference_share = share
        self.months_below = self.months_below + 1 if share < p.give_up_share else 0
        holds = share > 0.0 and share >= (1.0 - p.share_tolerance) * self.reference_share
        step = 1.0 + p.raise_rate if holds else 1.0 - p.raise_rate
        return capped(max(me.price_usd_per_mtok * step, cost), me, market, p)


class FollowerParams(PostingParams):
    """Parameters of `follower`."""

    offset: float = param(
        0.0, unit="share of median price", doc="premium over the median rival", ge=-0.5, le=2
    )
    floor_fraction: float = param(1.0, unit="share of full cost", doc="the price floor", ge=0, le=2)


class Follower(_Posting):
    """Price at the median active rival (plus `offset`), never below full cost x floor.

    Price leadership by a barometric leader (Stigler 1947, J. Polit. Econ. 55(5); Markham
    1951): a small firm without a demand estimate takes the going price as its signal of
    what the market bears.
    """

    Params = FollowerParams
    params: FollowerParams
    classifier = Classifier(uses_rival_prices=True, uses_demand_estimates=False, stochastic=False)

    def target_price(self, me: Firm, market: MarketView) -> float:  # noqa: D102
        p = self.params
        floor = p.floor_fraction * full_cost(me, p)
        return max(market_price(me, market) * (1.0 + p.offset), floor)


class BestResponseParams(BoundedParams):
    """Parameters of `best_response`."""

    price_sensitivity: float = redefault(DifferentiationParams, "price_sensitivity", 0.0)
    max_price_change: float = redefault(PostingParams, "max_price_change", 0.2)
    max_premium: float = redefault(BoundedParams, "max_premium", 20.0)


class BestResponse(_Posting):
    """Myopic best response to rivals' current prices under the logit demand it can estimate.

    Inverts observed shares into mean utilities (Berry 1994, RAND J. Econ. 25(2):
    delta_k - delta_0 = ln(s_k / s_0)), adds back its own price term to recover its non-price
    utility, then sets the price that maximises (p - c) s(p) with rivals' prices, hence their
    s_k / s_0, fixed (Calvano et al. 2020, AER 110(10)), c being its full cost (the
    long-run marginal cost: see the module's docstring). The price coefficient is the
    market's demand-weighted alpha / mu unless `price_sensitivity` is given. Capped by
    `capped`, which binds where the log-price demand is inelastic.
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
        cost = full_cost(me, p)
        ceiling = capped(float("inf"), me, market, p)  # the cap itself
        return theory.logit_best_response(
            float(np.log(own / s0) + a * f_own),
            cost,
            a,
            others,
            price_utility=market.price_utility,
            p_max=ceiling,
        )
