"""The seaborn figures, drawn from the model's tidy frames; shared by CLI, notebooks and app.

Figures are built on a bare `matplotlib.figure.Figure` with an Agg canvas, never through
pyplot: no window opens, no global figure state leaks between runs, and the same object
saves to a file, shows inline in a notebook and embeds in the Solara app.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator

from tokenmarket.model.entry import turnover
from tokenmarket.model.market import month_dates
from tokenmarket.model.schema import Scenario, Shock

if TYPE_CHECKING:
    from tokenmarket.runs.explain import Explanation


def provider_labels(providers: pd.DataFrame) -> pd.Series:
    """'provider (region, strategy)' per row: who, where and how, in one legend entry."""
    return providers["provider"] + " (" + providers["region"] + ", " + providers["strategy"] + ")"


RELEASE = " release"
"""Suffix of a model release's label: the most frequent event, the first to give way."""


def _event_label(shock: Shock) -> str:
    """A few words for one shock: what happened, and where or to whom."""
    match shock.kind:
        case "capacity_limit":
            lifted = shock.max_growth_per_month is None
            return f"{shock.region} export controls" + (" lifted" if lifted else "")
        case "gpu_access":
            if shock.allowed:
                return f"{shock.region} may buy {shock.gpu}"
            return f"{shock.region} export controls: no {shock.gpu}"
        case "access":
            if shock.probability == 0:
                return f"{shock.developer_region} bans {shock.home} APIs"
            return f"{shock.developer_region} access to {shock.home} APIs {shock.probability:.0%}"
        case "quality_jump":
            return f"{shock.provider}{RELEASE}"
        case "entry":
            return f"{shock.provider.name} enters"
        case "electricity":
            return f"{shock.region} power x{shock.factor:g}"
        case "carbon":
            return f"{shock.region} carbon price"
        case "efficiency":
            return f"{shock.region} chips x{shock.factor:g} energy"
        case "demand_growth":
            return f"{shock.region} demand growth {shock.per_month:+.0%}/month"
    return shock.kind


EVENT_ORDER = (
    "capacity_limit",
    "gpu_access",
    "access",
    "entry",
    "exit",
    "electricity",
    "carbon",
    "efficiency",
    "demand_growth",
    "quality_jump",
)
"""Policy first: when labels are shortened, export controls and bans are what stays."""


def events(spec: Scenario, providers: pd.DataFrame | None = None) -> list[tuple[int, str]]:
    """The scenario's shocks as (month, label), one per month: a month's labels joined.

    Several regions' changes of one kind in one month read as one event ("demand growth
    in 5 regions"), so a chart keeps one short line per month. With a run's `providers`
    frame, its entries and exits (`entry.turnover`) are events too.
    """
    by_month: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for shock in spec.shocks:
        by_month[shock.step][shock.kind].append(_event_label(shock))
    if providers is not None:
        incumbents = {p.name for p in spec.providers}
        for row in turnover(providers, incumbents).itertuples():
            kind = "entry" if row.event == "enters" else "exit"
            by_month[row.step][kind].append(f"{row.provider} {row.event}")
    marked = []
    for month in sorted(by_month):
        parts = []
        kinds = sorted(by_month[month], key=lambda k: EVENT_ORDER.index(k))
        for kind in kinds:
            labels = by_month[month][kind]
            if len(labels) > 2 and kind == "demand_growth":
                parts.append(f"demand growth changes in {len(labels)} regions")
            else:
                parts.extend(dict.fromkeys(labels))
        marked.append((month, "; ".join(parts)))
    return marked


def event_dates(
    spec: Scenario, providers: pd.DataFrame | None = None
) -> list[tuple[pd.Timestamp, str]]:
    """`events(spec, providers)` at their calendar dates: the first day of each event's month."""
    marked = events(spec, providers)
    dates = month_dates(spec.start, [month for month, _ in marked])
    return [(date, label) for date, (_, label) in zip(dates, marked, strict=True)]


def mark_events(
    ax: Axes,
    marked: Sequence[tuple[int | pd.Timestamp, str]],
    fontsize: float = 9.0,
    labels: bool = True,
    max_chars: int = 70,
) -> None:
    """A dotted vertical line at each event within the axes' span, labelled upright.

    Positions are in the x axis' own units: months on a month axis, dates (`event_dates`)
    on a date axis. Events closer than two lines of label text share one label, model
    releases last, at the line of the event it starts with, shortened to `max_chars`: close
    events do not print over each other, and policy is what stays. Labels stay out of the
    layout, so long ones never squeeze the axes.
    """
    low, high = ax.get_xlim()
    at = [(float(ax.convert_xunits(x)), label) for x, label in marked]
    shown = [(x, label) for x, label in at if low <= x <= high]
    width_points = ax.get_window_extent().width * 72.0 / ax.figure.dpi
    apart = 2.0 * fontsize * (high - low) / max(width_points, 1.0)  # x units of two lines
    groups: list[list[tuple[float, str]]] = []
    for x, label in shown:
        if groups and x - groups[-1][0][0] < apart:
            groups[-1].append((x, label))
        else:
            groups.append([(x, label)])
    for group in groups:
        for x, _ in group:
            ax.axvline(x, color="black", linestyle=":", linewidth=1.2, zorder=5)
        if not labels:
            continue
        parts = {part: x for x, label in reversed(group) for part in label.split("; ")}
        ranked = sorted(reversed(parts), key=lambda part: part.endswith(RELEASE))
        text = "; ".join(ranked)
        if len(text) > max_chars:
            text = text[: max_chars - 1] + "…"
        note = ax.annotate(
            text,
            (parts[ranked[0]], 1.0),  # at the line of the event that leads the label
            xycoords=("data", "axes fraction"),
            xytext=(2, -4),
            textcoords="offset points",
            rotation=90,
            ha="left",
            va="top",
            fontsize=fontsize,
            zorder=6,
            annotation_clip=True,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 1},
        )
        note.set_in_layout(False)


def agg_figure(
    figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, sharex: bool = False
) -> tuple[Figure, np.ndarray]:
    """The scaffold of every figure: a bare Figure on an Agg canvas, constrained layout.

    Returns the figure and its axes as an (nrows, ncols) array.
    """
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, sharex=sharex, squeeze=False)


MONTH_AXIS_LABEL = "calendar month"
"""The x label of every time-series figure: one point per month, at the month's first day."""


LABEL_INCHES = {"year": 0.6, "quarter": 0.9}
"""Room one tick label ("2024", "Apr 2024") and a gap need on the x axis, default font size."""


def date_axis(ax: Axes) -> None:
    """Readable calendar ticks: years (quarters as minor ticks) or, under two years, quarters.

    Tick labels are dates a reader (and `pd.to_datetime`) can parse: "2024", or "Apr 2024";
    a narrow panel labels every second (third, ...) year or quarter, so labels never touch.
    """
    low, high = (mdates.num2date(x) for x in ax.get_xlim())
    years = (high - low).days / 365.25
    inches = ax.get_window_extent().width / ax.figure.dpi
    if years >= 2:
        every = math.ceil(years / max(2, int(inches / LABEL_INCHES["year"])))
        ax.xaxis.set_major_locator(mdates.YearLocator(base=every))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        ax.xaxis.set_minor_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
    else:
        every = math.ceil(4 * years / max(2, int(inches / LABEL_INCHES["quarter"])))
        ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=range(1, 13, 3 * min(every, 4))))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
        ax.xaxis.set_minor_locator(mdates.MonthLocator())


def _new_figure(nrows: int, height_per_row: float = 3.2) -> tuple[Figure, list]:
    """A figure with `nrows` panels sharing the x axis (dates line up)."""
    fig, axes = agg_figure((10, height_per_row * nrows), nrows, sharex=True)
    return fig, list(axes[:, 0])


def _lines(frame: pd.DataFrame, y: str, ax, order: list[str], legend: bool) -> None:
    """One line per provider by calendar month, told apart by colour AND dashes/markers.

    Dashes and markers alone tell the lines apart, so the figure reads in greyscale.
    """
    sns.lineplot(
        data=frame,
        x="date",
        y=y,
        hue="label",
        style="label",
        hue_order=order,
        style_order=order,
        markers=True,
        dashes=True,
        markersize=5,
        markevery=max(1, frame["date"].nunique() // 12),
        ax=ax,
        legend=legend,
    )
    date_axis(ax)


def market_share_figure(
    providers: pd.DataFrame, marked: Sequence[tuple[pd.Timestamp, str]] = ()
) -> Figure:
    """Token market share (%) and posted price (USD/Mtok, log scale) per provider by month.

    Share and price side by side show who wins the market and at what price: the core story
    of a run. An exited provider posts no price, so its price line stops at its exit. The
    x axis is the calendar (the frame's `date`); the scenario's events (`event_dates(spec)`)
    are marked at their dates on both panels; the legend sits below.
    """
    frame = providers.assign(
        label=provider_labels(providers),
        share_pct=providers["token_share"] * 100.0,
        price=providers["price_usd_per_mtok"].where(
            providers["active"] & (providers["price_usd_per_mtok"] > 0)
        ),
    )
    order = list(dict.fromkeys(frame["label"]))
    fig, (share_ax, price_ax) = _new_figure(2, height_per_row=3.6)
    _lines(frame, "share_pct", share_ax, order, legend=True)
    _lines(frame.dropna(subset=["price"]), "price", price_ax, order, legend=False)

    share_ax.set(title="Token market share", ylabel="share of tokens served (%)")
    share_ax.set_ylim(bottom=0)
    price_ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # 0.5, 2, 10 rather than 5x10^-1
    price_ax.yaxis.set_major_formatter(plain)
    price_ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0)))
    price_ax.yaxis.set_minor_formatter(plain)
    price_ax.set(
        title="Posted price",
        ylabel="price (USD per million tokens)",
        xlabel=MONTH_AXIS_LABEL,
    )
    mark_events(share_ax, marked, max_chars=40)
    mark_events(price_ax, marked, labels=False)
    handles, labels = share_ax.get_legend_handles_labels()
    share_ax.get_legend().remove()
    fig.legend(
        handles,
        labels,
        title="provider (region, strategy)",
        loc="outside lower center",
        ncols=2,
        fontsize="small",
    )
    return fig


def segment_share_figure(segments: pd.DataFrame, providers: pd.DataFrame) -> Figure:
    """Each provider's share (%) of the tokens served to each segment, one panel per segment.

    Who wins which kind of work: with quality that costs compute, cheap small models should
    win the price-sensitive segments and frontier models keep the quality-sensitive ones.
    """
    labels = providers.drop_duplicates("provider").set_index("provider")
    frame = segments.assign(
        label=segments["provider"].map(
            provider_labels(labels.reset_index()).set_axis(labels.index)
        ),
        share_pct=segments["token_share"] * 100.0,
    )
    order = list(dict.fromkeys(frame["label"]))
    names = list(dict.fromkeys(frame["segment"]))
    fig, axes = _new_figure(len(names), height_per_row=2.6)
    for i, (ax, name) in enumerate(zip(axes, names, strict=True)):
        _lines(frame[frame["segment"] == name], "share_pct", ax, order, legend=i == 0)
        ax.set(title=f"Segment: {name}", ylabel="share of its tokens (%)", ylim=(0, 100))
    axes[-1].set(xlabel=MONTH_AXIS_LABEL)
    handles, legend_labels = axes[0].get_legend_handles_labels()
    axes[0].get_legend().remove()
    fig.legend(
        handles,
        legend_labels,
        title="provider (region, strategy)",
        loc="outside lower center",
        ncols=2,
        fontsize="small",
    )
    return fig


GROUP_HATCHES = ("//", "..", "xx", "\\\\", "oo")
"""Hatch of each factor group, in order: groups read apart in greyscale as in colour."""


def waterfall_figure(result: Explanation) -> Figure:
    """From the counterfactual to the scenario, one step per factor (percentage points).

    Each floating bar is a factor's Owen contribution, hatched by its group, with the 95%
    interval over seeds at its end; the end bars are the two outcomes (mean over seeds). The
    legend gives each group's Shapley contribution: the sum of its bars.
    """
    from tokenmarket.runs.explain import OUTCOMES

    factors = result.factors.reset_index(drop=True)
    groups = list(dict.fromkeys(factors["group"]))
    palette = sns.color_palette("colorblind", len(groups))
    start = result.counterfactual_value * 100.0
    steps = factors["contribution"].to_numpy() * 100.0
    bottoms = start + np.concatenate([[0.0], np.cumsum(steps)[:-1]])
    fig, axes = agg_figure((10, 4.8))
    ax = axes[0, 0]
    ax.bar(0, start, color="0.75", edgecolor="black")
    for i, row in factors.iterrows():
        g = groups.index(row["group"])
        x = i + 1
        ax.bar(
            x,
            steps[i],
            bottom=bottoms[i],
            color=palette[g],
            hatch=GROUP_HATCHES[g % len(GROUP_HATCHES)],
            edgecolor="black",
        )
        end = bottoms[i] + steps[i]
        half = (row["ci_high"] - row["ci_low"]) * 50.0
        ax.errorbar(x, end, yerr=half, color="black", capsize=3, linewidth=1)
    last = len(factors) + 1
    ax.bar(last, result.scenario_value * 100.0, color="0.35", edgecolor="black")
    handles = []
    for group_index, name in enumerate(groups):
        row = result.groups[result.groups["group"] == name].iloc[0]
        handles.append(
            Patch(
                facecolor=palette[group_index],
                hatch=GROUP_HATCHES[group_index % len(GROUP_HATCHES)],
                edgecolor="black",
                label=f"{name}: {row['contribution'] * 100:+.1f} pp "
                f"[{row['ci_low'] * 100:+.1f}, {row['ci_high'] * 100:+.1f}]",
            )
        )
    ax.set_xticks(
        range(last + 1), ["counterfactual", *factors["factor"], "scenario"], rotation=30, ha="right"
    )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(
        ylabel=OUTCOMES[result.outcome].axis,
        title=f"{result.outcome}: {result.total_change * 100:+.1f} percentage points from the "
        "counterfactual to the scenario",
    )
    ax.legend(handles=handles, title="rationale (Shapley, 95% CI)", loc="best")
    return fig
