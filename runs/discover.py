"""Scenario discovery over a stored sweep: where in parameter space an outcome happens.

"When does low price lose?" asks for the region of the inputs where a condition on an
outcome holds, described simply enough to read. PRIM (Friedman & Fisher 1999, "Bump hunting
in high-dimensional data"; Bryant & Lempert 2010, "Thinking inside the box", for its use in
scenario discovery) peels the parameter box until the cases of interest are dense in it; a
shallow classification tree (Breiman et al. 1984) gives a second, independent description.
Both are read by two numbers per box: coverage, the share of all cases of interest that fall
in it, and density, the share of the runs in it that are cases of interest.

The unit is the run: every replication is one row, so seed noise is part of what PRIM must
explain. PRIM comes from the EMA workbench (`pip install 'tokenmarket[discover]'`).

    data = load_sweep("results/sve")
    table = run_table(data)                        # one row per run: parameters, outcomes
    cases = condition_mask(table["token_share@cn_lowcost"], ">= 0.4", "token_share@cn_lowcost")
    boxes = prim_boxes(table[data.parameters], cases)
"""

from __future__ import annotations

import math
import operator
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from tokenmarket.model import parameters
from tokenmarket.model.schema import Scenario
from tokenmarket.runs.analysis import (
    ANALYSIS_DIR,
    FOCAL_OUTCOMES,
    SENSITIVITY_OUTCOMES,
    AnalysisError,
    AnalysisReport,
    SweepData,
    _figure,
    _write_csv,
    _write_figure,
    annotated_heatmap,
    custom_runs,
    load_sweep,
    market_runs,
    strategy_runs,
)
from tokenmarket.runs.sweep import ID_COLUMNS

MIN_DENSITY = 0.8
"""A PRIM box must reach this density (most runs in it are cases of interest, the usual
scenario-discovery reading); among those on the peeling trajectory, the one with the best
balance of coverage and density (their harmonic mean, the F1 score of the box taken as a
classifier) is reported: the largest coverage alone would stop at the loosest box."""

MAX_BOXES = 3
"""PRIM looks for up to this many boxes, each among the cases the earlier boxes left out."""

GRID_LEVELS = 12
"""Parameters with at most this many values are drawn as a grid of cells, not a scatter."""

TREE_DEPTH = 3
"""A tree this shallow stays a readable rule (at most three conditions per leaf)."""

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Box:
    """One description of where the cases of interest are, with its coverage and density."""

    method: str
    rank: int
    coverage: float
    density: float
    n: int
    """Runs inside the box."""
    rule: str
    limits: pd.DataFrame
    """One row per restricted parameter: `parameter`, `low`, `high` (numbers) or `values`."""


def run_table(data: SweepData) -> pd.DataFrame:
    """One row per run: its parameters and every outcome discovery can use.

    Market outcomes by name (`hhi`), strategy sums as `<metric>[<strategy>]`, a provider's
    own outcomes as `<metric>@<provider>`, and a spec's custom outcomes by name.
    """
    params = data.parameters
    keys = [*ID_COLUMNS, *params]
    table = market_runs(data.summary, params)
    strategies = strategy_runs(data.summary, params).pivot_table(
        index="run_id", columns="strategy", values=list(SENSITIVITY_OUTCOMES), aggfunc="first"
    )
    strategies.columns = [f"{m}[{s}]" for m, s in strategies.columns]
    providers = data.summary.pivot_table(
        index="run_id", columns="provider", values=list(FOCAL_OUTCOMES), aggfunc="first"
    )
    providers.columns = [f"{m}@{p}" for m, p in providers.columns]
    custom = custom_runs(data.summary, params).drop(columns=[*keys[1:]]).set_index("run_id")
    joined = table.set_index("run_id").join([strategies, providers, custom]).reset_index()
    return joined[[*keys, *(c for c in joined.columns if c not in keys)]]


def condition_mask(values: pd.Series, condition: str, outcome: str) -> np.ndarray:
    """Which runs are cases of interest: `condition` is an operator and a number, '< 0.3'."""
    match = re.fullmatch(r"\s*(<=|>=|==|!=|<|>)\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*", condition)
    try:
        threshold = float(match.group(2)) if match else math.nan
    except ValueError:
        threshold = math.nan
    if match is None or math.isnan(threshold):
        raise AnalysisError(
            f"--condition: expected an operator (<, <=, >, >=, ==, !=) and a number, such as "
            f"'< 0.3' (got {condition!r})"
        )
    numbers = values.astype(float)
    if numbers.isna().all():
        raise AnalysisError(f"--outcome: {outcome} is missing in every run")
    return OPERATORS[match.group(1)](numbers, threshold).fillna(False).to_numpy(dtype=bool)


def _features(x: pd.DataFrame) -> pd.DataFrame:
    """Parameters as PRIM takes them: numbers as floats, strings and booleans as categories."""
    return pd.DataFrame(
        {
            name: column.astype(float)
            if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
            else pd.Categorical(column.astype(str))
            for name, column in x.items()
        }
    )


def prim_boxes(x: pd.DataFrame, cases: np.ndarray, min_density: float = MIN_DENSITY) -> list[Box]:
    """PRIM's boxes (EMA workbench), each where coverage and density balance best.

    Only boxes with density >= min_density count (`MIN_DENSITY`); the search stops at the
    first box that never reaches it: PRIM found no further such region.
    """
    boxes: list[Box] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optional back-ends missing; pandas deprecations
        from ema_workbench.analysis import prim

        finder = prim.Prim(_features(x), cases.astype(int))
        for rank in range(1, MAX_BOXES + 1):
            box = finder.find_box()
            trajectory = None if box is None else box.peeling_trajectory
            if trajectory is None or (trajectory["density"] < min_density).all():
                break
            dense = trajectory[trajectory["density"] >= min_density]
            best = int((2 / (1 / dense["coverage"] + 1 / dense["density"])).idxmax())
            box.select(best)  # the next box is sought among the runs outside this one
            limits = _restrictions(box.box_lims[0], box.box_lims[best])
            boxes.append(
                Box(
                    method="prim",
                    rank=rank,
                    coverage=float(trajectory.loc[best, "coverage"]),
                    density=float(trajectory.loc[best, "density"]),
                    n=int(trajectory.loc[best, "n"]),
                    rule=_rule(limits),
                    limits=limits,
                )
            )
    return boxes


def _restrictions(initial: pd.DataFrame, box: pd.DataFrame) -> pd.DataFrame:
    """The parameters a box restricts, with its bounds (numbers) or allowed values (categories)."""
    rows = []
    for name in box.columns:
        low, high = box.loc[0, name], box.loc[1, name]
        if isinstance(low, set):
            if low != initial.loc[0, name]:
                rows.append({"parameter": name, "values": ", ".join(sorted(map(str, low)))})
        elif low > initial.loc[0, name] or high < initial.loc[1, name]:
            rows.append({"parameter": name, "low": float(low), "high": float(high)})
    return pd.DataFrame(rows, columns=["parameter", "low", "high", "values"])


def _rule(limits: pd.DataFrame) -> str:
    """A box as one line: 'a in [0, 0.3] and c in {u}'."""
    parts = []
    for row in limits.itertuples(index=False):
        if isinstance(row.values, str):
            parts.append(f"{row.parameter} in {{{row.values}}}")
        else:
            parts.append(f"{row.parameter} in [{row.low:.4g}, {row.high:.4g}]")
    return " and ".join(parts) or "everywhere"


def tree_boxes(x: pd.DataFrame, cases: np.ndarray, depth: int = TREE_DEPTH) -> list[Box]:
    """The leaves of a shallow classification tree that predict a case of interest.

    Categories are one-hot encoded; leaves hold at least 5% of the runs, so that a leaf is
    a region and not a single run (the same floor as PRIM's default `mass_min`).
    """
    from sklearn.tree import DecisionTreeClassifier

    features = pd.get_dummies(_features(x), prefix_sep="=", dtype=float)
    tree = DecisionTreeClassifier(
        max_depth=depth, min_samples_leaf=max(1, math.ceil(0.05 * len(x))), random_state=0
    ).fit(features, cases)
    leaves = tree.apply(features)
    total = max(int(cases.sum()), 1)
    boxes = []
    for leaf, conditions in _leaf_rules(tree, list(features.columns)).items():
        inside = leaves == leaf
        density = float(cases[inside].mean())
        if density <= 0.5:
            continue
        boxes.append(
            Box(
                method="tree",
                rank=0,
                coverage=float(cases[inside].sum()) / total,
                density=density,
                n=int(inside.sum()),
                rule=" and ".join(conditions) or "everywhere",
                limits=pd.DataFrame(columns=["parameter", "low", "high", "values"]),
            )
        )
    boxes.sort(key=lambda b: -b.coverage)
    return [
        Box(b.method, rank, b.coverage, b.density, b.n, b.rule, b.limits)
        for rank, b in enumerate(boxes, 1)
    ]


def _leaf_rules(tree: Any, names: Sequence[str]) -> dict[int, list[str]]:
    """Each leaf of a fitted tree and the conditions on the path to it."""
    inner = tree.tree_
    rules: dict[int, list[str]] = {}

    def walk(node: int, path: list[str]) -> None:
        if inner.children_left[node] == inner.children_right[node]:  # a leaf
            rules[node] = path
            return
        name, cut = names[inner.feature[node]], inner.threshold[node]
        if "=" in name:  # a one-hot category: 0 left, 1 right
            left, right = name.replace("=", " != ", 1), name.replace("=", " == ", 1)
        else:
            left, right = f"{name} <= {cut:.4g}", f"{name} > {cut:.4g}"
        walk(inner.children_left[node], [*path, left])
        walk(inner.children_right[node], [*path, right])

    walk(0, [])
    return rules


def boxes_frame(boxes: Sequence[Box]) -> pd.DataFrame:
    """The boxes as a table: method, rank, coverage, density, runs, rule."""
    return pd.DataFrame(
        [
            {
                "method": b.method,
                "rank": b.rank,
                "coverage": b.coverage,
                "density": b.density,
                "runs": b.n,
                "rule": b.rule,
            }
            for b in boxes
        ],
        columns=["method", "rank", "coverage", "density", "runs", "rule"],
    )


def discovery_figure(
    x: pd.DataFrame,
    cases: np.ndarray,
    box: Box,
    outcome: str,
    condition: str,
    scenario: Scenario | None = None,
) -> Figure:
    """PRIM's first box: each restricted parameter's allowed span over its sampled range.

    Left, one bar per restricted number, from the box's low to high end, on the scale of the
    parameter's sampled range (0 = its smallest value, 1 = its largest), labelled in the
    parameter's units; categories list their kept values. Right, over the first two
    restricted numbers (or the first numbers): on a grid, the share of cases per cell,
    printed; sampled, every run, cases as filled circles and others as crosses, with the
    box drawn. Both read in black and white.
    """
    numeric = box.limits.dropna(subset=["low"])
    fig, axes = _figure(2, width=4.6, height=0.45 * max(len(box.limits), 2) + 2.4)
    spans, scatter = axes[0]
    for i, row in enumerate(box.limits.itertuples(index=False)):
        if isinstance(row.values, str):
            spans.text(0.5, i, f"{{{row.values}}}", ha="center", va="center")
            continue
        column = x[row.parameter].astype(float)
        lo, hi = column.min(), column.max()
        scale = (hi - lo) or 1.0
        left, right = (row.low - lo) / scale, (row.high - lo) / scale
        spans.barh(i, right - left, left=left, color="0.7", edgecolor="black", hatch="//")
        spans.text(right + 0.02, i, f"{row.low:.3g} to {row.high:.3g}", va="center", fontsize=8)
    spans.set(
        xlim=(0, 1.6),
        yticks=range(len(box.limits)),
        yticklabels=[parameters.label(p, scenario) for p in box.limits["parameter"]],
        xlabel="position in the sampled range (0 = lowest, 1 = highest)",
        title=f"box 1: coverage {box.coverage:.2f}, density {box.density:.2f}",
    )
    spans.set_ylim(len(box.limits) - 0.5, -0.5)
    pair = list(numeric["parameter"][:2])
    pair += [p for p in x.columns if p not in pair and pd.api.types.is_numeric_dtype(x[p])][
        : 2 - len(pair)
    ]
    case = f"{outcome} {condition}"
    if len(pair) < 2:
        scatter.set_visible(False)
    elif x[pair].nunique().max() <= GRID_LEVELS:
        _case_share_grid(scatter, x[pair].assign(case=cases), pair, scenario)
    else:
        _case_scatter(scatter, x[pair].assign(case=cases), pair, case, numeric, scenario)
    fig.suptitle(f"Scenario discovery (PRIM): where {outcome} {condition}")
    return fig


def _case_share_grid(
    ax: Any, frame: pd.DataFrame, pair: list[str], scenario: Scenario | None
) -> None:
    """A gridded design: the share of runs that are cases, per cell, printed in every cell."""
    grid = frame.pivot_table(index=pair[1], columns=pair[0], values="case", aggfunc="mean")
    annotated_heatmap(
        ax,
        grid,
        "share of runs that are cases (0-1)",
        cmap="Greys",
        vmin=0,
        vmax=1,
        scenario=scenario,
    )
    ax.set_title("share of cases per cell (other parameters pooled)")


def _case_scatter(
    ax: Any,
    frame: pd.DataFrame,
    pair: list[str],
    case: str,
    numeric: pd.DataFrame,
    scenario: Scenario | None,
) -> None:
    """A sampled design: every run, cases as filled circles, others as crosses; the box."""
    labels = frame.assign(case=np.where(frame["case"], case, "other"))
    sns.scatterplot(
        data=labels,
        x=pair[0],
        y=pair[1],
        style="case",
        markers={case: "o", "other": "X"},
        color="black",
        alpha=0.6,
        ax=ax,
    )
    limits = numeric.set_index("parameter")
    ends = [
        (limits.loc[p, "low"], limits.loc[p, "high"])
        if p in limits.index
        else (frame[p].min(), frame[p].max())
        for p in pair
    ]
    (x0, x1), (y0, y1) = ends
    ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="black", linewidth=1.5)
    ax.set(xlabel=parameters.label(pair[0], scenario), ylabel=parameters.label(pair[1], scenario))
    ax.set_title("every run; the box in black")


def discover(
    root: str | Path, outcome: str, condition: str, min_density: float = MIN_DENSITY
) -> tuple[list[Box], AnalysisReport]:
    """PRIM and tree boxes of `outcome condition` over a sweep; table and figure written.

    Writes `ROOT/analysis/discover_<outcome>.csv` and `.png`; nothing when the input is
    refused (`AnalysisError`).
    """
    data = load_sweep(root)
    if data.summary.empty:
        raise AnalysisError(f"SWEEP_DIR: {str(root)!r} has no finished runs yet")
    table = run_table(data)
    available = [c for c in table.columns if c not in (*ID_COLUMNS, *data.parameters)]
    if outcome not in table:
        raise AnalysisError(
            f"--outcome: {outcome!r} is not an outcome of this sweep; one of {', '.join(available)}"
        )
    cases = condition_mask(table[outcome], condition, outcome)
    if not 0 < cases.sum() < len(cases):
        share = "every" if cases.all() else "no"
        raise AnalysisError(
            f"--condition: {outcome} {condition.strip()} holds in {share} run: nothing to "
            "discover; choose a threshold inside the outcome's range "
            f"({table[outcome].min():.4g} to {table[outcome].max():.4g})"
        )
    x = table[data.parameters]
    boxes = prim_boxes(x, cases, min_density) + tree_boxes(x, cases)
    report = AnalysisReport()
    out = data.root / ANALYSIS_DIR
    out.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", outcome)
    _write_csv(report, out / f"discover_{name}.csv", boxes_frame(boxes))
    first = next((b for b in boxes if b.method == "prim"), None)
    if first is None:
        report.notes.append(f"PRIM found no box with density >= {min_density}: no figure")
    else:
        fig = discovery_figure(x, cases, first, outcome, condition.strip(), data.scenario)
        _write_figure(report, out / f"discover_{name}.png", fig)
    report.notes.insert(
        0, f"{int(cases.sum())} of {len(cases)} runs have {outcome} {condition.strip()}"
    )
    return boxes, report


def boxes_lines(boxes: Sequence[Box]) -> str:
    """The boxes for a console: coverage, density and runs, then the rule."""
    lines = ["Boxes (coverage = share of the cases inside; density = share of the box's runs):"]
    for b in boxes:
        lines.append(
            f"  {b.method} {b.rank}: coverage {b.coverage:.2f}, density {b.density:.2f}, "
            f"{b.n} runs: {b.rule}"
        )
    return "\n".join(lines)
