"""The seaborn figures, drawn from the model's tidy frames; shared by CLI, notebooks and app.

Figures are built on a bare `matplotlib.figure.Figure` with an Agg canvas, never through
pyplot: no window opens, no global figure state leaks between runs, and the same object
saves to a file, shows inline in a notebook and embeds in the Solara app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator

if TYPE_CHECKING:
    from tokenmarket.runs.explain import Explanation


def provider_labels(providers: pd.DataFrame) -> pd.Series:
    """'provider (region, strategy)' per row: who, where and how, in one legend entry."""
    return providers["provider"] + " (" + providers["region"] + ", " + providers["strategy"] + ")"


def agg_figure(
    figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, sharex: bool = False
) -> tuple[Figure, np.ndarray]:
    """The scaffold of every figure: a bare Figure on an Agg canvas, constrained layout.

    Returns the figure and its axes as an (nrows, ncols) array.
    """
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, sharex=sharex, squeeze=False)


def _new_figure(nrows: int, height_per_row: float = 3.2) -> tuple[Figure, list]:
    """A figure with `nrows` panels sharing the x axis (months line up)."""
    fig, axes = agg_figure((10, height_per_row * nrows), nrows, sharex=True)
    return fig, list(axes[:, 0])


def _lines(frame: pd.DataFrame, y: str, ax, order: list[str], legend: bool) -> None:
    """One line per provider, told apart by colour AND dashes/markers (reads in greyscale)."""
    sns.lineplot(
        data=frame,
        x="step",
        y=y,
        hue="label",
        style="label",
        hue_order=order,
        style_order=order,
        markers=True,
        dashes=True,
        markersize=5,
        markevery=max(1, frame["step"].nunique() // 12),
        ax=ax,
        legend=legend,
    )


def market_share_figure(providers: pd.DataFrame) -> Figure:
    """Token market share (%) and posted price (USD/Mtok, log scale) per provider over months.

    Share and price side by side show who wins the market and at what price: the core story
    of a run. An exited provider posts no price, so its price line stops at its exit.
    """
    frame = providers.assign(
        label=provider_labels(providers),
        share_pct=providers["token_share"] * 100.0,
        price=providers["price_usd_per_mtok"].where(
            providers["active"] & (providers["price_usd_per_mtok"] > 0)
        ),
    )
    order = list(dict.fromkeys(frame["label"]))
    fig, (share_ax, price_ax) = _new_figure(2)
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
        xlabel="month",
    )
    handles, labels = share_ax.get_legend_handles_labels()
    share_ax.get_legend().remove()
    fig.legend(handles, labels, title="provider (region, strategy)", loc="outside right upper")
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
    axes[-1].set(xlabel="month")
    handles, legend_labels = axes[0].get_legend_handles_labels()
    axes[0].get_legend().remove()
    fig.legend(
        handles, legend_labels, title="provider (region, strategy)", loc="outside right upper"
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
