"""Firms that learn their prices: tabular Q-learning (Calvano et al. 2020) and an EXP3 bandit.

Both choose each month one point of a grid of price multipliers of their own full cost,
AC(u_target) (the average cost at the utilization they plan for, capacity included), and
post that multiple of this month's AC. The grid is anchored on own full cost, not on the
market's mean price, because that makes an action mean the same thing ("a 30 % markup")
whatever rivals do and however costs drift, so what a firm learned stays valid; a grid
around the market's mean would move with rivals' prices and mix the firm's choice with
theirs. Capacity and R&D follow the declared shared rules (`base.capacity_order`, R&D as a
share of revenue), so a sweep can hold them equal to the rule-based firms'.

Rewards are last month's profit divided by `profit_scale`, the full cost of an equal share
of the market's demand: dimensionless, of order one, and stationary while the whole market
grows, so Q values and bandit weights stay well conditioned over a long run.

All draws come from the `rng` the model passes each month (its STRATEGY stream), so a run
is fixed by its seed.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import ValidationInfo, field_validator

from tokenmarket.agents.strategies.base import (
    Classifier,
    Decision,
    Firm,
    MarketView,
    PostingParams,
    Strategy,
    StrategyParams,
    capacity_order,
    param,
    redefault,
)
from tokenmarket.model import qlearning
from tokenmarket.model.demand import price_term

MULTIPLIER = "share of full cost AC(u_target)"


class LearnerParams(StrategyParams):
    """The price grid, and capacity and R&D by the shared rules."""

    low_multiplier: float = param(
        0.9, unit=MULTIPLIER, doc="lowest price of the grid", ge=0.01, le=50.0
    )
    high_multiplier: float = param(
        3.0, unit=MULTIPLIER, doc="highest price of the grid", ge=0.01, le=100.0
    )
    grid_points: int = param(
        8, unit="prices", doc="number of equally spaced prices on the grid", ge=2, le=50
    )
    capacity_headroom: float = redefault(PostingParams, "capacity_headroom", 1.0)
    rnd_share: float = redefault(PostingParams, "rnd_share", 0.0)

    @field_validator("high_multiplier")
    @classmethod
    def _above_low(cls, high: float, info: ValidationInfo) -> float:
        low = info.data.get("low_multiplier", 0.0)
        if high <= low:
            raise ValueError(f"must exceed low_multiplier ({high} <= {low})")
        return high


def active_rivals(me: Firm, market: MarketView) -> np.ndarray:
    """Mask of the active providers other than me."""
    mask = np.asarray(market.active, dtype=bool).copy()
    mask[me.index] = False
    return mask


def rivals_price(me: Firm, market: MarketView) -> float:
    """Demand-share-weighted mean price of the active rivals (USD/Mtok); mine if I am alone.

    The price a customer leaving me would mostly pay: rivals with no demand weigh nothing
    unless all have none. A monopolist's state is its own last price.
    """
    rivals = active_rivals(me, market)
    if not rivals.any():
        return me.price_usd_per_mtok
    prices = market.price_usd_per_mtok[rivals]
    weights = market.demand_share[rivals]
    return float(np.average(prices, weights=weights) if weights.sum() > 0 else prices.mean())


def market_demand_mtok(me: Firm, market: MarketView) -> float | None:
    """The market's whole demand (outside option included) implied by my demand and share."""
    share = float(market.demand_share[me.index])
    return me.demand_mtok / share if share > 0 and me.demand_mtok > 0 else None


def profit_scale(me: Firm, market: MarketView, utilization: float) -> float | None:
    """Full cost (USD) of an equal share of the market's demand; None if it cannot be read.

    The denominator of the learners' rewards: a profit of one scale unit is a 100 % margin
    on a fair share of the market, whatever the market's size.
    """
    total = market_demand_mtok(me, market)
    if total is None:
        return None
    n_firms = int(np.count_nonzero(market.active))
    return me.average_cost(utilization) * total / max(n_firms, 1)


class _GridLearner(Strategy):
    """A learner over a grid of price multipliers of full cost; capacity and R&D shared."""

    params: LearnerParams

    def __init__(self, params: LearnerParams) -> None:
        super().__init__(params)
        self.multipliers = np.linspace(
            params.low_multiplier, params.high_multiplier, params.grid_points
        )
        self.scale: float | None = None
        """USD per unit of reward: the last `profit_scale` that could be read."""

    def full_cost(self, me: Firm) -> float:
        """AC at the target utilization (USD/Mtok): the grid's anchor this month."""
        return me.average_cost(self.params.target_utilization)

    def position(self, price: float, me: Firm) -> int:
        """Index of the grid multiplier nearest to price / full cost."""
        return int(np.abs(self.multipliers - price / self.full_cost(me)).argmin())

    def reward(self, me: Firm, market: MarketView) -> float | None:
        """Last month's profit in scale units; None before a scale can be read."""
        self.scale = profit_scale(me, market, self.params.target_utilization) or self.scale
        return None if self.scale is None else me.profit_usd / self.scale

    def post(self, me: Firm, action: int) -> Decision:
        """Post grid price `action`; R&D and capacity by the shared, declared rules."""
        p = self.params
        return Decision(
            float(self.multipliers[action] * self.full_cost(me)),
            p.rnd_share * me.revenue_usd,
            capacity_order(me, p.target_utilization, p.capacity_headroom),
        )


class QLearningParams(LearnerParams):
    """Parameters of `q_learning` (Calvano et al. 2020's names)."""

    alpha: float = param(0.15, unit="share", doc="learning rate", ge=0.0, le=1.0)
    delta: float = param(
        0.95, unit="per month", doc="discount factor of future rewards", ge=0.0, le=0.999
    )
    beta: float = param(
        0.02,
        unit="per month",
        doc="exploration decay: explores with probability exp(-beta t) in its t-th month",
        ge=0.0,
        le=10.0,
    )


class QLearning(_GridLearner):
    """Tabular Q-learning over a price grid with one month's memory (Calvano et al. 2020).

    State: last month's own grid price and the rivals' share-weighted mean price placed on
    the same grid of my full cost (m^2 states; with two symmetric firms, exactly the
    paper's profile of both prices). Epsilon-greedy with eps_t = exp(-beta t), update
    Q(s, a) <- (1 - alpha) Q(s, a) + alpha (r + delta max_a' Q(s', a')) (Watkins & Dayan
    1992) with `model.qlearning.update_q`. Q_0 is the paper's eq. 8, the discounted profit
    of each price against rivals who price uniformly on the grid, with profits from the
    logit demand the firm estimates in its first month (Berry 1994 inversion of shares, the
    market's price sensitivity): in the logit duopoly that estimate is exact and Q_0 is the
    paper's. Calvano et al. find such learners settle above the static Nash price.
    """

    Params = QLearningParams
    params: QLearningParams
    classifier = Classifier(
        uses_rival_prices=True, uses_demand_estimates=True, stochastic=True, learns=True
    )

    def __init__(self, params: QLearningParams) -> None:
        super().__init__(params)
        self.q: np.ndarray | None = None
        """(1, m^2, m) Q table of `model.qlearning`'s layout; None before the first month."""
        self.greedy: np.ndarray | None = None
        self.visits = np.zeros((params.grid_points**2, params.grid_points), dtype=np.int64)
        """Updates of each Q cell so far: how much of the table rests on experience."""
        self.state = 0
        self.action = 0
        self.months = 0

    def state_now(self, own: int, me: Firm, market: MarketView) -> int:
        """Profile index of (own grid price, rivals' position on my grid)."""
        rival = self.position(rivals_price(me, market), me)
        return qlearning.profile_index([own, rival], self.params.grid_points)

    def estimated_rewards(self, me: Firm, market: MarketView) -> np.ndarray:
        """(m^2, 2) rewards at each (own price, rivals' price) profile; column 1 unused.

        Logit demand as the firm can estimate it (the inversion of `best_response`): my
        mean utility over the outside good ln(s/s0) shifts by -a (f(p) - f(p_last)), the
        rivals' by -a (f(r) - f(r_last)); sales are capped by capacity; the fixed cost of
        capacity, (AC(u) - MC) u K, is subtracted. Zero where shares cannot be read.
        """
        m = self.params.grid_points
        table = np.zeros((m * m, 2))
        a, s0 = market.price_sensitivity, market.outside_share
        own_share = float(market.demand_share[me.index])
        total = market_demand_mtok(me, market)
        if total is None or s0 <= 0 or a <= 0 or self.scale is None:
            return table
        rivals = active_rivals(me, market)
        others = float(market.demand_share[rivals].sum()) / s0
        prices = self.multipliers * self.full_cost(me)
        f = price_term(prices, market.price_utility)
        last = np.array([me.price_usd_per_mtok, rivals_price(me, market)])
        f_mine, f_theirs = price_term(last, market.price_utility)
        mine = own_share / s0 * np.exp(-a * (f - f_mine))
        theirs = others * np.exp(-a * (f - f_theirs))
        share = mine[:, None] / (1.0 + mine[:, None] + theirs[None, :])
        mc = me.marginal_cost_usd_per_mtok
        u = self.params.target_utilization
        fixed = (self.full_cost(me) - mc) * u * me.capacity_mtok
        profit = (prices[:, None] - mc) * np.minimum(total * share, me.capacity_mtok) - fixed
        # profile s = own + m * rival: own varies fastest, i.e. along the second C axis
        table[:, 0] = profit.T.ravel() / self.scale
        return table

    def decide(self, me: Firm, market: MarketView, rng: np.random.Generator) -> Decision:
        """Learn from last month's profit, then play epsilon-greedy from the new state."""
        p = self.params
        reward = self.reward(me, market)
        q, greedy = self.q, self.greedy
        if q is None or greedy is None:
            estimate = self.estimated_rewards(me, market)
            q = qlearning.initial_q(estimate, p.grid_points, p.delta)[:1]
            greedy = qlearning.greedy_actions(q)
            self.q, self.greedy = q, greedy
            self.state = self.state_now(self.position(me.price_usd_per_mtok, me), me, market)
        else:
            new_state = self.state_now(self.action, me, market)
            if reward is not None:
                future = float(q[0, new_state, int(greedy[0, new_state])])
                target = reward + p.delta * future
                qlearning.update_q(q, greedy, 0, self.state, self.action, target, p.alpha)
                self.visits[self.state, self.action] += 1
            self.state = new_state
        explore = rng.random() < math.exp(-p.beta * self.months)
        self.action = int(rng.integers(p.grid_points) if explore else greedy[0, self.state])
        self.months += 1
        return self.post(me, self.action)


class Exp3Params(LearnerParams):
    """Parameters of `exp3`."""

    gamma: float = param(
        0.3,
        unit="share",
        doc="exploration share and learning rate: gamma/K per unit importance-weighted reward",
        ge=0.001,
        le=1.0,
    )


class Exp3(_GridLearner):
    """EXP3 bandit over price multipliers (Auer, Cesa-Bianchi, Freund & Schapire 2002).

    No state: the full market's state (every rival's price, quality, capacity, awareness)
    is too large for a table, and rivals that adapt make rewards non-stationary and
    adversarial, the case EXP3 is built for (its regret bound holds against any reward
    sequence). Plays price k with probability (1 - gamma) w_k / sum w + gamma / K; after
    the month updates ln w_k += gamma r / (p_k K) for the price played, with the reward
    r = clip(0.5 + profit / (2 scale), 0, 1) in [0, 1] as the algorithm requires (a loss
    of a scale unit or worse is 0, a profit of one or more is 1). Auer et al.'s Corollary
    3.2 gamma = sqrt(K ln K / ((e - 1) T)) is about 0.3 for K = 8 and T = 100 months.
    """

    Params = Exp3Params
    params: Exp3Params
    classifier = Classifier(
        uses_rival_prices=False, uses_demand_estimates=True, stochastic=True, learns=True
    )

    def __init__(self, params: Exp3Params) -> None:
        super().__init__(params)
        self.log_weights = np.zeros(params.grid_points)
        self.arm: int | None = None
        self.probability = 1.0

    def probabilities(self) -> np.ndarray:
        """The mixed strategy over grid prices: exponential weights plus uniform exploration."""
        gamma, k = self.params.gamma, self.params.grid_points
        weights = np.exp(self.log_weights - self.log_weights.max())
        return (1.0 - gamma) * weights / weights.sum() + gamma / k

    def decide(self, me: Firm, market: MarketView, rng: np.random.Generator) -> Decision:
        """Credit last month's price with its importance-weighted reward, then draw a price."""
        gamma, k = self.params.gamma, self.params.grid_points
        reward = self.reward(me, market)
        if self.arm is not None and reward is not None:
            bounded = min(max(0.5 + 0.5 * reward, 0.0), 1.0)
            self.log_weights[self.arm] += gamma * bounded / (self.probability * k)
        probabilities = self.probabilities()
        self.arm = int(rng.choice(k, p=probabilities))
        self.probability = float(probabilities[self.arm])
        return self.post(me, self.arm)
