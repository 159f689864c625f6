"""Pattern-oriented validation of `going_global` against what the real market did.

Each pattern (runs/validation/patterns.toml) names a measurable quantity, a target band and
its source. The model's value is measured on several seeds and reported as a mean with a 95%
t-interval; a pattern is met when the mean falls in the band. A pattern the model cannot
reach is reported as a miss, never forced.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from tokenmarket.model.demand import OUTSIDE
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.metrics import cross_border_by_home
from tokenmarket.runs.analysis import t_interval


@dataclass(frozen=True)
class Pattern:
    """A real-market pattern: what to measure, over which months, the band and its source."""

    name: str
    description: str
    metric: str
    months: tuple[int, int]
    low: float
    high: float
    source: str
    passes: bool
    region: str | None = None
    numerator: tuple[str, ...] = ()
    later: tuple[int, int] | None = None
    segment: str | None = None
    reference_segment: str | None = None
    tiers: tuple[str, ...] = ()


def load_patterns() -> list[Pattern]:
    """The patterns of the data file, in its order."""
    text = resources.files("tokenmarket.runs.validation").joinpath("patterns.toml").read_text()
    rows = tomllib.loads(text)["patterns"]
    return [
        Pattern(
            **{k: v for k, v in row.items() if k not in ("months", "later", "numerator", "tiers")},
            months=tuple(row["months"]),
            later=tuple(row["later"]) if "later" in row else None,
            numerator=tuple(row.get("numerator", ())),
            tiers=tuple(row.get("tiers", ())),
        )
        for row in rows
    ]


def _months(frame: pd.DataFrame, span: tuple[int, int]) -> pd.DataFrame:
    return frame[frame["step"].between(*span)]


def _price_paid(
    frame: pd.DataFrame, spend: str = "revenue_usd", tokens: str = "tokens_mtok"
) -> float:
    """USD paid per Mtok over the rows: spend over tokens (token-weighted tier prices)."""
    return float(frame[spend].sum() / frame[tokens].sum())


@dataclass
class _Run:
    """One seed's outputs, with what the metrics need beyond the frames."""

    providers: pd.DataFrame
    segments: pd.DataFrame
    products: pd.DataFrame
    open_weights: set[str]
    switching: dict[tuple[int, int], float] = field(default_factory=dict)


def _region_token_share(run: _Run, p: Pattern) -> float:
    rows = _months(run.providers, p.months)
    return float(rows[rows["region"] == p.region].groupby("step")["token_share"].sum().mean())


def _open_weights_token_share(run: _Run, p: Pattern) -> float:
    rows = _months(run.providers, p.months)
    return float(
        rows[rows["provider"].isin(run.open_weights)].groupby("step")["token_share"].sum().mean()
    )


def _price_ratio(run: _Run, p: Pattern) -> float:
    rows = _months(run.providers, p.months)
    return _price_paid(rows[rows["provider"].isin(p.numerator)]) / _price_paid(
        rows[rows["region"] == p.region]
    )


def _price_change(run: _Run, p: Pattern) -> float:
    assert p.later is not None
    before, after = _months(run.providers, p.months), _months(run.providers, p.later)
    return _price_paid(after[after["region"] == p.region]) / _price_paid(
        before[before["region"] == p.region]
    )


def _annual_switching(run: _Run, p: Pattern) -> float:
    return run.switching[p.months]


SEGMENT_SPEND = ("spend_usd", "served_mtok")
"""Columns of `segment_frame()` a segment's price paid is read from."""


def _segment_rows(run: _Run, p: Pattern, segment: str | None) -> pd.DataFrame:
    """A segment's rows over the pattern's months, with each provider's home region."""
    rows = _months(run.segments, p.months)
    keys = run.providers[["step", "provider", "region"]]
    return rows[rows["segment"] == segment].merge(keys, on=["step", "provider"], how="left")


def _segment_region_token_share(run: _Run, p: Pattern) -> float:
    """Share of the segment's served tokens bought from providers homed in the region."""
    rows = _segment_rows(run, p, p.segment)
    return float(
        rows.loc[rows["region"] == p.region, "served_mtok"].sum() / rows["served_mtok"].sum()
    )


def _segment_region_spend_share(run: _Run, p: Pattern) -> float:
    """Share of the segment's spend (USD) paid to providers homed in the region."""
    rows = _segment_rows(run, p, p.segment)
    return float(rows.loc[rows["region"] == p.region, "spend_usd"].sum() / rows["spend_usd"].sum())


def _tier_token_share(run: _Run, p: Pattern) -> float:
    """Share of all tokens served on the named tiers (any provider), mean over the months."""
    rows = _months(run.products, p.months)
    named = rows["served_mtok"].where(rows["tier"].isin(p.tiers), 0.0)
    by_month = named.groupby(rows["step"]).sum() / rows.groupby("step")["served_mtok"].sum()
    return float(by_month.mean())


def _segment_price_ratio(run: _Run, p: Pattern) -> float:
    """Token-weighted price paid by one segment over that paid by the reference segment."""
    return _price_paid(_segment_rows(run, p, p.segment), *SEGMENT_SPEND) / _price_paid(
        _segment_rows(run, p, p.reference_segment), *SEGMENT_SPEND
    )


METRICS: dict[str, Callable[[_Run, Pattern], float]] = {
    "region_token_share": _region_token_share,
    "open_weights_token_share": _open_weights_token_share,
    "price_ratio": _price_ratio,
    "price_change": _price_change,
    "annual_switching": _annual_switching,
    "segment_region_token_share": _segment_region_token_share,
    "segment_price_ratio": _segment_price_ratio,
    "segment_region_spend_share": _segment_region_spend_share,
    "tier_token_share": _tier_token_share,
}


def _simulate(patterns: list[Pattern], seed: int, scenario: str, overrides: dict[str, Any]) -> _Run:
    """Run to the last month any pattern needs, snapshotting choices where switching is read."""
    model = TokenMarket(scenario, rng=seed, **overrides)
    spans = [p.months for p in patterns if p.metric == "annual_switching"]
    snapshots = {month for span in spans for month in span}
    horizon = max(max(p.later or p.months) for p in patterns)
    choices: dict[int, np.ndarray] = {}
    for _ in range(horizon):
        model.step()
        if model.steps in snapshots:
            choices[model.steps] = model.chosen_provider()
    switching = {}
    for start, end in spans:
        both = (choices[start] != OUTSIDE) & (choices[end] != OUTSIDE)
        moved = choices[start][both] != choices[end][both]
        switching[(start, end)] = float(np.average(moved, weights=model.population.weight[both]))
    open_weights = {p.name for p in model.spec.all_providers if p.open_weights}
    return _Run(
        model.provider_frame(),
        model.segment_frame(),
        model.product_frame(),
        open_weights,
        switching,
    )


def validate(seeds: int = 10, scenario: str = "going_global", **overrides: Any) -> pd.DataFrame:
    """One row per pattern: target band and source, model mean and 95% interval, verdict."""
    patterns = load_patterns()
    runs = [_simulate(patterns, seed, scenario, overrides) for seed in range(seeds)]
    rows = []
    for p in patterns:
        values = np.array([METRICS[p.metric](run, p) for run in runs])
        ci_low, ci_high = t_interval(values)
        rows.append(
            {
                "pattern": p.name,
                "description": p.description,
                "low": p.low,
                "high": p.high,
                "mean": values.mean(),
                "ci_low": ci_low,
                "ci_high": ci_high,
                "met": bool(p.low <= values.mean() <= p.high),
                "recorded_pass": p.passes,
                "source": p.source,
            }
        )
    return pd.DataFrame(rows)


COST_VIEW_COLUMNS = (
    "electricity_share_of_opex",
    "electricity_share_of_cost",
    "unit_cost_usd_per_mtok",
)


def cost_views(
    seeds: int = 5, months: tuple[int, int] = (13, 24), scenario: str = "going_global"
) -> pd.DataFrame:
    """The two cost calibrations side by side, by provider home region (mean over seeds).

    Electricity's share of opex and of total cost, unit cost per Mtok, and the share of the
    region's tokens served abroad: what each view implies for the cost gap between regions
    and for cross-border share. Each is a ratio of the region's sums over the months (cost
    over tokens), so a provider's first months after entry, with little served, weigh by
    what they served, not as much as an incumbent's year.
    """
    rows = []
    for view in ("total", "operating"):
        for seed in range(seeds):
            model = TokenMarket(scenario, rng=seed, cost_view=view)
            model.run_for(months[1])
            providers = _months(model.provider_frame(), months)
            flows = _months(model.flow_frame(), months)
            by_region = _region_costs(providers)
            shares = cross_border_by_home(flows)
            by_region["cross_border_share"] = shares.reindex(by_region.index)
            rows.append(by_region.assign(cost_view=view, seed=seed).reset_index())
    table = pd.concat(rows).groupby(["cost_view", "region"])
    means = table[[*COST_VIEW_COLUMNS, "cross_border_share"]].mean().reset_index()
    # a region whose only providers had not entered by then has nothing to show
    return means.dropna(subset=list(COST_VIEW_COLUMNS), how="all").reset_index(drop=True)


def _region_costs(providers: pd.DataFrame) -> pd.DataFrame:
    """COST_VIEW_COLUMNS per home region, as ratios of the region's summed cost lines."""
    sums = providers.groupby("region")[
        ["electricity_usd", "opex_usd", "capex_usd", "served_mtok"]
    ].sum()
    electricity, opex, capex = sums["electricity_usd"], sums["opex_usd"], sums["capex_usd"]
    return pd.DataFrame(
        {
            "electricity_share_of_opex": electricity / (electricity + opex),
            "electricity_share_of_cost": electricity / (electricity + opex + capex),
            "unit_cost_usd_per_mtok": (electricity + opex + capex) / sums["served_mtok"],
        }
    ).replace([np.inf, -np.inf], np.nan)
