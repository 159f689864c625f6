"""Side by side: one preset and seed run twice, one knob apart, stepped together.

The two runs share the preset, the seed and therefore every random draw (the model's named
streams, `model/random.py`): what differs between them is caused by the knob, not by luck
(common random numbers). Any knob of the registry (`model/parameters.py`) can be the
control except the run length, which must be the same for the months to line up. Each run
stops at the preset's last month, where the scorecard is final.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import mesa

from tokenmarket.model.parameters import Knob
from tokenmarket.model.scenario import ScenarioError
from tokenmarket.runs.app.controls import (
    FramedMarket,
    Frames,
    on_grid,
    preset_knobs,
    preset_scenario,
    same,
)
from tokenmarket.runs.app.guide import COMPARE
from tokenmarket.runs.app.scorecard import Arm

FIXED = ("steps",)
"""Knobs that cannot be the control: both runs must cover the same months."""


@cache
def comparable_knobs(preset: str) -> dict[str, Knob]:
    """The knobs a comparison can vary, strategies first (the usual question), by name."""
    table = {n: k for n, k in preset_knobs(preset).items() if n not in FIXED}
    first = [n for n in table if n.startswith("strategy_")]
    return {n: table[n] for n in [*first, *(n for n in table if n not in first)]}


def shown_default(knob: Knob) -> Any:
    """The knob's value in the preset as a control shows it (on a real knob's slider grid)."""
    return on_grid(knob, knob.default) if knob.parameter.kind == "real" else knob.default


def other_value(knob: Knob) -> Any:
    """A value unlike the preset's, for run B when the teacher picks a new control.

    A choice: the first other one. A number: halfway from the default to the top of its
    range (to the bottom if the default is the top), on the slider grid.
    """
    default = shown_default(knob)
    domain = knob.domain
    if knob.parameter.kind == "categorical":
        return next(c for c in domain["choices"] if c != default)
    end = domain["high"] if default < domain["high"] else domain["low"]
    middle = default + (end - default) / 2.0
    if knob.parameter.kind == "integer":
        return round(middle)
    return on_grid(knob, middle)


def overrides(knob: Knob, value: Any) -> dict[str, Any]:
    """The run's override: none when `value` is the preset's own (or as a control shows it).

    Some knobs set one value for a whole market (demand growth flattens regional rates), so
    the preset's value must leave the scenario untouched rather than be written back.
    """
    if same(value, knob.default) or same(value, shown_default(knob)):
        return {}
    return {knob.name: knob.check(value)}


def describe(knob: Knob, value: Any) -> str:
    """A value as the scorecard names a run: 'differentiation', '0.2 gap closed / month'."""
    if isinstance(value, str):
        return value
    return f"{value:g} {knob.parameter.unit}".strip()


class SideBySide(mesa.Model):
    """Runs A and B of a preset on one seed, `control` set to `a` in one and `b` in the other.

    Args:
        preset: a built-in scenario name.
        rng: the seed of both runs.
        control: a knob of `comparable_knobs(preset)`; None: the preset's suggested one.
        a, b: its values in runs A and B; None: the preset's value (A) and the suggested
            or `other_value` (B).

    Mesa's controller steps it like any model; a step is a month of both runs.

    """

    def __init__(
        self,
        preset: str = "classroom",
        *,
        rng: int = 0,
        control: str | None = None,
        a: Any = None,
        b: Any = None,
    ) -> None:
        super().__init__(rng=rng)
        knobs = comparable_knobs(preset)
        suggested, suggested_b = COMPARE[preset]
        control = control or suggested
        if control not in knobs:
            raise ScenarioError(f"control: {control!r} is not one of {list(knobs)}")
        self.knob = knobs[control]
        if b is None:
            b = suggested_b if control == suggested else other_value(self.knob)
        self.values: dict[Arm, Any] = {"A": shown_default(self.knob) if a is None else a, "B": b}
        self.spec = preset_scenario(preset)
        self.preset = preset
        self.month_lock = threading.Lock()
        self.seed = rng
        self.arms: dict[Arm, FramedMarket] = {
            arm: FramedMarket(self.spec, rng=rng, **overrides(self.knob, value))
            for arm, value in self.values.items()
        }

    @property
    def labels(self) -> dict[Arm, str]:
        """Each run's value of the control as the charts and the scorecard name it.

        The value it ran with: the preset's own, not the slider's rounding of it, untouched.
        """
        return {
            arm: describe(self.knob, value if overrides(self.knob, value) else self.knob.default)
            for arm, value in self.values.items()
        }

    def step(self) -> None:
        """A month of both runs; both stop at the preset's last month."""
        with self.month_lock:
            for arm in self.arms.values():
                arm.step()
        self.running = self.steps < self.spec.steps

    def frames(self) -> dict[Arm, Frames]:
        """Both runs' frames at the same month (a render waits while a month is stepped)."""
        with self.month_lock:
            return {arm: model.frames() for arm, model in self.arms.items()}
