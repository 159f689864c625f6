"""Summaries, sensitivity indices and figures over a stored sweep; public for notebooks.

    data = load_sweep("results/sve")
    strategies = strategy_runs(data.summary, data.parameters)   # one row per run x strategy
    table = point_table(strategies, ["point", *data.parameters, "strategy"], ["token_share"])
    heatmap_figure(table, "electricity_CN", "switching_cost", "token_share")

Confidence intervals are Student-t intervals over replications (runs of one design point
differ only by seed, so they are independent draws of the same outcome); for fractions, the
t-interval on the logit scale, which stays in [0, 1] (`bounded_interval`). With a focal
provider, its strategies are compared pairwise on the same seeds (`paired_differences`). Sensitivity
indices (Sobol, Morris) are computed on the mean over replications of each point.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from tokenmarket.model import parameters
from tokenmarket.model.schema import Scenario
from tokenmarket.runs.plots import (
    MONTH_AXIS_LABEL,
    agg_figure,
    date_axis,
    event_dates,
    mark_events,
)
from tokenmarket.runs.store import (
    SUMMARY,
    TIMESERIES,
    StoreError,
    SweepStore,
    atomic_write,
    read_table,
)
from tokenmarket.runs.sweep import (
    ID_COLUMNS,
    Design,
    SweepSpec,
    parse_spec,
    salib_problem,
    sampler_rng,
)

ANALYSIS_DIR = "analysis"
CONFIDENCE = 0.95

STRATEGY_OUTCOMES = {
    "token_share": "token share (fraction of tokens served)",
    "developer_share": "developer share (fraction of developers)",
    "price_usd_per_mtok": "price, token-weighted (USD per million tokens)",
    "profit_usd": "profit (USD per month)",
    "npv_usd": "discounted cumulative profit, NPV (USD)",
    "cash_usd": "cash (USD)",
    "active_providers": "active providers (count)",
}
"""Per run and strategy, over the strategy's providers: sums, except the weighted price.
Tables hold the final month; time series every month."""

MARKET_OUTCOMES = {
    "hhi": "HHI on tokens served (0-1)",
    "mean_price_usd_per_mtok": "token-weighted mean price (USD per million tokens)",
    "outside_share": "outside option share of demand (fraction)",
    "consumer_surplus": "consumer surplus per developer (utils, logit log-sum)",
    "cross_border_share": "tokens served across borders (fraction)",
    "cross_border_export_share": "tokens served across borders from home: export (fraction)",
    "cross_border_investment_share": (
        "tokens served across borders from sites abroad: investment (fraction)"
    ),
    "active_providers": "active providers (count)",
}
"""Per run, from the market's final month (`market_<name>` columns of the summary)."""

SENSITIVITY_OUTCOMES = ("token_share", "profit_usd")
"""Strategy outcomes whose indices are computed, besides every market outcome."""


# --------------------------------------------------------------------------- loading
@dataclass
class SweepData:
    """A stored sweep: its manifest, spec, design, varied parameters and summary table."""

    root: Path
    manifest: dict[str, Any]
    spec: SweepSpec
    design: Design
    summary: pd.DataFrame

    @property
    def scenario(self) -> Scenario:
        """The sweep's base scenario, as resolved when the sweep started."""
        return Scenario.model_validate(self.manifest["identity"]["scenario"])

    @property
    def parameters(self) -> list[str]:
        """Names of the varied parameters (lists first, then ranges)."""
        return self.design.names

    def timeseries(self, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
        """Every month of every finished run (None if the spec kept no time series)."""
        folder = self.root / TIMESERIES
        if not self.spec.outputs.timeseries or not any(folder.glob("*.parquet")):
            return None
        return pd.read_parquet(folder, columns=list(columns) if columns else None)


def load_sweep(root: str | Path) -> SweepData:
    """Open a sweep directory; summary.parquet is rebuilt first if runs finished since.

    A StoreError if a finished run's file is missing or not as recorded (see `verify`).
    """
    root = Path(root)
    manifest = SweepStore.read_manifest(root)
    spec = parse_spec(manifest["spec"], where=str(root / "manifest.json"))
    store = SweepStore(root)
    store.check_whole()
    if not store.summary_is_current():
        store.build_summary()
    path = root / SUMMARY
    try:
        summary = read_table(path) if path.exists() else pd.DataFrame()
    except StoreError:  # a damaged summary is only an index of the run files: rebuild it
        store.build_summary()
        summary = read_table(path)
    return SweepData(root=root, manifest=manifest, spec=spec, design=Design(spec), summary=summary)


# --------------------------------------------------------------------------- tables
def strategy_runs(summary: pd.DataFrame, parameters: Sequence[str]) -> pd.DataFrame:
    """One row per run and strategy, over the strategy's providers.

    Shares, profit, NPV and cash are summed; the price is token-weighted; active providers
    are counted. A strategy is what a sweep compares, and one may have several providers.
    """
    keys = [*ID_COLUMNS, *parameters, "strategy"]
    served = summary["served_mtok"].astype(float).where(summary["active"], 0.0)
    frame = summary.assign(
        _served=served,
        _revenue=served * summary["price_usd_per_mtok"].astype(float),
        active_providers=summary["active"].astype(int),
    )
    grouped = frame.groupby(keys, sort=True, dropna=False)
    table = grouped[["token_share", "developer_share", "profit_usd", "npv_usd", "cash_usd"]].sum()
    table["active_providers"] = grouped["active_providers"].sum()
    revenue, tokens = grouped["_revenue"].sum(), grouped["_served"].sum()
    table["price_usd_per_mtok"] = (revenue / tokens.where(tokens > 0)).astype(float)
    return table[list(STRATEGY_OUTCOMES)].reset_index()


def market_runs(summary: pd.DataFrame, parameters: Sequence[str]) -> pd.DataFrame:
    """One row per run: the market's final month.

    An outcome the store lacks (a sweep stored by an older version) is missing (NaN), so an
    old sweep still analyses.
    """
    keys = [*ID_COLUMNS, *parameters]
    columns = {f"market_{name}": name for name in MARKET_OUTCOMES}
    last = summary.drop_duplicates("run_id")
    table = last.reindex(columns=[*keys, *columns]).rename(columns=columns)
    return table.sort_values("run_id").reset_index(drop=True)


def custom_runs(summary: pd.DataFrame, parameters: Sequence[str]) -> pd.DataFrame:
    """One row per run: the spec's custom outcomes by name (`outcome_<name>` columns)."""
    custom = [c for c in summary.columns if c.startswith("outcome_")]
    table = summary.drop_duplicates("run_id")[[*ID_COLUMNS, *parameters, *custom]]
    table = table.rename(columns={c: c.removeprefix("outcome_") for c in custom})
    return table.sort_values("run_id").reset_index(drop=True)


def t_half_width(sd: Any, n: Any) -> Any:
    """Half-width of the two-sided Student-t interval of a mean (NaN when n < 2)."""
    from scipy import stats

    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = stats.t.ppf(0.5 + CONFIDENCE / 2, np.where(n >= 2, n - 1, np.nan))
        return quantile * np.asarray(sd, dtype=float) / np.sqrt(n)


def t_interval(values: Sequence[float] | np.ndarray | pd.Series) -> tuple[float, float]:
    """Confidence interval of the mean of `values` (NaN with fewer than 2 values)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    mean = x.mean() if x.size else math.nan
    half = float(t_half_width(x.std(ddof=1) if x.size > 1 else math.nan, x.size))
    return float(mean - half), float(mean + half)


def point_table(runs: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """n, mean, sd and 95% interval over runs, per group of `keys` and metric.

    Tidy, one row per group and metric: ready for seaborn and for a pivot. The interval is
    Student-t, or `bounded_interval` for the metrics of `BOUNDS` (shares stay in [0, 1]).
    """
    long = runs.melt(id_vars=list(keys), value_vars=list(metrics), var_name="metric")
    long["value"] = long["value"].astype(float)
    grouped = long.groupby([*keys, "metric"], sort=False, dropna=False)["value"]
    table = grouped.agg(n="count", mean="mean", sd="std").reset_index()
    return with_intervals(table, table["metric"].map(BOUNDS))


BOUNDS: dict[str, tuple[float, float]] = {
    name: (0.0, 1.0)
    for name in (
        "token_share",
        "developer_share",
        "hhi",
        "outside_share",
        "cross_border_share",
        "cross_border_export_share",
        "cross_border_investment_share",
    )
}
"""Outcomes that are fractions, whose intervals must stay inside their bounds."""


def bounded_interval(
    mean: Any, sd: Any, n: Any, low: float = 0.0, high: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """95% interval of a mean known to lie in [low, high]: the t-interval on the logit scale.

    Why logit and not the bootstrap: sweeps have 3-10 replications, where a percentile
    bootstrap has few distinct resamples and under-covers; the logit transform keeps the
    t-interval's coverage away from the bounds and cannot cross them near one (the
    "logit" method for proportions, Korn & Graubard 1998; R survey's `svyciprop`). With
    the delta method, the standard error s/sqrt(n) of the mean m (scaled to z in (0, 1))
    becomes s_z / (z (1 - z)) on the logit scale; the ends are mapped back. A mean on a
    bound with no spread has the interval [mean, mean]; fewer than 2 runs give NaN.
    """
    from scipy.special import expit, logit

    width = high - low
    z = (np.asarray(mean, dtype=float) - low) / width
    half = t_half_width(sd, n) / width
    with np.errstate(invalid="ignore", divide="ignore"):
        center = logit(z)
        spread = half / (z * (1.0 - z))
        ends = [low + width * expit(center + sign * spread) for sign in (-1.0, 1.0)]
    degenerate = (np.asarray(sd, dtype=float) == 0.0) & ~np.isnan(half)
    at_mean = z * width + low
    return np.where(degenerate, at_mean, ends[0]), np.where(degenerate, at_mean, ends[1])


def with_intervals(table: pd.DataFrame, bounds: pd.Series) -> pd.DataFrame:
    """`table` (mean, sd, n) with ci_low and ci_high: bounded where `bounds` has (low, high)."""
    half = t_half_width(table["sd"], table["n"])
    low, high = table["mean"] - half, table["mean"] + half
    for pair in set(bounds.dropna()):
        rows = bounds.map(lambda b, pair=pair: b == pair).to_numpy(dtype=bool)
        part = table[rows]
        low[rows], high[rows] = bounded_interval(part["mean"], part["sd"], part["n"], *pair)
    return table.assign(ci_low=low, ci_high=high)


def interval_of(low: float, high: float) -> Callable[[Sequence[float]], tuple[float, float]]:
    """A seaborn `errorbar` callable: the bounded interval of the mean of a sample."""

    def errorbar(values: Sequence[float]) -> tuple[float, float]:
        x = np.asarray(values, dtype=float)
        x = x[~np.isnan(x)]
        sd = x.std(ddof=1) if x.size > 1 else math.nan
        ends = bounded_interval(x.mean() if x.size else math.nan, sd, x.size, low, high)
        return float(ends[0]), float(ends[1])

    return errorbar


def replications_needed(sd: Any, halfwidth: float) -> np.ndarray:
    """Smallest n >= 2 whose t-interval half-width t(n-1) sd / sqrt(n) is <= `halfwidth`.

    The fixed-half-width sample size (Law 2015, "Simulation Modeling and Analysis", sec.
    9.4.1), found by bisection since t(n-1) / sqrt(n) falls with n; NaN where sd is
    unknown. It plans with the sd measured so far: an estimate that firms up with runs.
    """
    return np.array([_replications_needed(s, halfwidth) for s in np.ravel(sd)], dtype=float)


def _replications_needed(sd: float, halfwidth: float) -> float:
    from scipy import stats

    if not np.isfinite(sd):
        return math.nan
    z = stats.norm.ppf(0.5 + CONFIDENCE / 2)  # the normal-theory n is a first guess from below
    low, high = 1, max(2, math.ceil((z * sd / halfwidth) ** 2))
    while t_half_width(sd, high) > halfwidth:  # low is always too few, high enough
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if t_half_width(sd, middle) <= halfwidth else (middle, high)
    return float(high)


def with_plan(table: pd.DataFrame, halfwidth: float) -> pd.DataFrame:
    """A `point_table` with each row's half-width and the replications a `halfwidth` needs."""
    return table.assign(
        half_width=(table["ci_high"] - table["ci_low"]) / 2,
        replications_needed=replications_needed(table["sd"], halfwidth),
    )


def outcome_points(summary: pd.DataFrame, parameters: Sequence[str], outcome: str) -> pd.DataFrame:
    """The `point_table` of one outcome: per point, and per strategy for a strategy outcome."""
    if outcome in MARKET_OUTCOMES:
        return point_table(market_runs(summary, parameters), ["point", *parameters], [outcome])
    runs = strategy_runs(summary, parameters)
    return point_table(runs, ["point", *parameters, "strategy"], [outcome])


# --------------------------------------------------------------------------- sensitivity
def point_outcomes(data: SweepData) -> pd.DataFrame:
    """One row per design point: the mean over replications of every sensitivity outcome.

    Columns are market outcomes by name and strategy outcomes as `<metric>[<strategy>]`.
    """
    market = market_runs(data.summary, data.parameters).groupby("point")[list(MARKET_OUTCOMES)]
    strategies = strategy_runs(data.summary, data.parameters)
    by_strategy = strategies.pivot_table(
        index="point", columns="strategy", values=list(SENSITIVITY_OUTCOMES), aggfunc="mean"
    )
    by_strategy.columns = [f"{metric}[{strategy}]" for metric, strategy in by_strategy.columns]
    return market.mean().join(by_strategy).reindex(range(data.design.n_points))


def sensitivity(data: SweepData) -> tuple[pd.DataFrame | None, list[str]]:
    """Sobol or Morris indices of every outcome to every range, and notes on what was left out.

    One set per combination of the listed parameters (ranges are what the sampler varies);
    None when the spec used another sampler. An outcome with missing points (failed runs)
    or no variance has no indices: it gets a note instead.
    """
    spec, design = data.spec, data.design
    if spec.sampler not in ("sobol", "morris") or data.summary.empty:
        return None, []
    outcomes = point_outcomes(data)
    problem = salib_problem(design.range_names)
    rows, notes = [], []
    for group in range(design.n_groups):
        block = slice(group * design.rows_per_group, (group + 1) * design.rows_per_group)
        first = design.point(block.start)
        fixed = {name: first[name] for name in design.list_names}
        label = f" at {fixed}" if fixed else ""
        ys = outcomes.iloc[block]
        for outcome in ys.columns:
            y = ys[outcome].to_numpy(dtype=float)
            if np.isnan(y).any():
                notes.append(f"{outcome}{label}: skipped, {int(np.isnan(y).sum())} points missing")
                continue
            if np.ptp(y) == 0.0:
                notes.append(f"{outcome}{label}: skipped, constant over the design")
                continue
            for index in _indices(spec, problem, design.unit_sample, y):
                rows.append({**fixed, "outcome": outcome, **index})
    return flag_wide(pd.DataFrame(rows)), notes


CONFIDENCE_OF = {"S1": "S1_conf", "ST": "ST_conf", "mu_star": "mu_star_conf"}
"""Each index with a confidence half-width (SALib's bootstrap), by column name."""


def flag_wide(indices: pd.DataFrame) -> pd.DataFrame:
    """Add `<index>_wide`: True where the 95% half-width exceeds the estimate's size.

    Such an index cannot be told from 0 (nor a ranking built on it) at this sample size.
    """
    flags = {
        f"{index}_wide": indices[conf] > indices[index].abs()
        for index, conf in CONFIDENCE_OF.items()
        if index in indices
    }
    return indices.assign(**flags)


def indices_lines(indices: pd.DataFrame, sampler: str) -> str:
    """Sobol or Morris indices per outcome and parameter, 'estimate ±half-width', for a console.

    A `?` marks an interval wider than its estimate.
    """
    names = ("S1", "ST") if sampler == "sobol" else ("mu_star", "sigma")
    keys = [c for c in indices.columns if c not in ("parameter", *_index_columns(indices))]
    lines = [
        f"{sampler.capitalize()} indices, mean over replications, 95% bootstrap half-width "
        "(? = interval wider than the estimate):"
    ]
    for group, rows in indices.groupby(keys, sort=False):
        lines.append("  " + ", ".join(f"{k} = {v}" for k, v in zip(keys, group, strict=True)))
        for row in rows.to_dict("records"):
            cells = []
            for name in names:
                conf = CONFIDENCE_OF.get(name)
                cell = f"{name} {row[name]:8.3f}"
                if conf is not None:
                    cell += f" ±{row[conf]:.3f}{'?' if row[f'{name}_wide'] else ' '}"
                cells.append(cell)
            lines.append(f"    {row['parameter']:<24} " + "   ".join(cells))
    return "\n".join(lines)


def _index_columns(indices: pd.DataFrame) -> list[str]:
    """The columns an index row holds besides its keys (outcome, fixed values)."""
    named = ("S1", "S1_conf", "ST", "ST_conf", "mu", "mu_star", "sigma", "mu_star_conf")
    return [c for c in indices.columns if c in named or c.endswith("_wide")]


def _indices(
    spec: SweepSpec, problem: dict[str, Any], unit: np.ndarray | None, y: np.ndarray
) -> list[dict[str, Any]]:
    """SALib's indices of one outcome, one row per parameter."""
    seed = int(sampler_rng(spec.seed).integers(2**31))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # SALib's bootstrap on tiny designs
        if spec.sampler == "sobol":
            from SALib.analyze import sobol

            result = sobol.analyze(
                problem, y, calc_second_order=False, seed=seed, conf_level=CONFIDENCE
            )
            keys = ("S1", "S1_conf", "ST", "ST_conf")
        else:
            from SALib.analyze import morris

            result = morris.analyze(
                problem, unit, y, num_levels=spec.levels or 4, seed=seed, conf_level=CONFIDENCE
            )
            keys = ("mu", "mu_star", "sigma", "mu_star_conf")
    return [
        {"parameter": name, **{k: float(result[k][i]) for k in keys}}
        for i, name in enumerate(problem["names"])
    ]


# --------------------------------------------------------------------------- figures
def _figure(ncols: int, nrows: int = 1, width: float = 4.2, height: float = 3.6) -> tuple:
    """A figure (no pyplot state) with a grid of panels."""
    return agg_figure((width * ncols + 1.5, height * nrows), nrows, ncols)


def timeseries_figure(
    timeseries: pd.DataFrame,
    metric: str = "token_share",
    facet: str | None = None,
    pooled: bool = False,
    marked: Sequence[tuple[pd.Timestamp, str]] = (),
) -> Figure:
    """Mean and 95% t-band over runs of a strategy outcome, month by month, per strategy.

    The x axis is the calendar (the frames' `date`), with the scenario's events
    (`plots.event_dates`) marked on every panel and labelled on the first. Strategies differ
    by line style and marker as well as colour (readable in greyscale).
    With `facet`, one panel per value of that parameter; without, runs of all points pool.
    `pooled` says in the title that other varied parameters were pooled.
    """
    keys = ["run_id", "date", "strategy", *([facet] if facet else [])]
    frame = timeseries.groupby(keys, as_index=False)[metric].sum()
    panels = sorted(frame[facet].unique()) if facet else [None]
    order = sorted(frame["strategy"].unique())
    fig, axes = _figure(len(panels))
    for ax in axes[0][1:]:
        ax.sharey(axes[0][0])
    for ax, value in zip(axes[0], panels, strict=True):
        part = frame if facet is None else frame[frame[facet] == value]
        sns.lineplot(
            data=part,
            x="date",
            y=metric,
            hue="strategy",
            style="strategy",
            hue_order=order,
            style_order=order,
            markers=True,
            dashes=True,
            markevery=max(1, part["date"].nunique() // 10),
            errorbar=interval_of(*BOUNDS[metric]) if metric in BOUNDS else t_interval,
            ax=ax,
            legend=ax is axes[0][-1],
        )
        title = "all design points" if facet is None else f"{facet} = {_tick(value)}"
        date_axis(ax)
        mark_events(ax, marked, fontsize=8.0, labels=ax is axes[0][0], max_chars=40)
        ax.set(title=title, xlabel=MONTH_AXIS_LABEL, ylabel=STRATEGY_OUTCOMES.get(metric, metric))
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), title="strategy")
    fig.suptitle(
        f"{STRATEGY_OUTCOMES.get(metric, metric)}: mean and 95% band over runs"
        + (" (pooled over the other parameters)" if pooled else "")
    )
    return fig


def heatmap_figure(
    table: pd.DataFrame,
    x: str,
    y: str,
    metric: str = "token_share",
    strategy_col: str = "strategy",
    scenario: Scenario | None = None,
) -> Figure:
    """Mean of `metric` over two parameters, one panel per strategy, cells annotated.

    `table` is a `point_table`; other varied parameters are averaged over (said in the
    title). Numbers in every cell keep it readable in greyscale. Axis labels are the knobs'
    titles and units; a strategy parameter's needs the sweep's `scenario`.
    """
    rows = table[table["metric"] == metric]
    strategies = sorted(rows[strategy_col].unique()) if strategy_col in rows else [None]
    ncols = 2 if len(strategies) == 4 else min(3, len(strategies))
    fig, axes = _figure(ncols, math.ceil(len(strategies) / ncols), width=4.4, height=3.8)
    low, high = rows["mean"].min(), rows["mean"].max()
    label = STRATEGY_OUTCOMES.get(metric) or MARKET_OUTCOMES.get(metric, metric)
    for ax, strategy in zip(axes.ravel(), strategies, strict=False):
        part = rows if strategy is None else rows[rows[strategy_col] == strategy]
        grid = part.pivot_table(index=y, columns=x, values="mean", aggfunc="mean")
        annotated_heatmap(ax, grid, label, cmap="viridis", vmin=low, vmax=high, scenario=scenario)
        title = strategy if strategy_col == "strategy" else f"{strategy_col} = {strategy}"
        ax.set(title=title or "")
    for ax in axes.ravel()[len(strategies) :]:
        ax.set_visible(False)
    others = [p for p in _varied(table) if p not in (x, y, strategy_col)]
    note = f"\naveraged over {', '.join(others)}" if others else ""
    fig.suptitle(f"{label}, final month, mean over replications{note}")
    return fig


def annotated_heatmap(
    ax: Any,
    grid: pd.DataFrame,
    label: str,
    *,
    cmap: str,
    vmin: float,
    vmax: float,
    cells: pd.DataFrame | None = None,
    scenario: Scenario | None = None,
) -> None:
    """`grid` (index: y values, columns: x values, named) as a heatmap with every cell printed.

    The printed numbers (`grid`'s, to 2 decimals, or the text of `cells`) keep it readable
    in greyscale; the y axis grows upwards; axes are labelled with the parameters' units (a
    strategy parameter's from `scenario`).
    """
    grid = grid.sort_index(ascending=False)
    text = None if cells is None else cells.reindex_like(grid).to_numpy()
    sns.heatmap(
        grid,
        annot=True if text is None else text,
        fmt=".2f" if text is None else "",
        annot_kws=None if text is None else {"fontsize": 8},
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        cbar_kws={"label": label},
        ax=ax,
        xticklabels=[_tick(v) for v in grid.columns],
        yticklabels=[_tick(v) for v in grid.index],
    )
    ax.set(
        xlabel=parameters.label(str(grid.columns.name), scenario),
        ylabel=parameters.label(str(grid.index.name), scenario),
    )


def sensitivity_figure(indices: pd.DataFrame, sampler: str) -> Figure:
    """Bars of each parameter's indices per outcome: Sobol S1 and ST, or Morris mu* and sigma.

    The two indices are told apart by hatching as well as colour. Error bars are the 95%
    bootstrap intervals (SALib); a `?` after one marks an interval wider than its estimate.
    Over several combinations of listed parameters, a bar is their mean and its error bar
    the widest of their intervals.
    """
    names = ("S1", "ST") if sampler == "sobol" else ("mu_star", "sigma")
    long = indices.melt(id_vars=["outcome", "parameter"], value_vars=list(names), var_name="index")
    outcomes = list(dict.fromkeys(long["outcome"]))
    ncols = min(3, len(outcomes))
    nrows = math.ceil(len(outcomes) / ncols)
    fig, axes = _figure(ncols, nrows, width=4.0, height=0.5 * long["parameter"].nunique() + 1.6)
    for ax, outcome in zip(axes.ravel(), outcomes, strict=False):
        sns.barplot(
            data=long[long["outcome"] == outcome],
            x="value",
            y="parameter",
            hue="index",
            hue_order=list(names),
            errorbar=None,
            ax=ax,
            legend=ax is axes.ravel()[0],
        )
        rows = indices[indices["outcome"] == outcome].groupby("parameter", sort=False)
        rows = rows.agg(
            {
                **{n: "mean" for n in names},
                **{CONFIDENCE_OF[n]: "max" for n in names if n in CONFIDENCE_OF},
            }
        ).reset_index()
        for container, hatch, name in zip(ax.containers, ("", "//"), names, strict=False):
            for bar in container:
                bar.set_hatch(hatch)
                bar.set_edgecolor("black")
            if name in CONFIDENCE_OF:
                _error_bars(ax, container, rows, name)
        ax.set(
            title=outcome,
            xlabel="index (share of variance)"
            if sampler == "sobol"
            else "elementary effect (outcome units per full range)",
            ylabel="",
        )
    for ax in axes.ravel()[len(outcomes) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"{sampler.capitalize()} sensitivity indices, mean over replications\n"
        "bars: 95% bootstrap intervals; ? = interval wider than the estimate"
    )
    return fig


def _error_bars(ax: Any, container: Any, rows: pd.DataFrame, name: str) -> None:
    """The 95% half-widths of one index on its bars, and a `?` where wider than the bar."""
    for bar, row in zip(container, rows.itertuples(index=False), strict=True):
        value, conf = getattr(row, name), getattr(row, CONFIDENCE_OF[name])
        y = bar.get_y() + bar.get_height() / 2
        ax.errorbar(value, y, xerr=conf, color="black", capsize=2, linewidth=0.8)
        if conf > abs(value):
            ax.annotate(
                "?",
                (value + conf, y),
                xytext=(2, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )


def _tick(value: Any) -> str:
    """A parameter value for a label: floats without trailing zeros."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _varied(table: pd.DataFrame) -> list[str]:
    """Parameter columns of a point table (between `point` and the strategy/metric keys)."""
    keys = list(table.columns)
    end = keys.index("strategy") if "strategy" in keys else keys.index("metric")
    return keys[keys.index("point") + 1 : end]


# --------------------------------------------------------------------------- paired comparisons
FOCAL_OUTCOMES = {
    "token_share": "token share (fraction of tokens served)",
    "developer_share": "developer share (fraction of developers)",
    "price_usd_per_mtok": "price (USD per million tokens)",
    "profit_usd": "profit (USD per month)",
    "npv_usd": "discounted cumulative profit, NPV (USD)",
    "cash_usd": "cash (USD)",
}
"""One provider's own outcomes in the final month (the provider rows of the summary)."""


class AnalysisError(ValueError):
    """An analysis the stored sweep cannot support, with a message for a person."""


def strategy_knob(provider: str) -> str:
    """The override that sets a provider's strategy (`scenario.OVERRIDES`)."""
    return f"strategy_{provider}"


def default_focal(spec: SweepSpec) -> str | None:
    """The provider whose strategy the spec varies, when it varies exactly one's."""
    varied = [
        name.removeprefix("strategy_")
        for name, values in spec.parameters.items()
        if name.startswith("strategy_") and len(values) > 1
    ]
    return varied[0] if len(varied) == 1 else None


def check_focal(data: SweepData, focal: str) -> str:
    """The strategy knob of `focal`, after checking the sweep can compare its arms."""
    providers = sorted(data.summary["provider"].unique())
    if focal not in providers:
        raise AnalysisError(f"--focal: no provider {focal!r} in this sweep; one of {providers}")
    knob = strategy_knob(focal)
    if len(data.spec.parameters.get(knob, [])) < 2:
        raise AnalysisError(
            f"--focal: this sweep does not vary {focal}'s strategy; list two or more values "
            f"of `{knob}` under [parameters] to compare them"
        )
    if data.spec.replications < 2:
        runs = data.design.n_points * 2
        raise AnalysisError(
            f"--focal: a paired interval needs at least 2 replications per arm (the spec has "
            f"1): set `replications = 2` or more ({runs} runs at 2)"
        )
    return knob


def focal_runs(summary: pd.DataFrame, parameters: Sequence[str], focal: str) -> pd.DataFrame:
    """One row per run: the focal provider's outcomes and the market's, final month."""
    own = summary[summary["provider"] == focal]
    market = market_runs(summary, parameters)[["run_id", *MARKET_OUTCOMES]]
    keys = [*ID_COLUMNS, *parameters]
    table = own[[*keys, *FOCAL_OUTCOMES]].merge(market, on="run_id", validate="one_to_one")
    return table.sort_values("run_id").reset_index(drop=True)


def paired_differences(
    runs: pd.DataFrame, parameters: Sequence[str], knob: str, arms: Sequence[Any]
) -> pd.DataFrame:
    """Each arm minus the first, run by run: same replication, same other parameters.

    With common random numbers the two runs of a pair share their seed, so the difference
    is the effect of the strategy alone (seed noise cancels); without, the pairs are
    independent and the interval is wider but still valid. Tidy: one row per pair and
    metric, with the other parameters, `replication`, `arm` and `baseline`.
    """
    others = [p for p in parameters if p != knob]
    metrics = [*FOCAL_OUTCOMES, *MARKET_OUTCOMES]
    wide = runs.set_index([*others, "replication", knob])[metrics].astype(float).unstack(knob)
    frames = []
    for arm in arms[1:]:
        diff = wide.xs(arm, axis=1, level=knob) - wide.xs(arms[0], axis=1, level=knob)
        long = diff.reset_index().melt(
            id_vars=[*others, "replication"], var_name="metric", value_name="difference"
        )
        frames.append(long.assign(arm=arm, baseline=arms[0]))
    return pd.concat(frames, ignore_index=True)


def paired_table(differences: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """n, mean, sd and 95% interval of the paired differences per group of `keys`.

    Differences of fractions lie in [-1, 1] and get `bounded_interval` over that range;
    the others the t-interval.
    """
    grouped = differences.groupby([*keys, "arm", "baseline", "metric"], sort=False)
    table = grouped["difference"].agg(n="count", mean="mean", sd="std").reset_index()
    bounds = table["metric"].map(lambda m: (-1.0, 1.0) if m in BOUNDS else None)
    return with_intervals(table, bounds)


def paired_heatmap_figure(
    differences: pd.DataFrame,
    x: str,
    y: str,
    focal: str,
    metric: str = "token_share",
    scenario: Scenario | None = None,
) -> Figure:
    """Mean paired difference of a focal outcome over two parameters, one panel per arm.

    Every cell prints its mean and 95% interval (readable in greyscale); other varied
    parameters (never the strategy knob) are pooled into the cell's pairs, as the title says.
    """
    rows = differences[differences["metric"] == metric]
    table = paired_table(rows, [x, y])
    arms = list(dict.fromkeys(table["arm"]))
    fig, axes = _figure(len(arms), width=5.0, height=4.2)
    limit = float(np.nanmax(np.abs(table["mean"]))) or 1.0
    label = FOCAL_OUTCOMES.get(metric) or MARKET_OUTCOMES.get(metric, metric)
    for ax, arm in zip(axes.ravel(), arms, strict=True):
        part = table[table["arm"] == arm]
        text = part.assign(
            cell=[
                f"{m:+.3f}\n[{lo:+.3f}, {hi:+.3f}]"
                for m, lo, hi in part[["mean", "ci_low", "ci_high"]].itertuples(index=False)
            ]
        )
        grid = part.pivot(index=y, columns=x, values="mean")
        cells = text.pivot(index=y, columns=x, values="cell")
        annotated_heatmap(
            ax,
            grid,
            f"difference in {label}",
            cmap="vlag",
            vmin=-limit,
            vmax=limit,
            cells=cells,
            scenario=scenario,
        )
        ax.set(title=f"{arm} minus {part['baseline'].iloc[0]}")
    others = differences.columns[: differences.columns.get_loc("replication")]
    pooled = [p for p in others if p not in (x, y)]
    note = f"\npooled over {', '.join(pooled)}" if pooled else ""
    n = int(table["n"].min())
    fig.suptitle(
        f"{focal}: paired difference, final month\n"
        f"mean [95% interval] over >= {n} pairs on shared seeds{note}"
    )
    return fig


def paired_lines(table: pd.DataFrame, focal: str) -> str:
    """The pooled paired differences as console lines, one per arm and metric."""
    lines = [
        f"Paired differences for {focal}, final month: arm minus baseline on the same seed and "
        "parameters, mean [95% interval] over every pair of the design:"
    ]
    for row in table.itertuples(index=False):
        lines.append(
            f"  {row.metric:<26} {row.arm} - {row.baseline}: {row.mean:+.4g} "
            f"[{row.ci_low:+.4g}, {row.ci_high:+.4g}] over {row.n} pairs"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- the report
@dataclass
class AnalysisReport:
    """What `analyze` wrote and left out, and the tables behind it."""

    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    strategies: pd.DataFrame | None = None
    market: pd.DataFrame | None = None
    indices: pd.DataFrame | None = None
    sampler: str = "grid"
    focal: str | None = None
    paired: pd.DataFrame | None = None
    """Paired differences of the focal provider's arms, pooled over the design points."""


def analyze(
    root: str | Path, halfwidth: float | None = None, focal: str | None = None
) -> AnalysisReport:
    """Write the tables, sensitivity indices and figures of a sweep into ROOT/analysis/.

    With `halfwidth`, the tables also give each row's CI half-width and the replications
    that half-width needs (`with_plan`), in the outcome's own units. `focal` (default: the
    provider whose strategy the spec varies, if only one's) adds the paired comparison of its
    strategies, and its heatmaps are drawn per arm, never averaged over the strategy being
    compared.
    """
    data = load_sweep(root)
    report = AnalysisReport(sampler=data.spec.sampler)
    if data.summary.empty:
        report.notes.append("no finished runs yet: nothing to analyze")
        return report
    knob = None
    if focal is not None:
        knob = check_focal(data, focal)
    elif (focal := default_focal(data.spec)) and data.spec.replications < 2:
        report.notes.append(f"paired comparison of {focal} skipped: it needs 2+ replications")
    elif focal:
        knob = check_focal(data, focal)
    out = data.root / ANALYSIS_DIR
    out.mkdir(exist_ok=True)
    params = data.parameters
    report.strategies = point_table(
        strategy_runs(data.summary, params), ["point", *params, "strategy"], list(STRATEGY_OUTCOMES)
    )
    report.market = point_table(
        market_runs(data.summary, params), ["point", *params], list(MARKET_OUTCOMES)
    )
    if halfwidth is not None:
        report.strategies = with_plan(report.strategies, halfwidth)
        report.market = with_plan(report.market, halfwidth)
    _write_csv(report, out / "strategy_points.csv", report.strategies)
    _write_csv(report, out / "market_points.csv", report.market)
    custom = custom_runs(data.summary, params)
    if custom.shape[1] > len(ID_COLUMNS) + len(params):
        outcomes = list(custom.columns[len(ID_COLUMNS) + len(params) :])
        table = point_table(custom, ["point", *params], outcomes)
        _write_csv(report, out / "outcome_points.csv", table)

    report.indices, notes = sensitivity(data)
    report.notes += notes
    if report.indices is not None and not report.indices.empty:
        _write_csv(report, out / f"{data.spec.sampler}_indices.csv", report.indices)
        _write_figure(
            report,
            out / f"{data.spec.sampler}_indices.png",
            sensitivity_figure(report.indices, data.spec.sampler),
        )

    facet = next((p for p in params if p != knob and data.summary[p].nunique() <= 6), None)
    wanted = ["run_id", "date", "strategy", "provider", "token_share", *([facet] if facet else [])]
    timeseries = data.timeseries(wanted)
    if timeseries is None:
        report.notes.append(
            "time-series bands skipped: the spec did not keep time series "
            "(set `timeseries = true` under [outputs])"
        )
    else:
        if knob is not None:  # the focal provider's own share, one line per arm
            timeseries = timeseries[timeseries["provider"] == focal]
        pooled = len(params) > (1 if facet else 0) + (knob is not None)
        marked = event_dates(data.scenario)
        fig = timeseries_figure(timeseries, "token_share", facet, pooled, marked)
        if knob is not None:
            fig.suptitle(f"{focal}: {fig.get_suptitle()}")
        _write_figure(report, out / "timeseries_token_share.png", fig)

    gridded = [p for p in params if p in data.design.list_names or data.spec.sampler == "grid"]
    if knob is not None:
        _paired_outputs(data, report, out, focal, knob, [p for p in gridded if p != knob])
        return report
    if len(gridded) >= 2:
        x, y = gridded[0], gridded[1]
        _write_figure(
            report,
            out / "heatmap_token_share.png",
            heatmap_figure(report.strategies, x, y, "token_share", scenario=data.scenario),
        )
        _write_figure(
            report,
            out / "heatmap_hhi.png",
            heatmap_figure(report.market, x, y, "hhi", scenario=data.scenario),
        )
    else:
        report.notes.append("heatmaps skipped: they need at least two gridded parameters")
    return report


def _paired_outputs(
    data: SweepData,
    report: AnalysisReport,
    out: Path,
    focal: str,
    knob: str,
    gridded: list[str],
) -> None:
    """The paired comparison of `focal`'s arms: tables, difference heatmap, per-arm heatmaps."""
    report.focal = focal
    params = data.parameters
    runs = focal_runs(data.summary, params, focal)
    differences = paired_differences(runs, params, knob, data.spec.parameters[knob])
    others = [p for p in params if p != knob]
    report.paired = paired_table(differences, [])
    _write_csv(report, out / f"paired_{focal}.csv", report.paired)
    _write_csv(report, out / f"paired_{focal}_points.csv", paired_table(differences, others))
    if len(gridded) < 2:
        report.notes.append("heatmaps skipped: they need two gridded parameters besides " + knob)
        return
    x, y = gridded[0], gridded[1]
    _write_figure(
        report,
        out / f"paired_{focal}_token_share.png",
        paired_heatmap_figure(differences, x, y, focal, "token_share", data.scenario),
    )
    own = point_table(runs, ["point", *params], list(FOCAL_OUTCOMES))
    fig = heatmap_figure(own, x, y, "token_share", strategy_col=knob, scenario=data.scenario)
    fig.suptitle(f"{focal}: {fig.get_suptitle()}")
    _write_figure(report, out / f"heatmap_{focal}_token_share.png", fig)
    hhi = heatmap_figure(report.market, x, y, "hhi", knob, scenario=data.scenario)
    _write_figure(report, out / "heatmap_hhi.png", hhi)


def _write_csv(report: AnalysisReport, path: Path, table: pd.DataFrame) -> None:
    atomic_write(path, table.to_csv(index=False).encode())
    report.written.append(path)


def _write_figure(report: AnalysisReport, path: Path, fig: Figure) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    atomic_write(path, buffer.getvalue())
    report.written.append(path)
