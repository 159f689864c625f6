"""The classroom app's page: preset picker, SolaraViz on the preset's model, its panels."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

import solara
from matplotlib.figure import Figure
from mesa.visualization import SolaraViz

from tokenmarket.runs.app.controls import (
    PLAY_INTERVAL_MS,
    PRESETS,
    ClassroomMarket,
    Frames,
    model_params,
    preset_scenario,
)
from tokenmarket.runs.app.figures import (
    cash_figure,
    flows_figure,
    looks,
    price_figure,
    provider_table,
    share_figure,
    starting_providers,
    table_html,
    utilization_figure,
)

PAGE_CSS = """
.tm-providers {
    font-size: clamp(11px, 0.8vw, 15px); width: 100%;
    border-collapse: collapse; white-space: nowrap;
}
.tm-providers th, .tm-providers td { padding: 4px 6px; border-bottom: 1px solid #ddd; }
.tm-providers small { font-weight: normal; color: #555; }
.tm-providers .tm-wrap { white-space: normal; }
.tm-story { font-size: 16px; font-style: italic; margin-top: 8px; }
.v-navigation-drawer .v-label, .v-navigation-drawer .v-select__selection { font-size: 15px; }
.v-tabs-bar__content > .v-tab { font-size: 0; }
.v-tabs-bar__content > .v-tab::after { font-size: 15px; letter-spacing: normal; }
.v-tabs-bar__content > .v-tab:nth-child(2)::after { content: "Market"; }
.v-tabs-bar__content > .v-tab:nth-child(3)::after { content: "Cash and utilization"; }
.v-navigation-drawer .v-slider__thumb-container::after {
    content: attr(aria-valuenow); position: absolute; top: 0; left: 0;
    transform: translate(-50%, -50%); padding: 0 5px; border-radius: 4px;
    background: #1976d2; color: white; font-size: 13px; line-height: 20px; white-space: nowrap;
}
"""
"""Large type on the projector (the table's shrinks on narrow screens, as the charts do); each
slider shows its value on its thumb (Mesa's sliders otherwise show it only while dragged; the
thumb carries it as `aria-valuenow`); the tabs of SolaraViz's pages say what they hold
instead of "Page 0" and "Page 1"."""


def _chart(draw: Callable[[Frames], Figure]) -> Callable[[ClassroomMarket], Any]:
    """A SolaraViz component drawing `draw` once per month (Mesa re-renders it each step)."""

    def chart(model: ClassroomMarket) -> solara.Element:
        figure = solara.use_memo(lambda: draw(model.frames()), [model, model.steps])
        return solara.FigureMatplotlib(
            figure,
            dependencies=[model, model.steps],
            format="png",
            pil_kwargs={"compress_level": 1},
        )

    return chart


def provider_panel(model: ClassroomMarket) -> solara.Element:
    """The providers this month, in large type, coloured as in the charts."""
    names = [p.name for p in model.spec.all_providers]
    colors = {name: look.color for name, look in looks(names).items()}
    providers = model.frames().providers
    table = provider_table(starting_providers(model.spec) if providers.empty else providers)
    with solara.Column(style={"padding": "4px 8px", "overflow": "auto"}) as column:
        solara.HTML(tag="h3", unsafe_innerHTML=f"Providers in month {model.steps}")
        solara.HTML(tag="div", unsafe_innerHTML=table_html(table, colors))
    return column


COMPONENTS = [
    (_chart(lambda f: share_figure(f.providers)), 0),
    (_chart(lambda f: price_figure(f.providers)), 0),
    (provider_panel, 0),
    (_chart(lambda f: flows_figure(f.flows)), 0),
    (_chart(lambda f: cash_figure(f.providers)), 1),
    (_chart(lambda f: utilization_figure(f.providers)), 1),
]
"""(panel, page): page 0 is the market, one screen; page 1 the firms' cash and utilization.
SolaraViz draws only the open page, so a step redraws three charts, not five."""

preset_title = solara.reactive(next(iter(PRESETS)))
"""The preset picked in this browser session."""


@solara.component
def PresetPicker() -> None:  # noqa: N802 (Solara components are CamelCase)
    """The preset list and the chosen preset's one-line story."""
    spec = preset_scenario(PRESETS[preset_title.value])
    solara.Select(label="Preset", value=preset_title, values=list(PRESETS))
    solara.HTML(tag="div", unsafe_innerHTML=escape(spec.description), classes=["tm-story"])


@solara.component
def PresetViz(preset: str) -> None:  # noqa: N802 (Solara components are CamelCase)
    """SolaraViz on one preset's model; stops the model when the page moves on.

    Mesa's play loop runs in a thread until the model stops `running`, and would outlive
    an unmounted SolaraViz, stepping a model nobody sees. The model is held in a reactive
    passed to SolaraViz, so Reset's rebuilt model is the one stopped.
    """
    model = solara.use_reactive(solara.use_memo(lambda: ClassroomMarket(preset), []))

    def stop_when_gone() -> Callable[[], None]:
        def stop() -> None:
            model.value.running = False

        return stop

    solara.use_effect(stop_when_gone, [])
    SolaraViz(
        model,
        components=COMPONENTS,
        model_params=model_params(preset),
        name="TokenMarket: the market for LLM API tokens",
        play_interval=PLAY_INTERVAL_MS,
    )


@solara.component
def Page() -> None:  # noqa: N802 (the name `solara run` looks for)
    """The preset picker and SolaraViz for the chosen preset, rebuilt when the preset changes.

    SolaraViz's sidebar lives in the layout's portal, where a new SolaraViz would find its
    predecessor's control components and keep their state (the previous preset's
    parameters). So a switch takes two renders: one without SolaraViz, then the new one.
    """
    preset = PRESETS[preset_title.value]
    shown, set_shown = solara.use_state(preset)
    solara.use_effect(lambda: set_shown(preset), [preset])
    solara.Title("TokenMarket classroom")
    solara.Style(PAGE_CSS)
    with solara.Sidebar(), solara.Card("Preset"):
        PresetPicker()
    if shown == preset:
        PresetViz(preset)


page = Page()
