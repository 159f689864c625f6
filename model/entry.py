"""Entry driven by expected value: a potential entrant enters when its firm is worth its cost.

The free-entry condition of industrial organization: firms enter while the profit an entrant
expects after entry covers its sunk cost of entering (Bresnahan & Reiss 1991, JPE 99(5), who
read market size thresholds off it; in dynamic industry models, Hopenhayn 1992, Econometrica
60(5), and Ericson & Pakes 1995, RES 62(1): enter when the value of an entrant exceeds the
entry cost). Here each potential entrant (`schema.PotentialEntrant`) weighs entering every
`market.entry_review_months` from its `earliest_step`:

- its demand is the market's own logit demand (`TokenMarket._entrant_demand`): the
  probability that each developer with access chooses it, at the prices rivals post now
  (static expectations, as in Bresnahan & Reiss's post-entry profit), times the share aware
  of it at entry, times the developer's demand; reached as developers review their choice,
  and growing as the demand of the regions its customers live in, by a damped trend
  (Gardner & McKenzie 1985, the exit forecast's);
- its cost is its own full cost at its strategy's target utilization, capacity sized to
  that demand (`Provider.average_cost`), capex paid when bought (`finance.entry_value`);
- its launch price is the one of a grid around the going prices that maximizes that value
  (a best response to rivals' current prices, on full cost); its strategy runs it after.

It enters when the net present value (firm value less the capex of its first fleet and its
sunk cost) is positive and the firm's value is at least `market.entry_hurdle` times the
entry cost (Dixit & Pindyck 1994, Investment under Uncertainty, ch. 5: waiting has value, so
an irreversible investment needs its value to exceed its cost by a margin). Two of its
simplifications pull in opposite directions: a reviewing developer is taken to choose
freely (no switching cost: optimistic), and awareness is held at its level at entry (no
diffusion: pessimistic). No random draw decides; the awareness drawn at entry is the NEWS stream's.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tokenmarket.agents.provider import GROWTH_BOUNDS
from tokenmarket.model import finance

if TYPE_CHECKING:
    from tokenmarket.agents.provider import Provider
    from tokenmarket.model.schema import Market

PRICE_GRID = np.geomspace(0.25, 4.0, 13)
"""Launch prices an entrant considers, as multiples of the median active provider's price
(steps of 26 %)."""


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """The best entry an entrant sees this month, at its launch price."""

    price_usd_per_mtok: float
    demand_mtok: float
    """Expected demand in the entry month (Mtok/month)."""
    capacity_mtok: float
    """First fleet: the entry month's demand at the target utilization (Mtok/month)."""
    growth_per_month: float
    """Growth of its demand from the entry month to the next, as its capacity plan's."""
    capex_usd: float
    """Capex of the first fleet."""
    sunk_cost_usd: float
    npv_usd: float
    """Value of the firm at entry (`finance.entry_value`, first fleet's capex paid) less the
    sunk cost."""

    @property
    def entry_cost_usd(self) -> float:
        """Capex of the first fleet plus the sunk cost."""
        return self.capex_usd + self.sunk_cost_usd

    def worth_it(self, hurdle: float) -> bool:
        """Positive NPV, and firm value >= `hurdle` x entry cost (1: the free-entry rule)."""
        value = self.npv_usd + self.entry_cost_usd
        return self.npv_usd > 0.0 and value >= hurdle * self.entry_cost_usd


def price_grid(active_prices_usd_per_mtok: np.ndarray) -> np.ndarray:
    """Launch prices to weigh: `PRICE_GRID` times the median active price (USD/Mtok)."""
    return PRICE_GRID * float(np.median(active_prices_usd_per_mtok))


def plan(
    firm: Provider,
    prices_usd_per_mtok: np.ndarray,
    demand_mtok: np.ndarray,
    growth_per_month: np.ndarray,
    sunk_cost_usd: float,
    market: Market,
    review_probability: float,
) -> EntryPlan:
    """The value-maximizing launch price among `prices_usd_per_mtok`, and its entry plan.

    `demand_mtok[i]` and `growth_per_month[i]` are the demand expected at price i once
    developers have chosen, and its monthly growth. They choose only when they review, with
    probability rho a month (`review_probability`), so by month k a share 1 - (1 - rho)^(k+1)
    has: month k's demand is that share of D_0 prod_{i<=k} (1 + g phi^i) (a damped trend,
    phi = `market.exit_trend_damping`, g bounded as a provider's plan is), over
    `market.exit_forecast_months` (the perpetuity beyond holds the share reached, which
    errs low); capacity is D_k / u_target; operating cash is revenue less R&D (`rnd_share`
    of it, for strategies that declare one) less full cost net of amortization.
    """
    params = firm.strategy.params
    utilization = params.target_utilization
    rnd_share = getattr(params, "rnd_share", 0.0)  # learners declare no R&D
    life = firm.amortization_months
    unit_capex = firm.capex_per_unit_usd
    ahead = np.arange(1, market.exit_forecast_months + 1, dtype=np.float64)
    adopted = 1.0 - (1.0 - review_probability) ** np.concatenate(([1.0], ahead + 1.0))
    per_mtok, fixed = cost_in_capacity(firm, utilization)
    best: EntryPlan | None = None
    for price, d0, growth in zip(prices_usd_per_mtok, demand_mtok, growth_per_month, strict=True):
        g = float(np.clip(growth, *GROWTH_BOUNDS))
        trend = np.cumprod(np.concatenate(([1.0], 1.0 + g * market.exit_trend_damping**ahead)))
        path = d0 * trend * adopted
        capacity = path / utilization
        full_cost = per_mtok * path + fixed * utilization  # AC(u, K) u K, K = path / u
        operating = price * (1.0 - rnd_share) * path - full_cost + unit_capex * capacity / life
        value = finance.entry_value(
            operating,
            capacity,
            unit_capex,
            life,
            market.discount_rate_per_year,
            market.terminal_growth_per_year,
        )
        candidate = EntryPlan(
            float(price),
            float(path[0]),
            float(capacity[0]),
            float(path[1] / path[0] - 1.0) if path[0] > 0 else 0.0,
            unit_capex * float(capacity[0]),
            sunk_cost_usd,
            value - sunk_cost_usd,
        )
        if best is None or candidate.npv_usd > best.npv_usd:
            best = candidate
    if best is None:
        raise ValueError("plan: no launch price to weigh")
    return best


def cost_in_capacity(firm: Provider, utilization: float) -> tuple[float, float]:
    """(a, b) of the firm's average cost AC(u, K) = a + b / K at utilization u (USD/Mtok).

    Average cost is affine in 1 / K, the fixed opex spread over capacity
    (`costs.average_cost`); two evaluations give its coefficients, so a plan costs a whole
    capacity path at once.
    """
    one, two = firm.average_cost(utilization, 1.0), firm.average_cost(utilization, 2.0)
    return 2.0 * two - one, 2.0 * (one - two)


def turnover(providers: pd.DataFrame, incumbents: Collection[str]) -> pd.DataFrame:
    """Entries and exits of a run, one row each: `step`, `provider`, `event` (enters, exits).

    From `provider_frame()`'s `active` column: a provider other than an incumbent enters in
    its first active month; a provider exits in the month it leaves (booked, then gone: the
    first month whose row is inactive).
    """
    rows = []
    for name, history in providers.sort_values("step").groupby("provider", sort=False):
        active = history["active"].to_numpy(dtype=bool)
        steps = history["step"].to_numpy()
        was = np.concatenate(([name in incumbents], active[:-1]))
        rows += [(int(s), name, "enters") for s in steps[active & ~was]]
        rows += [(int(s), name, "exits") for s in steps[~active & was]]
    frame = pd.DataFrame(rows, columns=["step", "provider", "event"]).astype({"step": int})
    return frame.sort_values(["step", "event", "provider"], ignore_index=True)
