"""Solara parts both views of the app use: charts drawn off the click's path, the run controls."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any, Protocol

import solara
from matplotlib.figure import Figure
from mesa.visualization.solara_viz import ModelController, ShowSteps
from mesa.visualization.utils import update_counter

from tokenmarket.runs.app.controls import PLAY_INTERVAL_MS

DRAWING = threading.Lock()
"""One chart drawn at a time: `matplotlib.rc_context` changes the process's global rcParams."""

DEBOUNCE_S = 0.15
"""A chart waits this long before drawing: a burst of Step clicks draws the last month once."""


class Framed(Protocol):
    """A model the charts read: its month and its frames at that month."""

    steps: int

    def frames(self) -> Any:
        """The tidy frames of the months so far (built once a month)."""


def _png(figure: Figure) -> bytes:
    """The figure as PNG bytes (fast compression: it is sent once and thrown away)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


@solara.component
def Chart(model: Framed, draw: Callable[[Any], Figure]) -> None:  # noqa: N802
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

    result = solara.use_thread(
        drawn, dependencies=[model, model.steps, draw], intrusive_cancel=False
    )
    shown = solara.use_ref(b"")
    if result.value:
        shown.current = result.value
    with solara.Div(classes=["tm-panel"]):
        if shown.current:
            solara.Image(shown.current)
        else:
            solara.ProgressLinear(True)


@solara.component
def RunControls(  # noqa: N802
    model: solara.Reactive[Any], parameters: solara.Reactive[dict[str, Any]]
) -> None:
    """Mesa's Reset, play/pause and Step, its month counter, and its settings in a fold."""
    play_interval = solara.use_reactive(PLAY_INTERVAL_MS)
    render_interval = solara.use_reactive(1)
    use_threads = solara.use_reactive(False)
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


def use_stopped_when_gone(model: solara.Reactive[Any]) -> None:
    """Stop the model when the view that plays it is unmounted.

    Mesa's play loop runs in a thread until the model stops `running`, and would outlive
    an unmounted view, stepping a model nobody sees. The model is held in a reactive, so
    the one stopped is the latest (Reset's rebuilt model included).
    """

    def stop_when_gone() -> Callable[[], None]:
        def stop() -> None:
            model.value.running = False

        return stop

    solara.use_effect(stop_when_gone, [])
