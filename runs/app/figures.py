"""The classroom app's figures and provider table: large type, told apart in greyscale.

Each figure is drawn on `plots.agg_figure`, the scaffold the CLI's and the analysis'
figures share (a bare Figure on an Agg canvas, no pyplot state).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, MonthLocator, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator
from seaborn import color_palette

from tokenmarket.model.scenario import Scenario
from tokenmarket.runs.plots import agg_figure, mark_events

PROJECTOR_STYLE = {
    "font.size": 15,
    "axes.titlesize": 17,
    "axes.titleweight": "bold",
    "axes.labelsize": 15,
    "xtick.labelsize": 14,
    "ytick.labelsize": 14,
    "legend.fontsize": 13,
    "lines.linewidth": 2.5,
    "hatch.color": "#333333",
    "axes.grid": True,
    "grid.alpha": 0.35,
}
"""Large type for a projector (the figure is shown at about its own pixel size); light grid."""

FIGURE_INCHES = (5.6, 4.6)
"""At 100 dpi about the width of a panel on a 1280 x 720 projector with the sidebar open
(two panels a row), so the type is shown near its own size; the legend goes below."""

LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
HATCHES = ("", "//", "..", "\\\\", "xx", "--", "oo", "++")


@dataclass(frozen=True)
class Look:
    """How one series is drawn: colour (colour-blind safe) and a shape that survives greyscale."""

    color: str
    linestyle: str
    marker: str
    hatch: str


def looks(names: list[str]) -> dict[str, Look]:
    """One look per name, in order: seaborn's colour-blind palette, dashes, markers, hatches."""
    colors = color_palette("colorblind", len(names))
    return {
        name: Look(
            to_hex(colors[i]),
            LINESTYLES[i % len(LINESTYLES)],
            MARKERS[i % len(MARKERS)],
            HATCHES[i % len(HATCHES)],
        )
        for i, name in enumerate(names)
    }


def _waiting(title: str) -> Figure:
    """The chart before the first month: says what to press."""
    with matplotlib.rc_context(PROJECTOR_STYLE):
        fig, axes = agg_figure(FIGURE_INCHES)
        ax = axes[0, 0]
        ax.set_title(title)
        ax.text(0.5, 0.5, "press Step or ▶", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    return fig


def _wide(providers: pd.DataFrame, column: str) -> pd.DataFrame:
    """Months (by date) x providers of one column, providers in the model's order."""
    order = list(dict.fromkeys(providers["provider"]))
    return providers.pivot(index="date", columns="provider", values=column)[order]


def _dates(ax: Axes, frame: pd.DataFrame, pad: float) -> None:
    """Calendar dates on the x axis, spanning the months played (at least one month wide).

    `pad` is a share of the span added on each side: room for the markers at the ends.
    """
    dates = pd.DatetimeIndex(frame["date"])
    first, last = dates.min(), max(dates.max(), dates.min() + pd.DateOffset(months=1))
    margin = pad * (last - first)
    ax.set_xlim(first - margin, last + margin)
    months = (last.year - first.year) * 12 + last.month - first.month
    locator = (  # months, never days: a model month is one point
        MonthLocator(interval=math.ceil(months / 6))
        if months <= 18
        else AutoDateLocator(minticks=3, maxticks=7)
    )
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _mark(ax: Axes, frame: pd.DataFrame, happened: Sequence[tuple[int, str]]) -> None:
    """The events so far (by month) as dotted lines at their months' dates."""
    if not happened:
        return
    dates = frame.drop_duplicates("step").set_index("step")["date"]
    mark_events(ax, [(date2num(dates[month]), label) for month, label in happened], fontsize=12.0)


def _stacked(ax: Axes, wide: pd.DataFrame, colors: list[str], hatches: list[str]) -> None:
    """Stacked areas, one per column, told apart by colour and hatch."""
    ax.stackplot(
        wide.index,
        wide.to_numpy(dtype=float).T,
        labels=[str(c) for c in wide.columns],
        colors=colors,
        hatch=hatches,
        edgecolor="white",
        linewidth=0.6,
    )
    ax.set_ylim(bottom=0)


def _draw_shares(ax: Axes, providers: pd.DataFrame) -> None:
    """Token market share (%) per provider, stacked: who serves the market, month by month."""
    shares = _wide(providers, "token_share") * 100.0
    style = looks(list(shares.columns))
    _stacked(
        ax,
        shares,
        [style[p].color for p in shares.columns],
        [style[p].hatch for p in shares.columns],
    )
    ax.set_ylim(0, 100)


def _draw_lines(ax: Axes, values: pd.DataFrame) -> None:
    """One line per provider (column): colour, dash and marker each tell them apart."""
    style = looks(list(values.columns))
    every = max(1, len(values) // 8)
    for name in values.columns:
        look = style[name]
        ax.plot(
            values.index,
            values[name],
            label=name,
            color=look.color,
            linestyle=look.linestyle,
            marker=look.marker,
            markevery=every,
            markersize=7,
        )


def _draw_prices(ax: Axes, providers: pd.DataFrame) -> None:
    """Posted price per provider on a log scale; an exited one's line stops."""
    posted = providers["price_usd_per_mtok"].where(providers["active"])
    _draw_lines(ax, _wide(providers.assign(price_usd_per_mtok=posted), "price_usd_per_mtok"))
    ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    ax.yaxis.set_minor_formatter(plain)


def _draw_cash(ax: Axes, providers: pd.DataFrame) -> None:
    """Cash per provider in USD million, the zero line drawn."""
    _draw_lines(ax, _wide(providers, "cash_usd").astype(float) * 1e-6)
    ax.axhline(0.0, color="black", linewidth=1.0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def _draw_utilization(ax: Axes, providers: pd.DataFrame) -> None:
    """Utilization per provider in % of capacity, 0 to 100 (and a little room)."""
    _draw_lines(ax, _wide(providers, "utilization").astype(float) * 100.0)
    ax.set_ylim(0, 105)


@dataclass(frozen=True)
class Metric:
    """A chart of providers over time: what it shows and how it draws on one axes."""

    title: str
    ylabel: str
    draw: Callable[[Axes, pd.DataFrame], None]
    pad: float
    """Share of the time span left free at each end (room for line markers)."""
    stacked: bool
    """Areas stacked bottom up: the legend lists them top down."""


SHARE = Metric("Token market share", "share of tokens served (%)", _draw_shares, 0.0, True)
"""The legend names the providers only; their home and strategy are in the provider table."""
PRICE = Metric("Posted price", "USD per million tokens", _draw_prices, 0.03, False)
CASH = Metric("Cash", "USD million", _draw_cash, 0.03, False)
"""Profits and losses, net of hardware bought."""
UTILIZATION = Metric("Utilization", "% of capacity used", _draw_utilization, 0.03, False)
"""At 100% demand is rationed."""


def _legend(fig: Figure, ax: Axes, metric: Metric) -> None:
    """The providers below the chart, in two columns, so the plot keeps its width."""
    handles, names = ax.get_legend_handles_labels()
    if metric.stacked:  # top to bottom, as the areas are stacked
        handles, names = handles[::-1], names[::-1]
    fig.legend(handles, names, loc="outside lower center", ncols=2, frameon=False, fontsize="small")


def metric_figure(
    metric: Metric, providers: pd.DataFrame, happened: Sequence[tuple[int, str]] = ()
) -> Figure:
    """One metric per provider over the months played, with the events so far marked."""
    if providers.empty:
        return _waiting(metric.title)
    with matplotlib.rc_context(PROJECTOR_STYLE):
        fig, axes = agg_figure(FIGURE_INCHES)
        ax = axes[0, 0]
        ax.set(title=metric.title, ylabel=metric.ylabel)
        metric.draw(ax, providers)
        _dates(ax, providers, metric.pad)
        _mark(ax, providers, happened)
        _legend(fig, ax, metric)
    return fig


def share_figure(providers: pd.DataFrame, happened: Sequence[tuple[int, str]] = ()) -> Figure:
    """Token market share (%) per provider, stacked."""
    return metric_figure(SHARE, providers, happened)


def price_figure(providers: pd.DataFrame, happened: Sequence[tuple[int, str]] = ()) -> Figure:
    """Posted price per provider (USD per million tokens, log scale); an exited one stops."""
    return metric_figure(PRICE, providers, happened)


def cash_figure(providers: pd.DataFrame, happened: Sequence[tuple[int, str]] = ()) -> Figure:
    """Cash per provider (USD million): profits and losses, net of hardware bought."""
    return metric_figure(CASH, providers, happened)


def utilization_figure(providers: pd.DataFrame, happened: Sequence[tuple[int, str]] = ()) -> Figure:
    """Utilization per provider (% of capacity serving tokens): at 100% demand is rationed."""
    return metric_figure(UTILIZATION, providers, happened)


PAIR_INCHES = (5.6, 6.4)
"""Two charts one above the other, about the height a 1280 x 720 screen leaves the charts;
the scorecard takes the rest of the width."""


def pair_figure(
    metric: Metric,
    runs: Mapping[str, pd.DataFrame],
    titles: Mapping[str, str],
    happened: Sequence[tuple[int, str]] = (),
) -> Figure:
    """One metric for two runs, one above the other on the same axes and scales.

    The axes share x (the same dates) and y (the same range, so heights compare); the
    providers are the same in both runs, so one legend serves both.
    """
    if any(frame.empty for frame in runs.values()):
        return _waiting(metric.title)
    with matplotlib.rc_context(PROJECTOR_STYLE):
        fig, axes = agg_figure(PAIR_INCHES, nrows=len(runs), sharex=True)
        column = axes[:, 0]
        for ax in column[1:]:
            ax.sharey(column[0])
        fig.suptitle(metric.title, fontsize=PROJECTOR_STYLE["axes.titlesize"], weight="bold")
        for ax, (arm, frame) in zip(column, runs.items(), strict=True):
            ax.set_title(titles[arm], fontsize="medium", loc="left")
            ax.set_ylabel(metric.ylabel, fontsize="small")
            metric.draw(ax, frame)
            _dates(ax, frame, metric.pad)
            _mark(ax, frame, happened)
        _legend(fig, column[0], metric)
    return fig


TOKEN_UNITS = ((1e6, "trillion"), (1e3, "billion"), (1.0, "million"))
"""Mtok divisors and their names, largest first: a readable unit for any market size."""


def flows_figure(flows: pd.DataFrame, happened: Sequence[tuple[int, str]] = ()) -> Figure:
    """Tokens served abroad per month, stacked by the providers' home region (exports)."""
    title = "Cross-border flows by home region"
    if flows.empty:
        return _waiting(title)
    abroad = flows[flows["cross_border"]].pivot_table(
        index="date", columns="home_region", values="served_mtok", aggfunc="sum", sort=False
    )
    abroad = abroad.loc[:, abroad.sum() > 0]  # regions that export (ROW may home nobody)
    peak = abroad.sum(axis=1).max()
    divisor, unit = next((d, u) for d, u in TOKEN_UNITS if peak >= d or d == 1.0)
    regions = list(abroad.columns)
    with matplotlib.rc_context(PROJECTOR_STYLE):
        fig, axes = agg_figure(FIGURE_INCHES)
        ax = axes[0, 0]
        ax.set(title=title, ylabel=f"{unit} tokens / month")
        _stacked(
            ax,
            abroad / divisor,
            [to_hex(c) for c in color_palette("cividis", len(regions))],
            [HATCHES[i % len(HATCHES)] for i in range(len(regions))],
        )
        _dates(ax, flows, 0.0)
        _mark(ax, flows, happened)
        handles, names = ax.get_legend_handles_labels()
        fig.legend(
            handles[::-1],
            names[::-1],
            loc="outside lower center",
            ncols=len(regions),
            title="home region",
            frameon=False,
        )
    return fig


TABLE_COLUMNS = {
    "provider": ("provider", "", ""),
    "region": ("home", "", ""),
    "strategy": ("strategy", "", ""),
    "price_usd_per_mtok": ("price", "USD/Mtok", ",.2f"),
    "unit_cost_usd_per_mtok": ("unit cost", "USD/Mtok", ",.2f"),
    "share_pct": ("share", "% tokens", ".1f"),
    "utilization_pct": ("utilization", "%", ".0f"),
    "cash_musd": ("cash", "USD M", ",.0f"),
}
"""Table column -> header, unit and number format (as few digits as the story needs)."""


def starting_providers(spec: Scenario) -> pd.DataFrame:
    """The providers before the first month, in the schema of `provider_frame()` (month 0).

    Only what the scenario fixes is known: home, strategy, posted price, cash; shares,
    utilization and unit cost are missing until the market has cleared once.
    """
    entering = {s.provider.name for s in spec.shocks if s.kind == "entry"} | {
        e.provider.name for e in spec.potential_entrants
    }
    providers = spec.all_providers
    return pd.DataFrame(
        {
            "step": 0,
            "provider": [p.name for p in providers],
            "region": [p.home for p in providers],
            "strategy": [p.strategy for p in providers],
            "price_usd_per_mtok": [p.price_usd_per_mtok for p in providers],
            "unit_cost_usd_per_mtok": np.nan,
            "token_share": np.nan,
            "utilization": np.nan,
            "cash_usd": [p.cash_usd for p in providers],
            "active": [p.name not in entering for p in providers],
        }
    )


def provider_table(providers: pd.DataFrame) -> pd.DataFrame:
    """One row per provider in the latest month: price, unit cost, share, utilization, cash.

    An inactive provider's strategy says whether it has exited or not yet entered.
    """
    now = providers[providers["step"] == providers["step"].max()]
    was_active = providers.groupby("provider", sort=False)["active"].any()
    status = np.where(
        now["active"], "", np.where(now["provider"].map(was_active), " (exited)", " (not yet in)")
    )
    table = now.assign(
        strategy=now["strategy"] + status,
        share_pct=now["token_share"] * 100.0,
        utilization_pct=now["utilization"].astype(float) * 100.0,
        cash_musd=now["cash_usd"] / 1e6,
    )
    return table[list(TABLE_COLUMNS)].reset_index(drop=True)


def table_html(table: pd.DataFrame, colors: dict[str, str]) -> str:
    """The provider table in large type; each name after a swatch of its chart colour."""
    head = "".join(
        f'<th style="text-align:{"left" if not unit else "right"}">{escape(name)}'
        f"<br><small>{escape(unit)}</small></th>"
        for name, unit, _ in (TABLE_COLUMNS[c] for c in table.columns)
    )
    rows = []
    for record in table.itertuples(index=False):
        cells = []
        for column, value in zip(table.columns, record, strict=True):
            if column == "provider":
                swatch = (
                    '<span style="display:inline-block;width:.9em;height:.9em;margin-right:.4em;'
                    f'vertical-align:-.05em;background:{colors[value]}"></span>'
                )
                cells.append(f"<td>{swatch}{escape(value)}</td>")
            elif isinstance(value, float):
                text = "n/a" if np.isnan(value) else format(value, TABLE_COLUMNS[column][2])
                cells.append(f'<td style="text-align:right">{text}</td>')
            elif column == "strategy":  # may break after an underscore: narrow enough for 7 rows
                breakable = escape(str(value)).replace("_", "_<wbr>")
                cells.append(f'<td class="tm-wrap">{breakable}</td>')
            else:
                cells.append(f"<td>{escape(str(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        '<table class="tm-providers"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
