"""The classroom app's figures and provider table: large type, told apart in greyscale.

Each figure is drawn on `plots.agg_figure`, the scaffold the CLI's and the analysis'
figures share (a bare Figure on an Agg canvas, no pyplot state).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator
from seaborn import color_palette

from tokenmarket.model.scenario import Scenario
from tokenmarket.runs.plots import agg_figure

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


def _axes(title: str, ylabel: str) -> tuple[Figure, Axes]:
    """A titled figure with one axes over months (the shared `agg_figure` scaffold).

    Call inside `matplotlib.rc_context(PROJECTOR_STYLE)`: artists read the style when made.
    """
    fig, axes = agg_figure(FIGURE_INCHES)
    ax = axes[0, 0]
    ax.set(title=title, xlabel="month", ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    return fig, ax


def _waiting(title: str) -> Figure:
    """The chart before the first month: says what to press."""
    with matplotlib.rc_context(PROJECTOR_STYLE):
        fig, ax = _axes(title, "")
        ax.text(0.5, 0.5, "press Step or ▶", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    return fig


def _wide(providers: pd.DataFrame, column: str) -> pd.DataFrame:
    """Months x providers of one column, providers in the model's order."""
    order = list(dict.fromkeys(providers["provider"]))
    return providers.pivot(index="step", columns="provider", values=column)[order]


def _months(ax: Axes, months: pd.Index, pad: float = 0.0) -> None:
    """The x axis spans the months played (at least two, so one month is not a sliver).

    `pad` is a share of the span added on each side: room for the markers at the ends.
    """
    first, last = months.min(), max(months.max(), months.min() + 1)
    margin = pad * (last - first)
    ax.set_xlim(first - margin, last + margin)


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
    _months(ax, wide.index)
    ax.set_ylim(bottom=0)


def share_figure(providers: pd.DataFrame) -> Figure:
    """Token market share (%) per provider, stacked: who serves the market, month by month.

    The legend names the providers only (below the chart, in two columns, so the plot keeps
    its width); their home region and strategy are in the provider table beside it.
    """
    title = "Token market share"
    if providers.empty:
        return _waiting(title)
    shares = _wide(providers, "token_share") * 100.0
    style = looks(list(shares.columns))
    with matplotlib.rc_context(PROJECTOR_STYLE):
        fig, ax = _axes(title, "share of tokens served (%)")
        _stacked(
            ax,
            shares,
            [style[p].color for p in shares.columns],
            [style[p].hatch for p in shares.columns],
        )
        ax.set_ylim(0, 100)
        handles, names = ax.get_legend_handles_labels()
        fig.legend(
            handles[::-1],  # top to bottom, as the areas are stacked
            names[::-1],
            loc="outside lower center",
            ncols=2,
            frameon=False,
            fontsize="small",
        )
    return fig


def _line_figure(
    providers: pd.DataFrame, column: str, title: str, ylabel: str, scale: float = 1.0
) -> tuple[Figure, Axes | None]:
    """One line per provider: colour, dash and marker each tell them apart."""
    if providers.empty:
        return _waiting(title), None
    values = _wide(providers, column).astype(float) * scale
    style = looks(list(values.columns))
    with matplotlib.rc_context(PROJECTOR_STYLE):
        fig, ax = _axes(title, ylabel)
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
        _months(ax, values.index, pad=0.03)
        fig.legend(loc="outside lower center", ncols=2, frameon=False)
    return fig, ax


def price_figure(providers: pd.DataFrame) -> Figure:
    """Posted price per provider (USD per million tokens, log scale); an exited one stops."""
    posted = providers
    if not providers.empty:
        posted = providers.assign(
            price_usd_per_mtok=providers["price_usd_per_mtok"].where(providers["active"])
        )
    fig, ax = _line_figure(posted, "price_usd_per_mtok", "Posted price", "USD per million tokens")
    if ax is not None:
        ax.set_yscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(plain)
    return fig


def cash_figure(providers: pd.DataFrame) -> Figure:
    """Cash per provider (USD million): profits and losses, net of hardware bought."""
    fig, ax = _line_figure(providers, "cash_usd", "Cash", "USD million", scale=1e-6)
    if ax is not None:
        ax.axhline(0.0, color="black", linewidth=1.0)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    return fig


def utilization_figure(providers: pd.DataFrame) -> Figure:
    """Utilization per provider (% of capacity serving tokens): at 100% demand is rationed."""
    fig, ax = _line_figure(
        providers, "utilization", "Utilization", "% of capacity used", scale=100.0
    )
    if ax is not None:
        ax.set_ylim(0, 105)
    return fig


TOKEN_UNITS = ((1e6, "trillion"), (1e3, "billion"), (1.0, "million"))
"""Mtok divisors and their names, largest first: a readable unit for any market size."""


def flows_figure(flows: pd.DataFrame) -> Figure:
    """Tokens served abroad per month, stacked by the providers' home region (exports)."""
    title = "Cross-border flows by home region"
    if flows.empty:
        return _waiting(title)
    abroad = flows[flows["cross_border"]].pivot_table(
        index="step", columns="home_region", values="served_mtok", aggfunc="sum", sort=False
    )
    abroad = abroad.loc[:, abroad.sum() > 0]  # regions that export (ROW may home nobody)
    peak = abroad.sum(axis=1).max()
    divisor, unit = next((d, u) for d, u in TOKEN_UNITS if peak >= d or d == 1.0)
    regions = list(abroad.columns)
    with matplotlib.rc_context(PROJECTOR_STYLE):
        fig, ax = _axes(title, f"{unit} tokens / month")
        _stacked(
            ax,
            abroad / divisor,
            [to_hex(c) for c in color_palette("cividis", len(regions))],
            [HATCHES[i % len(HATCHES)] for i in range(len(regions))],
        )
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
