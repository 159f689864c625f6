"""The classroom app's page: preset picker, Mesa's SolaraViz parts on the preset's model, panels."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

import solara
from matplotlib.figure import Figure
from mesa.visualization.solara_viz import ModelCreator
from mesa.visualization.utils import update_counter

from tokenmarket.runs.app.components import Chart, RunControls, use_stopped_when_gone
from tokenmarket.runs.app.controls import (
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
from tokenmarket.runs.app.guide import GLOSSARY, TRY
from tokenmarket.runs.app.side import PairViz

PAGE_CSS = """
.v-navigation-drawer { width: 320px !important; min-width: 320px !important; }
.v-main { padding-left: 320px !important; }
.tm-panels {
    display: grid; gap: 12px; padding: 8px;
    grid-template-columns: repeat(auto-fill, minmax(min(100%, 420px), 1fr));
}
.tm-panel { min-width: 0; background: white; box-shadow: 0 1px 3px rgba(0,0,0,.25); }
.tm-panel img {
    display: block; margin: 0 auto; max-width: 100%; height: auto;
    max-height: calc(100vh - 140px); object-fit: contain;
}
.tm-wide { grid-column: 1 / -1; }
.tm-providers {
    font-size: clamp(13px, 1.15vw, 18px); width: 100%;
    border-collapse: collapse; white-space: nowrap;
}
.tm-providers th, .tm-providers td { padding: 4px 6px; border-bottom: 1px solid #ddd; }
.tm-providers small { font-weight: normal; color: #555; }
.tm-providers .tm-wrap { white-space: normal; }
.tm-story { font-size: 16px; font-style: italic; margin-top: 8px; }
.tm-guide { font-size: 15px; padding-left: 1.2em; }
.tm-guide li { margin-bottom: 6px; }
.tm-guide dt { font-weight: bold; margin-top: 6px; }
.tm-guide dd { margin-left: 0; }
.tm-pair {
    display: grid; gap: 12px; padding: 8px; align-items: start;
    grid-template-columns: minmax(0, 3fr) minmax(320px, 2fr);
}
.tm-pair .tm-panel img { max-height: calc(100vh - 190px); }
.tm-scorecard { padding: 4px 10px; font-size: 15px; }
.tm-scorecard h3 { margin: 4px 0; }
.tm-score { border-collapse: collapse; width: 100%; }
.tm-score th, .tm-score td { padding: 4px 6px; border-bottom: 1px solid #ddd; text-align: right; }
.tm-score tbody th { text-align: left; font-weight: normal; }
.tm-score .tm-won { font-weight: bold; text-decoration: underline; }
.tm-why { margin: 8px 0; }
.v-navigation-drawer .v-label, .v-navigation-drawer .v-select__selection { font-size: 15px; }
.v-navigation-drawer .v-slider__thumb-container::after {
    content: attr(aria-valuenow); position: absolute; top: 0; left: 0;
    transform: translate(-50%, -50%); padding: 0 5px; border-radius: 4px;
    background: #1976d2; color: white; font-size: 13px; line-height: 20px; white-space: nowrap;
}
"""
"""A 320 px sidebar; panels in a grid of columns at least 420 px wide (two on a 1280 x 720
projector with the sidebar open, more on a wide screen), charts scaled to fit their panel
and the screen's height, the provider table on a full row so all its columns show; side by
side, the two runs' charts one above the other beside the scorecard, both within the
screen's height; each slider shows its value on its thumb (Mesa's sliders otherwise show
it only while dragged; the thumb carries it as `aria-valuenow`)."""


@solara.component
def ProviderPanel(model: ClassroomMarket) -> None:  # noqa: N802
    """The providers this month, in large type, coloured as in the charts."""
    update_counter.get()
    names = [p.name for p in model.spec.all_providers]
    colors = {name: look.color for name, look in looks(names).items()}
    providers = model.frames().providers
    table = provider_table(starting_providers(model.spec) if providers.empty else providers)
    with solara.Div(classes=["tm-panel", "tm-wide"], style={"padding": "4px 8px"}):
        solara.HTML(tag="h3", unsafe_innerHTML=f"Providers in month {model.steps}")
        solara.HTML(tag="div", unsafe_innerHTML=table_html(table, colors))


def _drawn(figure: Callable[..., Figure], frame: str) -> Callable[[Frames], Figure]:
    """`figure` of one of the frames, with the events so far marked."""

    def drawn(frames: Frames) -> Figure:
        return figure(getattr(frames, frame), frames.events)

    return drawn


TABS: dict[str, list[Callable[[Frames], Figure] | None]] = {
    "Market": [
        _drawn(share_figure, "providers"),
        _drawn(price_figure, "providers"),
        None,
        _drawn(flows_figure, "flows"),
    ],
    "Cash and utilization": [
        _drawn(cash_figure, "providers"),
        _drawn(utilization_figure, "providers"),
    ],
}
"""Tab -> its panels in order (None: the provider table). Only the open tab is drawn, so a
month redraws three charts, not five."""


@solara.component
def Panels(model: ClassroomMarket) -> None:  # noqa: N802
    """The tabs of panels; only the open one is rendered."""
    tab, set_tab = solara.use_state(0)
    with solara.lab.Tabs(value=tab, on_value=set_tab):
        for title in TABS:
            solara.lab.Tab(title)
    with solara.Div(classes=["tm-panels"]):
        for draw in list(TABS.values())[tab]:
            if draw is None:
                ProviderPanel(model)
            else:
                Chart(model, draw)


@solara.component
def ClassroomViz(model: solara.Reactive[ClassroomMarket], preset: str) -> None:  # noqa: N802
    """SolaraViz's parts, laid out for a projector.

    Mesa's controller and parameter controls in the sidebar, its play and render intervals
    and thread switch in a fold, the panels in a grid that fits 1280 x 720.
    """
    parameters = solara.use_reactive({})
    with solara.AppBar():
        solara.AppBarTitle("TokenMarket: the market for LLM API tokens")
    with solara.Sidebar(), solara.Column():
        RunControls(model, parameters)
        with solara.Card("Model parameters"):
            ModelCreator(model, model_params(preset), model_parameters=parameters)
    Panels(model.value)


preset_title = solara.reactive(next(iter(PRESETS)))
"""The preset picked in this browser session."""

MODES = ("One run", "Side by side")
mode = solara.reactive(MODES[0])
"""One run with every control, or two runs one control apart (`side.PairViz`)."""


@solara.component
def PresetPicker() -> None:  # noqa: N802 (Solara components are CamelCase)
    """The preset list, the chosen preset's one-line story, what to try, the glossary."""
    preset = PRESETS[preset_title.value]
    spec = preset_scenario(preset)
    solara.Select(label="Preset", value=preset_title, values=list(PRESETS))
    solara.ToggleButtonsSingle(value=mode, values=list(MODES))
    solara.HTML(tag="div", unsafe_innerHTML=escape(spec.description), classes=["tm-story"])
    experiments = "".join(
        f"<li>{escape(action)}<br><i>{escape(question)}</i></li>"
        for action, question in TRY[preset]
    )
    with solara.Details("What to try"):
        solara.HTML(tag="ol", unsafe_innerHTML=experiments, classes=["tm-guide"])
    terms = "".join(f"<dt>{escape(t)}</dt><dd>{escape(d)}</dd>" for t, d in GLOSSARY.items())
    with solara.Details("What the words mean"):
        solara.HTML(tag="dl", unsafe_innerHTML=terms, classes=["tm-guide"])


@solara.component
def PresetViz(preset: str) -> None:  # noqa: N802 (Solara components are CamelCase)
    """SolaraViz on one preset's model; stops the model when the page moves on."""
    model = solara.use_reactive(solara.use_memo(lambda: ClassroomMarket(preset), []))
    use_stopped_when_gone(model)
    ClassroomViz(model, preset)


@solara.component
def Page() -> None:  # noqa: N802 (the name `solara run` looks for)
    """The preset picker and the chosen view on the chosen preset, rebuilt when either changes.

    SolaraViz's sidebar lives in the layout's portal, where a new view would find its
    predecessor's control components and keep their state (the previous preset's
    parameters). So a switch takes two renders: one without a view, then the new one.
    """
    wanted = (PRESETS[preset_title.value], mode.value)
    shown, set_shown = solara.use_state(wanted)
    solara.use_effect(lambda: set_shown(wanted), [wanted])
    solara.Title("TokenMarket classroom")
    solara.Style(PAGE_CSS)
    with solara.Sidebar(), solara.Card("Preset"):
        PresetPicker()
    if shown == wanted:
        preset, view = wanted
        if view == MODES[0]:
            PresetViz(preset)
        else:
            PairViz(preset)


page = Page()
