"""The classroom app's page: preset picker, Mesa's SolaraViz parts on the preset's model, panels."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from html import escape

import pandas as pd
import solara
from matplotlib.figure import Figure
from mesa.visualization.solara_viz import ModelController, ModelCreator, ShowSteps
from mesa.visualization.utils import update_counter

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
from tokenmarket.runs.app.guide import GLOSSARY, TRY
from tokenmarket.runs.plots import mark_events

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
.v-navigation-drawer .v-label, .v-navigation-drawer .v-select__selection { font-size: 15px; }
.v-navigation-drawer .v-slider__thumb-container::after {
    content: attr(aria-valuenow); position: absolute; top: 0; left: 0;
    transform: translate(-50%, -50%); padding: 0 5px; border-radius: 4px;
    background: #1976d2; color: white; font-size: 13px; line-height: 20px; white-space: nowrap;
}
"""
"""A 320 px sidebar; panels in a grid of columns at least 420 px wide (two on a 1280 x 720
projector with the sidebar open, more on a wide screen), charts scaled to fit their panel
and the screen's height, the provider table on a
full row so all its columns show; each slider shows its value on its thumb (Mesa's sliders
otherwise show it only while dragged; the thumb carries it as `aria-valuenow`)."""

DRAWING = threading.Lock()
"""One chart drawn at a time: `matplotlib.rc_context` changes the process's global rcParams."""

DEBOUNCE_S = 0.15
"""A chart waits this long before drawing: a burst of Step clicks draws the last month once."""


def _png(figure: Figure) -> bytes:
    """The figure as PNG bytes (fast compression: it is sent once and thrown away)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


@solara.component
def Chart(model: ClassroomMarket, draw: Callable[[Frames], Figure]) -> None:  # noqa: N802
    """One chart of the model's months so far, drawn off the click's path.

    Mesa's Step handler steps the model and re-renders the page inside the click's message;
    drawing three figures there (seconds on a busy classroom laptop) queued the clicks that
    came meanwhile behind each redraw. Here a render only reads the month's frames; the
    figure is drawn in a thread, restarted (and the stale one cancelled) when the month
    changes, and the previous image stays until the new one is ready.
    """
    update_counter.get()
    frames = model.frames()

    def drawn(cancel: threading.Event) -> bytes | None:
        if cancel.wait(DEBOUNCE_S):
            return None
        with DRAWING:
            return None if cancel.is_set() else _png(draw(frames))

    result = solara.use_thread(drawn, dependencies=[model, model.steps], intrusive_cancel=False)
    shown = solara.use_ref(b"")
    if result.value:
        shown.current = result.value
    with solara.Div(classes=["tm-panel"]):
        if shown.current:
            solara.Image(shown.current)
        else:
            solara.ProgressLinear(True)


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


def _marked(draw: Callable[[pd.DataFrame], Figure], frame: str) -> Callable[[Frames], Figure]:
    """`draw` on one of the frames, with the events so far marked on its axes."""

    def drawn(frames: Frames) -> Figure:
        figure = draw(getattr(frames, frame))
        if frames.events:
            mark_events(figure.axes[0], frames.events, fontsize=12.0)
        return figure

    return drawn


TABS: dict[str, list[Callable[[Frames], Figure] | None]] = {
    "Market": [
        _marked(share_figure, "providers"),
        _marked(price_figure, "providers"),
        None,
        _marked(flows_figure, "flows"),
    ],
    "Cash and utilization": [
        _marked(cash_figure, "providers"),
        _marked(utilization_figure, "providers"),
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
    play_interval = solara.use_reactive(PLAY_INTERVAL_MS)
    render_interval = solara.use_reactive(1)
    use_threads = solara.use_reactive(False)
    with solara.AppBar():
        solara.AppBarTitle("TokenMarket: the market for LLM API tokens")
    with solara.Sidebar(), solara.Column():
        with solara.Card("Controls"):
            ModelController(
                model,
                model_parameters=parameters,
                play_interval=play_interval,
                render_interval=render_interval,
                use_threads=use_threads,
            )
            ShowSteps(model.value)
            with solara.Details("Advanced: play speed, months per redraw, threads"):
                solara.SliderInt("Play interval (ms)", value=play_interval, min=1, max=500, step=10)
                solara.SliderInt(
                    "Render interval (months per redraw)", value=render_interval, min=1, max=24
                )
                solara.Checkbox(label="Step in a thread while playing", value=use_threads)
        with solara.Card("Model parameters"):
            ModelCreator(model, model_params(preset), model_parameters=parameters)
    Panels(model.value)


preset_title = solara.reactive(next(iter(PRESETS)))
"""The preset picked in this browser session."""


@solara.component
def PresetPicker() -> None:  # noqa: N802 (Solara components are CamelCase)
    """The preset list, the chosen preset's one-line story, what to try, the glossary."""
    preset = PRESETS[preset_title.value]
    spec = preset_scenario(preset)
    solara.Select(label="Preset", value=preset_title, values=list(PRESETS))
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
    ClassroomViz(model, preset)


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
