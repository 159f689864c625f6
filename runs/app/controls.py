"""The classroom app's presets and controls, and the model they build.

A preset is a built-in scenario; its `description` is the one-line story shown under the
picker. Presets differ in shape: `going_global` has five regions and seven providers, the
classroom-sized ones three and four. SolaraViz builds the model from constructor keywords
(it checks each control's key against the signature) and Reset rebuilds it from the
controls' current values. Hence `ClassroomMarket`, a thin `TokenMarket` subclass whose
constructor takes the preset's name plus preset-independent keywords, all explicit:

- market-wide: `switching_cost`, `homogenization`, `demand_growth`, `cross_border` (an
  access policy);
- per region of MODEL.md's default set (CN, US, EU, APAC, ROW): `electricity_<R>`, `pue_<R>`;
- per provider slot: `strategy_1` ... `strategy_8`, the preset's providers in order.

Each maps onto TokenMarket's knobs (`model/parameters.py`), whose labels, units, ranges and
steps the controls show. A knob that is None, or equal to the value the page first shows
for the preset, changes nothing: the overrides set one value for a whole region or market
(`electricity_CN` sets CN's grid price and moves a CN provider's own power contract in
proportion, `demand_growth` flattens regional rates), so an untouched control must not
apply them. The page shows only the controls that fit the chosen preset (its regions that
home providers, its providers by name), starting from the preset's values; picking a
preset builds its model at once and mounts a new SolaraViz (see `Page`), so its controls
start afresh.

Explicit keywords, not `**overrides`, also because Mesa 3.5's Reset passes a Mesa
`scenario` object to any constructor that takes `scenario` or `**kwargs`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd
from mesa.visualization import Slider

from tokenmarket.model import parameters
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import Scenario, ScenarioError, load_scenario
from tokenmarket.runs.plots import events

PRESETS: dict[str, str] = {
    "Classroom": "classroom",
    "Price war": "price_war",
    "Differentiation wins": "differentiation_wins",
    "Demand-driven price rise": "demand_driven",
    "Going global": "going_global",
}
"""Title shown in the picker -> built-in scenario."""

AS_IN_SCENARIO = "as in the scenario"

CROSS_BORDER: dict[str, Callable[[list[str]], dict[str, float]]] = {
    AS_IN_SCENARIO: lambda regions: {},
    "open: any API from anywhere": lambda regions: {"foreign_access": 1.0},
    "US bans foreign APIs": lambda regions: _home_only("US", regions),
    "China bans foreign APIs": lambda regions: _home_only("CN", regions),
    "closed: home-region APIs only": lambda regions: {"foreign_access": 0.0},
}
"""Cross-border access policies -> the access overrides they stand for."""

PLAY_INTERVAL_MS = 201
"""Pause between steps while playing (on Mesa's slider grid, 1 + 10k ms); a classroom step
takes a few ms, the redraw of the market page a few hundred."""


def _home_only(region: str, regions: list[str]) -> dict[str, float]:
    """Developers of `region` may use no provider homed elsewhere."""
    return {f"access_{region}_{home}": 0.0 for home in regions if home != region}


def on_grid(knob: parameters.Knob, value: float) -> float:
    """`value` rounded to a position the knob's slider can show (else it would move on its own)."""
    step = knob.domain["step"]
    return round(round(value / step) * step, 10)


MARKET_KNOBS = ("switching_cost", "homogenization", "demand_growth")
"""Knobs that are one value for the whole market."""
REGION_KNOBS = ("electricity", "pue")
"""Knob families with one slider per region that homes a provider."""


@cache
def preset_scenario(name: str) -> Scenario:
    """The validated built-in scenario behind a preset (immutable, so loaded once)."""
    return load_scenario(name)


@cache
def preset_knobs(name: str) -> dict[str, parameters.Knob]:
    """The knobs of a preset, with their defaults there (loaded once)."""
    return parameters.knobs(preset_scenario(name))


def provider_regions(spec: Scenario) -> list[str]:
    """Regions that home at least one provider, in scenario order: those with power controls."""
    homes = {p.home for p in spec.providers}
    return [r for r in spec.region_names if r in homes]


def shown_values(spec: Scenario) -> dict[str, Any]:
    """What each control shows for a preset at first: the knobs' defaults, on the grid.

    A region's PUE is its providers' mean; switching cost and demand growth are
    population-weighted means (they differ by segment and region in some presets).
    """
    table = parameters.knobs(spec)
    names = [*MARKET_KNOBS, *(f"{k}_{r}" for r in provider_regions(spec) for k in REGION_KNOBS)]
    values: dict[str, Any] = {"cross_border": AS_IN_SCENARIO}
    values |= {name: on_grid(table[name], table[name].default) for name in names}
    for slot, provider in enumerate(spec.providers, start=1):
        values[f"strategy_{slot}"] = provider.strategy
    return values


def overrides_for(spec: Scenario, knobs: dict[str, Any]) -> dict[str, Any]:
    """TokenMarket's flat overrides for the knobs that differ from what the page first shows."""
    shown = shown_values(spec)
    overrides: dict[str, Any] = {}
    for key, value in knobs.items():
        if value is None or same(value, shown.get(key)):
            continue
        if key == "cross_border":
            if value not in CROSS_BORDER:
                raise ScenarioError(f"cross_border: {value!r} is not one of {list(CROSS_BORDER)}")
            overrides |= CROSS_BORDER[value](spec.region_names)
        elif key.startswith("strategy_"):
            slot = int(key.removeprefix("strategy_"))
            if slot > len(spec.providers):
                raise ScenarioError(f"{key}: {spec.name!r} has {len(spec.providers)} providers")
            overrides[f"strategy_{spec.providers[slot - 1].name}"] = value
        else:
            overrides[key] = value
    return overrides


def same(value: Any, shown: Any) -> bool:
    """Equal, numbers to within 1e-9 (a slider's float is not bit for bit the default)."""
    if isinstance(value, int | float) and isinstance(shown, int | float):
        return math.isclose(value, shown, rel_tol=0.0, abs_tol=1e-9)
    return value == shown


@dataclass(frozen=True)
class Frames:
    """The model's tidy outputs at one month: empty before the first step."""

    providers: pd.DataFrame
    flows: pd.DataFrame
    events: list[tuple[int, str]]
    """The scenario's events, entries and exits so far, (month, label): marked on the charts
    as they happen."""


class FramedMarket(TokenMarket):
    """TokenMarket whose frames are built once a month, however many charts read them.

    The page renders from several threads (Mesa's play loop, the charts' drawing threads)
    while a month is being stepped; Mesa counts the month (`steps`) before it runs it. So
    a month and the frames are read under one lock: a render during a step waits for the
    month to be collected, instead of caching that month's frames empty.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.month_lock = threading.Lock()
        self._frames: tuple[int, Frames] | None = None

    def step(self) -> None:
        """One month, under the lock the frames are read under."""
        with self.month_lock:
            super().step()

    def frames(self) -> Frames:
        """Provider and flow frames of the months so far, built once per month for all charts."""
        with self.month_lock:
            if self._frames is None or self._frames[0] != self.steps:
                empty = pd.DataFrame()
                frames = Frames(empty, empty, [])
                if self.steps:  # shocks, entries and exits so far
                    providers = self.provider_frame()
                    happened = [
                        (m, label) for m, label in events(self.spec, providers) if m <= self.steps
                    ]
                    frames = Frames(providers, self.flow_frame(), happened)
                self._frames = (self.steps, frames)
            return self._frames[1]


class ClassroomMarket(FramedMarket):
    """TokenMarket built from a preset and the app's preset-independent controls.

    Args:
        preset: a built-in scenario name (see `PRESETS`).
        rng: seed.
        cross_border: an access policy, one of `CROSS_BORDER`.
        switching_cost: median switching cost of every segment (utils).
        homogenization: share of its quality gap to the frontier a provider closes a month.
        demand_growth: monthly demand growth of every region (0.05 = 5% a month).
        electricity_<R>: grid power price of region R (USD/kWh); contracts move in proportion.
        pue_<R>: PUE of region R's providers (facility power / IT power).
        strategy_<k>: strategy of the preset's k-th provider.

    A knob that is None or equal to the preset's shown value (`shown_values`) changes nothing.

    """

    def __init__(
        self,
        preset: str = "classroom",
        *,
        rng: int | None = 0,
        cross_border: str = AS_IN_SCENARIO,
        switching_cost: float | None = None,
        homogenization: float | None = None,
        demand_growth: float | None = None,
        electricity_CN: float | None = None,
        electricity_US: float | None = None,
        electricity_EU: float | None = None,
        electricity_APAC: float | None = None,
        electricity_ROW: float | None = None,
        pue_CN: float | None = None,
        pue_US: float | None = None,
        pue_EU: float | None = None,
        pue_APAC: float | None = None,
        pue_ROW: float | None = None,
        strategy_1: str | None = None,
        strategy_2: str | None = None,
        strategy_3: str | None = None,
        strategy_4: str | None = None,
        strategy_5: str | None = None,
        strategy_6: str | None = None,
        strategy_7: str | None = None,
        strategy_8: str | None = None,
    ) -> None:
        # every keyword after `rng` is a knob (`__class__` is there because of `super()`)
        knobs = {
            k: v for k, v in locals().items() if k not in ("self", "preset", "rng", "__class__")
        }
        spec = preset_scenario(preset)
        super().__init__(spec, rng=rng, **overrides_for(spec, knobs))
        self.preset = preset


def model_params(preset: str) -> dict[str, Any]:
    """SolaraViz controls for a preset: its regions and providers, starting from its values."""
    spec = preset_scenario(preset)
    shown = shown_values(spec)
    params: dict[str, Any] = {
        "preset": preset,
        "rng": Slider("Random seed", value=0, min=0, max=99, step=1),
        "cross_border": {
            "type": "Select",
            "label": "Cross-border API access",
            "value": AS_IN_SCENARIO,
            "values": list(CROSS_BORDER),
        },
    }
    table = preset_knobs(preset)
    sliders = [*MARKET_KNOBS, *(f"{k}_{r}" for r in provider_regions(spec) for k in REGION_KNOBS)]
    for name in sliders:
        knob = table[name]
        low, high, step = (knob.domain[k] for k in ("low", "high", "step"))
        params[name] = Slider(knob.label, shown[name], low, high, step, dtype=float)
    for slot, provider in enumerate(spec.providers, start=1):
        params[f"strategy_{slot}"] = {
            "type": "Select",
            "label": f"Strategy of {provider.name} ({provider.home})",
            "value": provider.strategy,
            "values": table[f"strategy_{provider.name}"].domain["choices"],
        }
    return params
