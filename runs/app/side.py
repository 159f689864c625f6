"""The side-by-side view: two runs one knob apart, their charts aligned, and the scorecard.

A teacher picks the preset, the control and its two values (the preset's suggested
comparison is there already), presses ▶, and reads the scorecard. Changing the seed, the
control or a value rebuilds both runs at month 0 at once (no Reset needed); the provider
the scorecard follows can change at any time.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

import solara
from matplotlib.figure import Figure
from mesa.visualization.utils import update_counter

from tokenmarket.model.parameters import Knob
from tokenmarket.runs.app.compare import SideBySide, comparable_knobs, other_value, shown_default
from tokenmarket.runs.app.components import Chart, RunControls, use_stopped_when_gone
from tokenmarket.runs.app.controls import Frames
from tokenmarket.runs.app.figures import CASH, PRICE, SHARE, UTILIZATION, Metric, pair_figure
from tokenmarket.runs.app.scorecard import MEASURES, Arm, Scorecard, money, scorecard

METRICS = {"Share": SHARE, "Price": PRICE, "Cash": CASH, "Utilization": UTILIZATION}
"""Tab -> the metric both runs show in it."""

MEASURE_ROWS = {
    "share": "token share, last month",
    "profit": "profit, all months",
    "NPV": "NPV (discounted profit)",
}
"""Measure -> the scorecard row's title (what is compared, over what)."""


def focal_provider(model: SideBySide) -> str:
    """The provider the scorecard follows at first: the one the control is about.

    A provider's knob (strategy, parameter): that provider; a region's knob: the region's
    first provider; a market-wide knob: the preset's first provider.
    """
    binding = model.knob.binding
    providers = model.spec.providers
    if "provider" in binding:
        return binding["provider"]
    region = binding.get("region") or binding.get("home")
    return next((p.name for p in providers if p.home == region), providers[0].name)


def _pair_draw(metric: Metric, model: SideBySide) -> Callable[[dict[Arm, Frames]], Figure]:
    """Draw `metric` for both runs of `model` (titled by what each run set the control to)."""
    titles = {arm: f"{arm}: {label}" for arm, label in model.labels.items()}

    def draw(frames: dict[Arm, Frames]) -> Figure:
        runs = {arm: f.providers for arm, f in frames.items()}
        return pair_figure(metric, runs, titles, frames["A"].events)

    return draw


def scorecard_html(card: Scorecard, heading: str) -> str:
    """The scorecard as a table, the reason, and each run's largest provider."""
    head = "".join(f"<th>{escape(arm)}: {escape(label)}</th>" for arm, label in card.labels.items())
    shown = {
        "share": lambda o: f"{o.share:.1%}",
        "profit": lambda o: money(o.profit_usd),
        "NPV": lambda o: money(o.npv_usd),
    }
    rows = []
    for measure in MEASURES:
        won = card.winners[measure]
        cells = "".join(
            f'<td class="{"tm-won" if arm == won else ""}">{shown[measure](outcome)}</td>'
            for arm, outcome in card.outcomes.items()
        )
        rows.append(f"<tr><th>{MEASURE_ROWS[measure]}</th>{cells}<td>{won or 'draw'}</td></tr>")
    leaders = "; ".join(
        f"{arm}: {escape(name)} ({share:.0%})" for arm, (name, share) in card.leaders.items()
    )
    return (
        f'<h3>{escape(heading)}</h3><table class="tm-score"><thead><tr><th></th>{head}'
        f"<th>won</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f'<p class="tm-why">{escape(card.reason)}</p>'
        f"<p>Largest provider in the last month: {leaders}.</p>"
    )


@solara.component
def ScorecardPanel(model: SideBySide, provider: str) -> None:  # noqa: N802
    """The scorecard of the months so far; final when both runs reach the preset's end."""
    update_counter.get()
    with solara.Div(classes=["tm-panel", "tm-scorecard"]):
        if not model.steps:
            solara.HTML(
                tag="p",
                unsafe_innerHTML=f"The scorecard for {escape(provider)} fills in as the runs "
                f"go; it is final after month {model.spec.steps}. Press ▶.",
            )
            return
        frames = model.frames()
        card = scorecard(frames["A"].providers, frames["B"].providers, provider, model.labels)
        date = frames["A"].providers["date"].max().strftime("%b %Y")
        when = (
            f"end of run, month {model.steps} ({date})"
            if not model.running
            else f"month {model.steps} of {model.spec.steps} ({date}), so far"
        )
        solara.HTML(tag="div", unsafe_innerHTML=scorecard_html(card, f"{provider}: {when}"))


def _value_control(label: str, knob: Knob, value: Any, on_value: Callable[[Any], None]) -> None:
    """A control for one run's value of the knob: a list of choices or a slider on its range."""
    domain = knob.domain
    if knob.parameter.kind == "categorical":
        solara.Select(label=label, value=value, values=domain["choices"], on_value=on_value)
    elif knob.parameter.kind == "integer":
        solara.SliderInt(
            label, value=value, min=domain["low"], max=domain["high"], on_value=on_value
        )
    else:
        solara.SliderFloat(
            label,
            value=value,
            min=domain["low"],
            max=domain["high"],
            step=domain["step"],
            on_value=on_value,
        )


@solara.component
def PairViz(preset: str) -> None:  # noqa: N802
    """The comparison's controls in the sidebar; the aligned charts and the scorecard."""
    model = solara.use_reactive(solara.use_memo(lambda: SideBySide(preset), []))
    first = model.value
    settings = solara.use_reactive(
        {
            "preset": preset,
            "rng": first.seed,
            "control": first.knob.name,
            "a": first.values["A"],
            "b": first.values["B"],
        }
    )
    built, set_built = solara.use_state(0)
    provider, set_provider = solara.use_state(focal_provider(first))
    tab, set_tab = solara.use_state(0)
    use_stopped_when_gone(model)
    knobs = comparable_knobs(preset)
    by_label = {knob.label: name for name, knob in knobs.items()}

    def rebuild(**changes: Any) -> None:
        settings.value = {**settings.value, **changes}
        model.value = SideBySide(**settings.value)
        set_built(built + 1)  # a fresh controller: not playing, running again

    def pick_control(label: str) -> None:
        knob = knobs[by_label[label]]
        rebuild(control=knob.name, a=shown_default(knob), b=other_value(knob))
        set_provider(focal_provider(model.value))

    pair = model.value
    draw = solara.use_memo(lambda: _pair_draw(list(METRICS.values())[tab], pair), [tab, pair])
    with solara.AppBar():
        solara.AppBarTitle("TokenMarket: two runs side by side")
    with solara.Sidebar(), solara.Column():
        RunControls(model, settings).key(f"controls-{built}")
        with solara.Card("Compare two runs"):
            solara.SliderInt(
                "Random seed (both runs)",
                value=settings.value["rng"],
                min=0,
                max=99,
                on_value=lambda seed: rebuild(rng=seed),
            )
            solara.Select(
                label="Control to change",
                value=pair.knob.label,
                values=list(by_label),
                on_value=pick_control,
            )
            for arm in ("A", "B"):
                _value_control(
                    f"Run {arm}: {pair.knob.label}",
                    pair.knob,
                    pair.values[arm],
                    lambda value, arm=arm: rebuild(**{arm.lower(): value}),
                )
            solara.Select(
                label="Scorecard for",
                value=provider,
                values=[p.name for p in pair.spec.all_providers],
                on_value=set_provider,
            )
    with solara.Div(classes=["tm-pair"]):
        with solara.Div():
            with solara.lab.Tabs(value=tab, on_value=set_tab):
                for title in METRICS:
                    solara.lab.Tab(title)
            Chart(pair, draw)
        ScorecardPanel(pair, provider)
