"""The side-by-side scorecard: which of two runs a provider did better in, and why.

Pure functions of the two runs' provider frames (no page, no model), so the verdict can be
tested against numbers chosen by hand. The two runs share preset and seed and differ in one
control; the scorecard follows one provider through both and says which run won on

- share: its token share in the last month (where the market ended up);
- profit: its profit summed over the months (USD);
- NPV: its discounted profit (`npv_usd` of the last month, the model's discount rate).

The reason is an accounting identity, not a story: the run's profit is tokens served times
profit per token served, P = S x m, so the profit gap splits exactly into a volume effect
and a margin effect, dP = m_mean dS + S_mean dm (the two-factor Shapley split: each factor's
change valued at the mean of the other, which leaves no residual). The larger effect is the
main cause; the average price (revenue / tokens) says how the margin and volume came about.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from tokenmarket.runs.app.figures import TOKEN_UNITS

Arm = Literal["A", "B"]
MEASURES = ("share", "profit", "NPV")

SHARE_TIE = 0.005
"""Shares closer than half a percentage point of tokens are a draw: one seed's noise."""
MONEY_TIE = 0.01
"""Profits (or NPVs) closer than 1% of the larger of the two are a draw."""
MINOR = 0.1
"""An effect under a tenth of the other is not named as helping or outweighed."""


@dataclass(frozen=True)
class Outcome:
    """One provider's run, summed over its months."""

    share: float
    """Token share in the last month (fraction of tokens served worldwide)."""
    profit_usd: float
    """Profit summed over the months (USD)."""
    npv_usd: float
    """Discounted profit over the months (USD)."""
    served_mtok: float
    """Tokens served over the months (million tokens)."""
    revenue_usd: float
    """Revenue over the months (USD)."""
    exit_step: int | None
    """The first month it was inactive after having been active; None: it stayed in."""

    @property
    def price_usd_per_mtok(self) -> float:
        """Average price paid for its tokens (revenue / tokens served; NaN if none served)."""
        return self.revenue_usd / self.served_mtok if self.served_mtok > 0 else math.nan

    @property
    def margin_usd_per_mtok(self) -> float:
        """Profit per million tokens served, after all costs (NaN if none served)."""
        return self.profit_usd / self.served_mtok if self.served_mtok > 0 else math.nan

    def measure(self, name: str) -> float:
        """The value a measure of `MEASURES` compares."""
        return {"share": self.share, "profit": self.profit_usd, "NPV": self.npv_usd}[name]


def outcome(providers: pd.DataFrame, provider: str) -> Outcome:
    """`provider`'s outcome in a run's provider frame (`TokenMarket.provider_frame()`)."""
    rows = providers[providers["provider"] == provider].sort_values("step")
    if rows.empty:
        raise ValueError(f"provider: {provider!r} is not in the run")
    active = rows["active"].astype(bool).to_numpy()
    entered = active.cumsum() > 0
    gone = rows["step"].to_numpy()[entered & ~active]
    return Outcome(
        share=float(rows["token_share"].iloc[-1]),
        profit_usd=float(rows["profit_usd"].sum()),
        npv_usd=float(rows["npv_usd"].iloc[-1]),
        served_mtok=float(rows["served_mtok"].sum()),
        revenue_usd=float(rows["revenue_usd"].sum()),
        exit_step=int(gone[0]) if len(gone) else None,
    )


def winner(measure: str, a: float, b: float) -> Arm | None:
    """The run with the larger value, or None for a draw (`SHARE_TIE`, `MONEY_TIE`)."""
    tie = SHARE_TIE if measure == "share" else MONEY_TIE * max(abs(a), abs(b))
    if abs(a - b) <= tie:
        return None
    return "A" if a > b else "B"


def profit_split(a: Outcome, b: Outcome) -> tuple[float, float]:
    """(volume effect, margin effect) of B's profit minus A's, in USD; they sum to the gap.

    Tokens valued at the mean margin, margins at the mean tokens (exact for P = S x m).
    A run that served nothing has no margin: the whole gap is then the margin effect.
    """
    if a.served_mtok <= 0 or b.served_mtok <= 0:
        return 0.0, b.profit_usd - a.profit_usd
    mean_margin = (a.margin_usd_per_mtok + b.margin_usd_per_mtok) / 2.0
    mean_served = (a.served_mtok + b.served_mtok) / 2.0
    volume = mean_margin * (b.served_mtok - a.served_mtok)
    margin = mean_served * (b.margin_usd_per_mtok - a.margin_usd_per_mtok)
    return volume, margin


@dataclass(frozen=True)
class Scorecard:
    """The comparison of one provider across runs A and B."""

    provider: str
    labels: dict[Arm, str]
    """What each run set the control to, e.g. {"A": "low_price", "B": "differentiation"}."""
    outcomes: dict[Arm, Outcome]
    winners: dict[str, Arm | None]
    """Measure -> the run that won it, None for a draw."""
    leaders: dict[Arm, tuple[str, float]]
    """Each run's largest provider in the last month and its token share."""
    months: int
    reason: str
    """Why, in one sentence computed from the runs."""


def scorecard(a: pd.DataFrame, b: pd.DataFrame, provider: str, labels: dict[Arm, str]) -> Scorecard:
    """Compare `provider` across the provider frames of runs A and B (same months)."""
    outcomes: dict[Arm, Outcome] = {"A": outcome(a, provider), "B": outcome(b, provider)}
    winners = {m: winner(m, outcomes["A"].measure(m), outcomes["B"].measure(m)) for m in MEASURES}
    leaders: dict[Arm, tuple[str, float]] = {}
    for arm, frame in (("A", a), ("B", b)):
        last = frame[frame["step"] == frame["step"].max()].set_index("provider")["token_share"]
        leaders[arm] = (str(last.astype(float).idxmax()), float(last.max()))
    return Scorecard(
        provider=provider,
        labels=labels,
        outcomes=outcomes,
        winners=winners,
        leaders=leaders,
        months=int(a["step"].max()),
        reason=reason(provider, outcomes, winners),
    )


MONEY_UNITS = ((1e9, "bn"), (1e6, "M"), (1e3, "k"), (1.0, ""))
"""USD divisors and their names, largest first."""


def money(usd: float) -> str:
    """USD in the largest unit it reaches, signed: 'USD -3.2 M', 'USD 12.0 k'."""
    divisor, unit = next((d, u) for d, u in MONEY_UNITS if abs(usd) >= d or d == 1.0)
    return f"USD {usd / divisor:,.1f} {unit}".rstrip()


def tokens(first: float, second: float) -> str:
    """Two amounts of million tokens in one readable unit: '111.9 vs 153.1 trillion tokens'."""
    peak = max(abs(first), abs(second))
    divisor, unit = next((d, u) for d, u in TOKEN_UNITS if peak >= d or d == 1.0)
    return f"{first / divisor:,.1f} vs {second / divisor:,.1f} {unit} tokens"


def _change(new: float, old: float) -> str:
    """'35% more' / '2.1 times as many' / '40% fewer' / 'about as many' of `new` vs `old`."""
    if old <= 0:
        return "more" if new > old else "as many"
    ratio = new / old
    if abs(ratio - 1.0) < 0.005:
        return "about as many"
    if ratio >= 2.0:
        return f"{ratio:.1f} times as many"
    return f"{abs(ratio - 1.0):.0%} {'more' if ratio >= 1.0 else 'fewer'}"


def _share_clause(outcomes: dict[Arm, Outcome], share_won: Arm | None, profit_won: Arm) -> str:
    """Who kept more share, said against the run that made more profit."""
    w, lo = outcomes[profit_won], outcomes["B" if profit_won == "A" else "A"]
    if share_won is None:
        return f"share was about even ({w.share:.0%} vs {lo.share:.0%})"
    if share_won == profit_won:
        return f"it also won share ({w.share:.0%} vs {lo.share:.0%})"
    return f"{share_won} kept more share ({lo.share:.0%} vs {w.share:.0%})"


def reason(provider: str, outcomes: dict[Arm, Outcome], winners: dict[str, Arm | None]) -> str:
    """One sentence: which run paid, through margin or volume, at what prices, with what share."""
    won = winners["profit"]
    if won is None:
        a, b = outcomes["A"], outcomes["B"]
        npv = f", NPV higher in {winners['NPV']} (its profit came sooner)" if winners["NPV"] else ""
        share = (
            f"{winners['share']} won share ({b.share:.0%} in B, {a.share:.0%} in A)"
            if winners["share"]
            else "share was about even"
        )
        return (
            f"{provider} made about the same profit in both runs ({money(a.profit_usd)} in A, "
            f"{money(b.profit_usd)} in B){npv}; {share}."
        )
    lost: Arm = "B" if won == "A" else "A"
    w, lo = outcomes[won], outcomes[lost]
    volume, margin = profit_split(lo, w)  # the winner's gain over the loser
    close = abs(margin) <= 0.005 * abs(w.profit_usd - lo.profit_usd)
    margin_text = (
        f"{'about the same' if close else 'a wider' if margin > 0 else 'a narrower'} margin "
        f"({w.margin_usd_per_mtok:,.2f} vs {lo.margin_usd_per_mtok:,.2f} USD per Mtok served)"
    )
    volume_text = (
        f"{_change(w.served_mtok, lo.served_mtok)} tokens sold "
        f"({tokens(w.served_mtok, lo.served_mtok)})"
    )
    by_margin = abs(margin) >= abs(volume)
    main, other = (margin_text, volume_text) if by_margin else (volume_text, margin_text)
    minor = min(abs(volume), abs(margin)) < MINOR * max(abs(volume), abs(margin))
    link = "helped by" if volume * margin >= 0 else "which outweighed"
    parts = []
    if lo.exit_step is not None and w.exit_step is None:
        parts.append(f"{provider} exited in month {lo.exit_step} in {lost}")
    gain = f"{provider} made {money(w.profit_usd - lo.profit_usd)} more profit in {won}"
    if lo.served_mtok > 0 and w.served_mtok > 0:
        prices = (
            f", at an average price of {w.price_usd_per_mtok:,.2f} vs "
            f"{lo.price_usd_per_mtok:,.2f} USD/Mtok"
        )
        if minor:
            parts.append(f"{gain}, from {main}; {other} changed it little{prices}")
        else:
            parts.append(f"{gain}, mostly from {main}, {link} {other}{prices}")
    else:
        parts.append(f"{gain}, having sold {tokens(w.served_mtok, lo.served_mtok)}")
    parts.append(_share_clause(outcomes, winners["share"], won))
    if winners["NPV"] is not None and winners["NPV"] != won:
        parts.append(f"NPV, which weighs early months more, favours {winners['NPV']}")
    return "; ".join(parts) + "."
