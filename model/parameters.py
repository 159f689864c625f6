"""The knob registry: every flat parameter of a run, declared once, typed, with its unit.

A knob is what `TokenMarket(**overrides)`, `mesa.batch_run`, `tokenmarket run --set`, a
sweep spec (`fixed`, `parameters`, `ranges`), Sobol/Morris bounds, analysis axis labels and
the classroom app's controls all name. Each is a `RealParameter`, `IntegerParameter` or
`CategoricalParameter` (after the EMA workbench's parameters): a name pattern such as
`electricity_{region}`, a unit, bounds or choices, a slider step, a one-line meaning, how
its default is read from a scenario, and how it writes into a scenario's data.

`knobs(scenario)` expands the patterns over the scenario's regions and providers, and adds
the `param_{provider}_{field}` knobs that each provider's strategy declares (typed fields of
its `Params`). `apply(scenario, overrides)` checks each value against its knob, strictly
(a boolean is not a number, "100" is not an integer, inf and nan are not finite), writes
it, and validates the result as a whole.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from tokenmarket.agents.strategies import registry
from tokenmarket.agents.strategies.base import declared
from tokenmarket.model.errors import ScenarioError
from tokenmarket.model.schema import ProviderSpec, Scenario

Binding = Mapping[str, str]
"""Placeholder values of one knob, e.g. {"region": "CN"} for `electricity_CN`."""
Data = dict[str, Any]
"""A scenario as plain data (`Scenario.model_dump()`), which knobs write into."""


Validator = Callable[[Mapping[str, Any]], Scenario]
"""Scenario data -> a validated Scenario, or a ScenarioError (`model/scenario.py`)."""


class KnobWarning(UserWarning):
    """A knob did something the user should know of (parameters dropped by a switch)."""


@dataclass(frozen=True, kw_only=True)
class Parameter(ABC):
    """A declared knob (or a family of knobs, one per region or provider)."""

    pattern: str
    """The name, with placeholders: `{region}`, `{developer_region}`, `{home}`, `{provider}`,
    `{gpu}`, `{platform}`."""
    label: str
    """A short title for a control or an axis, with the same placeholders."""
    unit: str
    doc: str
    read: Callable[[Scenario, Binding], Any]
    """The knob's value in a scenario (its default)."""
    write: Callable[[Data, Binding, Any], None]
    """Set the value in a scenario's data."""
    kind: ClassVar[str]

    @abstractmethod
    def check(self, name: str, value: Any) -> Any:
        """The value, typed; a ScenarioError names the knob and what is allowed."""

    @abstractmethod
    def domain(self) -> dict[str, Any]:
        """Bounds and step, or the choices."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


@dataclass(frozen=True, kw_only=True)
class RealParameter(Parameter):
    """A continuous knob on a closed range."""

    low: float
    high: float
    step: float
    """Slider step, and the resolution the app shows."""
    scale: Literal["linear", "log"] = "linear"
    """`log`: samplers spread values evenly in ln(value)."""
    kind: ClassVar[str] = "real"

    def check(self, name: str, value: Any) -> float:  # noqa: D102
        if not _is_number(value):
            raise ScenarioError(f"{name}: must be a number in {self.unit} (got {value!r})")
        number = float(value)
        if not math.isfinite(number):
            raise ScenarioError(f"{name}: must be finite (got {value!r})")
        if not self.low <= number <= self.high:
            raise ScenarioError(
                f"{name}: must be from {self.low:g} to {self.high:g} {self.unit} (got {value!r})"
            )
        return number

    def domain(self) -> dict[str, Any]:  # noqa: D102
        return {"low": self.low, "high": self.high, "step": self.step, "scale": self.scale}


@dataclass(frozen=True, kw_only=True)
class IntegerParameter(Parameter):
    """A whole-number knob on a closed range."""

    low: int
    high: int
    step: int = 1
    kind: ClassVar[str] = "integer"

    def check(self, name: str, value: Any) -> int:  # noqa: D102
        if not isinstance(value, int | np.integer) or isinstance(value, bool | np.bool_):
            raise ScenarioError(f"{name}: must be an integer (got {value!r})")
        if not self.low <= value <= self.high:
            raise ScenarioError(f"{name}: must be from {self.low} to {self.high} (got {value!r})")
        return int(value)

    def domain(self) -> dict[str, Any]:  # noqa: D102
        return {"low": self.low, "high": self.high, "step": self.step, "scale": "linear"}


@dataclass(frozen=True, kw_only=True)
class CategoricalParameter(Parameter):
    """A knob taking one of a set of names (the set may depend on what is installed)."""

    choices: Callable[[], Sequence[str]]
    kind: ClassVar[str] = "categorical"

    def check(self, name: str, value: Any) -> str:  # noqa: D102
        allowed = list(self.choices())
        if not isinstance(value, str) or value not in allowed:
            raise ScenarioError(f"{name}: must be one of {allowed} (got {value!r})")
        return value

    def domain(self) -> dict[str, Any]:  # noqa: D102
        return {"choices": list(self.choices())}


@dataclass(frozen=True)
class Knob:
    """One concrete knob of a scenario: a declared parameter bound to a region or provider."""

    name: str
    parameter: Parameter
    binding: Binding
    default: Any

    @property
    def label(self) -> str:
        """The title with its unit, e.g. 'CN electricity price (USD/kWh)'."""
        title = self.parameter.label.format(**self.binding)
        return f"{title} ({self.parameter.unit})" if self.parameter.unit else title

    @property
    def domain(self) -> dict[str, Any]:
        """Bounds, step and scale, or the choices."""
        return self.parameter.domain()

    def check(self, value: Any) -> Any:
        """The value typed and within bounds, or a ScenarioError naming this knob."""
        return self.parameter.check(self.name, value)

    def describe(self) -> dict[str, Any]:
        """Name, kind, unit, default, bounds or choices, meaning: `tokenmarket knobs --json`."""
        return {
            "name": self.name,
            "kind": self.parameter.kind,
            "unit": self.parameter.unit,
            "default": self.default,
            **self.domain,
            "label": self.label,
            "doc": self.parameter.doc.format(**self.binding),
        }


# ------------------------------------------------------------------ reading and writing
def _weighted(items: Sequence[Any], attribute: str) -> float:
    """Population-weighted mean of a field over regions or segments (one knob sets all)."""
    return float(sum(i.population_share * getattr(i, attribute) for i in items))


def _set_all(table: str, key: str) -> Callable[[Data, Binding, Any], None]:
    def write(data: Data, binding: Binding, value: Any) -> None:
        for item in data[table]:
            item[key] = value

    return write


def _set_top(*path: str) -> Callable[[Data, Binding, Any], None]:
    def write(data: Data, binding: Binding, value: Any) -> None:
        table = data
        for key in path[:-1]:
            table = table[key]
        table[path[-1]] = value

    return write


def _homed(scenario: Scenario, region: str) -> list[ProviderSpec]:
    return [p for p in scenario.all_providers if p.home == region]


def _provider_tables(data: Data) -> list[dict[str, Any]]:
    """Provider tables of the data, entrants included, in `all_providers` order."""
    entrants = [s["provider"] for s in data.get("shocks", []) if s["kind"] == "entry"]
    potential = [e["provider"] for e in data.get("potential_entrants", [])]
    return [*data["providers"], *entrants, *potential]


def _provider_table(data: Data, name: str) -> dict[str, Any]:
    return next(p for p in _provider_tables(data) if p["name"] == name)


def _region_index(data: Data, region: str) -> int:
    return [r["name"] for r in data["regions"]].index(region)


def _write_electricity(data: Data, binding: Binding, value: Any) -> None:
    """The region's grid price; power contracts there move with it.

    Providers without a contract pay the grid price. A contract (a PPA, `electricity_usd_per_kwh`
    of a provider, entrants included) keeps its ratio to the grid price: a green hub 20 % below
    the grid stays 20 % below it. So the knob moves every power price in the region in
    proportion, and never erases a provider's own cost advantage.
    """
    grid = data["regions"][_region_index(data, binding["region"])]
    ratio = value / grid["electricity_usd_per_kwh"]
    grid["electricity_usd_per_kwh"] = value
    for provider in _provider_tables(data):
        if (
            provider["home"] == binding["region"]
            and provider["electricity_usd_per_kwh"] is not None
        ):
            provider["electricity_usd_per_kwh"] *= ratio


def _write_pue(data: Data, binding: Binding, value: Any) -> None:
    for provider in _provider_tables(data):
        if provider["home"] == binding["region"]:
            provider["pue"] = value


def _read_pue(scenario: Scenario, binding: Binding) -> float | None:
    """Mean PUE of the providers homed in the region (None if it homes none)."""
    pues = [p.pue for p in _homed(scenario, binding["region"])]
    return sum(pues) / len(pues) if pues else None


def _write_access(data: Data, binding: Binding, value: Any) -> None:
    data["access"].setdefault(binding["developer_region"], {})[binding["home"]] = value


def _read_foreign_access(scenario: Scenario, binding: Binding) -> float:
    """Mean access probability over pairs of different regions (1 with one region)."""
    m = scenario.access_matrix()
    off = ~np.eye(len(m), dtype=bool)
    return float(m[off].mean()) if off.any() else 1.0


def _write_foreign_access(data: Data, binding: Binding, value: Any) -> None:
    names = [r["name"] for r in data["regions"]]
    data["access"] = {a: {b: 1.0 if a == b else value for b in names} for a in names}


OPERATING_VIEW_OPEX_USD_PER_GPU_MONTH = 40.0
"""Non-power opex of an already-depreciated facility: MODEL.md, the public claim that power
is 60-70% of computing cost needs other opex below ~$15-65 per GPU-month [assumption]."""


def _write_cost_view(data: Data, binding: Binding, view: Any) -> None:
    """Two calibrations of the same fleet: what a provider pays each month, or all it costs.

    `total`: GPU capex amortized over its life, $150-250 per GPU-month of other opex (cal B.4):
    electricity is ~2-15% of cost. `operating`: the fleet at step 0 is written off and other
    opex is lean, as in an already-depreciated facility: electricity becomes a much larger
    share of what is paid each month, the direction of the public 60-70% claim (how far
    depends on fixed opex and on new, amortized capacity: docs/ODD.md).
    """
    if view == "operating":
        data["market"]["initial_fleet_depreciated"] = True
        for provider in _provider_tables(data):
            provider["opex_usd_per_gpu_month"] = OPERATING_VIEW_OPEX_USD_PER_GPU_MONTH


def _read_export_controls(scenario: Scenario, binding: Binding) -> str | None:
    """'on' where the region is under export controls, else no knob.

    Under controls: it may not buy the reference (frontier) GPU, or a `gpu_access` shock
    closes a GPU to it; a SKU sold in one market only is not, by itself, a control.
    """
    region = binding["region"]
    reference = scenario.gpus[0].regions if scenario.gpus else None
    barred = reference is not None and region not in reference
    closed = any(s.kind == "gpu_access" and s.region == region for s in scenario.shocks)
    headquarters = any(region in g.barred_homes for g in scenario.gpus)
    return "on" if barred or closed or headquarters else None


def _write_export_controls(data: Data, binding: Binding, value: Any) -> None:
    """'off': the region may buy every GPU, always, at home and abroad; 'on': as is.

    Its `gpu_access` shocks go, and so does its place among a GPU's `barred_homes`.
    """
    if value == "off":
        region = binding["region"]
        for gpu in data["gpus"]:
            if gpu["regions"] is not None and region not in gpu["regions"]:
                gpu["regions"].append(region)
            gpu["barred_homes"] = [h for h in gpu["barred_homes"] if h != region]
        data["shocks"] = [
            s for s in data["shocks"] if not (s["kind"] == "gpu_access" and s["region"] == region)
        ]


def _read_throughput(scenario: Scenario, binding: Binding) -> float | None:
    """A GPU's relative throughput; no knob for the reference GPU (1 by definition)."""
    others = scenario.gpus[1:]
    return next((g.relative_throughput for g in others if g.name == binding["gpu"]), None)


def _sited(scenario: Scenario, home: str, region: str | None = None) -> list[Any]:
    """Sites abroad of the providers homed in `home` (in `region` only, if given)."""
    homes = {p.name: p.home for p in scenario.all_providers}
    return [s for s in scenario.sites if homes[s.provider] == home and region in (None, s.region)]


def _write_sites(data: Data, binding: Binding, value: Any) -> None:
    """'off': the providers homed in the region serve from home only (their sites go)."""
    if value == "off":
        homes = {p["name"]: p["home"] for p in _provider_tables(data)}
        data["sites"] = [s for s in data["sites"] if homes[s["provider"]] != binding["region"]]


def _read_site_permission(scenario: Scenario, binding: Binding) -> float | None:
    """Permission of a host for a home, where a firm of that home may build there by value."""
    region, home = binding["region"], binding["home"]
    if not [s for s in _sited(scenario, home, region) if s.open_step is None]:
        return None
    return scenario.site_permission.get(region, {}).get(home, 1.0)


def _gpu_table(data: Data, name: str) -> dict[str, Any]:
    return next(g for g in data["gpus"] if g["name"] == name)


def _platform_table(data: Data, name: str) -> dict[str, Any]:
    return next(p for p in data["platforms"] if p["name"] == name)


def _platform(scenario: Scenario, binding: Binding) -> Any:
    return next(p for p in scenario.platforms if p.name == binding["platform"])


def _read_network_price(scenario: Scenario, binding: Binding) -> float | None:
    """Mean monthly price of the scenario's PoPs and operators' lines (None without any)."""
    prices = [p.usd_per_month for p in scenario.pops] + [k.usd_per_month for k in scenario.links]
    return sum(prices) / len(prices) if prices else None


def _write_network_price(data: Data, binding: Binding, value: Any) -> None:
    for item in (*data["pops"], *data["links"]):
        item["usd_per_month"] = value


def _write_strategy(data: Data, binding: Binding, value: Any) -> None:
    """Switch a provider's strategy, keeping the parameters the new one also declares."""
    provider = _provider_table(data, binding["provider"])
    if provider["strategy"] == value:
        return
    fields = registry.get(value).Params.model_fields
    kept = {k: v for k, v in provider["strategy_params"].items() if k in fields}
    dropped = sorted(set(provider["strategy_params"]) - set(kept))
    if dropped:
        warnings.warn(
            f"strategy_{binding['provider']}: {value!r} has no parameter {', '.join(dropped)}; "
            f"dropped (it was set for {provider['strategy']!r})",
            KnobWarning,
            stacklevel=2,
        )
    provider["strategy"], provider["strategy_params"] = value, kept


def _provider(scenario: Scenario, binding: Binding) -> ProviderSpec:
    return next(p for p in scenario.all_providers if p.name == binding["provider"])


PARAMETERS: tuple[Parameter, ...] = (
    IntegerParameter(
        pattern="n_developers",
        label="Developer agents",
        unit="agents",
        doc="number of developer agents: the resolution, not the market size",
        low=1,
        high=5_000_000,
        step=100,
        read=lambda s, b: s.n_developers,
        write=_set_top("n_developers"),
    ),
    IntegerParameter(
        pattern="steps",
        label="Run length",
        unit="months",
        doc="default run length",
        low=1,
        high=10_000,
        read=lambda s, b: s.steps,
        write=_set_top("steps"),
    ),
    RealParameter(
        pattern="switching_cost",
        label="Switching cost, median",
        unit="utils",
        doc="median switching cost of every segment (default: population-weighted mean)",
        low=0.0,
        high=10.0,
        step=0.05,
        read=lambda s, b: _weighted(s.segments, "switching_cost_median"),
        write=_set_all("segments", "switching_cost_median"),
    ),
    RealParameter(
        pattern="review_probability",
        label="Review probability",
        unit="probability / month",
        doc="monthly probability that a developer reviews its choice, every segment",
        low=0.0,
        high=1.0,
        step=0.01,
        read=lambda s, b: _weighted(s.segments, "review_probability"),
        write=_set_all("segments", "review_probability"),
    ),
    RealParameter(
        pattern="homogenization",
        label="Homogenization",
        unit="gap closed / month",
        doc="kappa: share of its quality gap to the frontier a provider closes a month",
        low=0.0,
        high=0.5,
        step=0.005,
        read=lambda s, b: s.market.homogenization,
        write=_set_top("market", "homogenization"),
    ),
    RealParameter(
        pattern="tier_switching_cost_share",
        label="Tier-change cost",
        unit="share of switching cost",
        doc="a move to another tier of the same provider costs this share of the switching cost",
        low=0.0,
        high=1.0,
        step=0.05,
        read=lambda s, b: s.market.tier_switching_cost_share,
        write=_set_top("market", "tier_switching_cost_share"),
    ),
    RealParameter(
        pattern="tier_nest_scale",
        label="Tier nest scale",
        unit="lambda",
        doc="nested logit by provider: 1 plain logit (IIA), toward 0 a line counts as one option",
        low=0.05,
        high=1.0,
        step=0.05,
        read=lambda s, b: s.market.tier_nest_scale,
        write=_set_top("market", "tier_nest_scale"),
    ),
    RealParameter(
        pattern="taste_persistence",
        label="Taste persistence",
        unit="share kept / month",
        doc="monthly probability a developer's taste draw for an option is kept (0 memoryless)",
        low=0.0,
        high=1.0,
        step=0.05,
        read=lambda s, b: s.market.taste_persistence,
        write=_set_top("market", "taste_persistence"),
    ),
    RealParameter(
        pattern="demand_growth",
        label="Demand growth",
        unit="share / month",
        doc="monthly demand growth rate of every region (default: population-weighted mean)",
        low=-0.1,
        high=0.3,
        step=0.005,
        read=lambda s, b: _weighted(s.regions, "demand_growth_per_month"),
        write=_set_all("regions", "demand_growth_per_month"),
    ),
    RealParameter(
        pattern="demand_growth_{region}",
        label="{region} demand growth",
        unit="share / month",
        doc="monthly demand growth rate of {region}'s developers (until a demand_growth shock)",
        low=-0.1,
        high=0.3,
        step=0.005,
        read=lambda s, b: s.regions[s.region_names.index(b["region"])].demand_growth_per_month,
        write=lambda data, b, value: data["regions"][_region_index(data, b["region"])].update(
            demand_growth_per_month=value
        ),
    ),
    CategoricalParameter(
        pattern="price_utility",
        label="Price term of utility",
        unit="",
        doc="f(p) in utility: 'log' (level-free elasticity) or 'linear' (the theory form)",
        choices=lambda: ("log", "linear"),
        read=lambda s, b: s.market.price_utility,
        write=_set_top("market", "price_utility"),
    ),
    RealParameter(
        pattern="electricity_{region}",
        label="{region} electricity price",
        unit="USD/kWh",
        doc="grid power price of {region}; contracts (PPAs) there keep their ratio to it",
        low=0.01,
        high=1.0,
        step=0.001,
        read=lambda s, b: s.regions[s.region_names.index(b["region"])].electricity_usd_per_kwh,
        write=_write_electricity,
    ),
    RealParameter(
        pattern="pue_{region}",
        label="{region} PUE",
        unit="facility / IT power",
        doc="PUE of every provider homed in {region} (default: their mean)",
        low=1.0,
        high=3.0,
        step=0.01,
        read=_read_pue,
        write=_write_pue,
    ),
    RealParameter(
        pattern="access_{developer_region}_{home}",
        label="Access of {developer_region} to {home}",
        unit="probability",
        doc="probability that a developer in {developer_region} may use providers homed in {home}",
        low=0.0,
        high=1.0,
        step=0.05,
        read=lambda s, b: s.access.get(b["developer_region"], {}).get(b["home"], 1.0),
        write=_write_access,
    ),
    RealParameter(
        pattern="foreign_access",
        label="Foreign access",
        unit="probability",
        doc="access probability between every pair of different regions (default: the mean)",
        low=0.0,
        high=1.0,
        step=0.05,
        read=_read_foreign_access,
        write=_write_foreign_access,
    ),
    RealParameter(
        pattern="home_bias",
        label="Home bias",
        unit="utils",
        doc="trust a developer adds to providers homed in its own region (every region)",
        low=0.0,
        high=5.0,
        step=0.05,
        read=lambda s, b: s.market.home_bias_utils,
        write=_set_top("market", "home_bias_utils"),
    ),
    RealParameter(
        pattern="open_weights_awareness",
        label="Open-weights awareness multiplier",
        unit="multiplier",
        doc="how many times faster developers hear of an open-weights provider (Bass a)",
        low=1.0,
        high=10.0,
        step=0.1,
        read=lambda s, b: s.market.open_weights_awareness_multiplier,
        write=_set_top("market", "open_weights_awareness_multiplier"),
    ),
    CategoricalParameter(
        pattern="cost_view",
        label="Cost view",
        unit="",
        doc="'total' (GPU capex amortized) or 'operating' (fleet written off, lean opex)",
        choices=lambda: ("total", "operating"),
        read=lambda s, b: "operating" if s.market.initial_fleet_depreciated else "total",
        write=_write_cost_view,
    ),
    CategoricalParameter(
        pattern="export_controls_{region}",
        label="Export controls on {region}",
        unit="",
        doc="'off': {region} may buy every GPU of the compute market, always; 'on': as written",
        choices=lambda: ("on", "off"),
        read=_read_export_controls,
        write=_write_export_controls,
    ),
    RealParameter(
        pattern="throughput_{gpu}",
        label="{gpu} throughput",
        unit="x reference GPU",
        doc="tokens per second of a {gpu} relative to the reference GPU",
        low=0.05,
        high=10.0,
        step=0.05,
        read=_read_throughput,
        write=lambda d, b, v: _gpu_table(d, b["gpu"]).update(relative_throughput=v),
    ),
    RealParameter(
        pattern="network_price_usd_per_month",
        label="Network price",
        unit="USD/month",
        doc="operator's monthly price of every PoP and premium line (default: their mean)",
        low=0.0,
        high=1e6,
        step=1000.0,
        read=_read_network_price,
        write=_write_network_price,
    ),
    RealParameter(
        pattern="platform_efficiency_{platform}",
        label="{platform} efficiency of foreign models",
        unit="x native throughput",
        doc="throughput on {platform} GPUs of a model developed on another stack, before porting",
        low=0.05,
        high=1.0,
        step=0.05,
        read=lambda s, b: _platform(s, b).foreign_efficiency,
        write=lambda d, b, v: _platform_table(d, b["platform"]).update(foreign_efficiency=v),
    ),
    RealParameter(
        pattern="porting_{platform}",
        label="Porting to {platform}",
        unit="share of the gap a month",
        doc="share of its remaining {platform} gap a provider closes a month it buys or runs it",
        low=0.0,
        high=1.0,
        step=0.01,
        read=lambda s, b: _platform(s, b).porting_per_month,
        write=lambda d, b, v: _platform_table(d, b["platform"]).update(porting_per_month=v),
    ),
    CategoricalParameter(
        pattern="sites_{region}",
        label="Sites abroad of {region} firms",
        unit="",
        doc="'off': providers homed in {region} serve from home only, no sites abroad; "
        "'on': as written",
        choices=lambda: ("on", "off"),
        read=lambda s, b: "on" if _sited(s, b["region"]) else None,
        write=_write_sites,
    ),
    RealParameter(
        pattern="site_permission_{region}_{home}",
        label="Permission of {region} for {home} sites",
        unit="probability",
        doc="probability that {region} lets a firm homed in {home} open a site decided by value",
        low=0.0,
        high=1.0,
        step=0.05,
        read=_read_site_permission,
        write=lambda d, b, v: (
            d["site_permission"].setdefault(b["region"], {}).update({b["home"]: v})
        ),
    ),
    CategoricalParameter(
        pattern="strategy_{provider}",
        label="Strategy of {provider}",
        unit="",
        doc="strategy of {provider}; its parameters the new strategy also has are kept",
        choices=registry.names,
        read=lambda s, b: _provider(s, b).strategy,
        write=_write_strategy,
    ),
)
"""The declared knobs, in the order `tokenmarket knobs` lists them (strategy params last).

Bounds are the domain a sweep or a slider explores, within the schema's legal ranges:
power prices up to the 2022 European peaks (0.01-1 USD/kWh), PUE of real facilities
(1.0-3.0: the 2007 US average was ~2.5), monthly demand growth from -10% to +30%."""

SYNTHETIC_PARAMETERS: tuple[IntegerParameter, ...] = (
    IntegerParameter(
        pattern="n_providers",
        label="Providers",
        unit="providers",
        doc="providers of the synthetic market",
        low=1,
        high=500,
        read=lambda s, b: len(s.providers),
        write=_set_top("synthetic", "n_providers"),
    ),
    IntegerParameter(
        pattern="n_regions",
        label="Regions",
        unit="regions",
        doc="regions of the synthetic market",
        low=1,
        high=500,
        read=lambda s, b: len(s.regions),
        write=_set_top("synthetic", "n_regions"),
    ),
    IntegerParameter(
        pattern="synthetic_seed",
        label="Synthetic seed",
        unit="",
        doc="seed of the synthetic market's draw (not of the run)",
        low=0,
        high=2**63 - 1,
        read=lambda s, b: None,
        write=_set_top("synthetic", "synthetic_seed"),
    ),
)
"""Knobs of the `synthetic` generator only: they redraw the market (`model/synthetic.py`)."""


def _strategy_parameter(strategy: str, name: str) -> Parameter:
    """The knob family `param_{provider}_{name}` of one field a strategy declares."""
    bounds = declared(registry.get(strategy).Params, name)

    def read(scenario: Scenario, binding: Binding) -> Any:
        p = _provider(scenario, binding)
        return getattr(registry.parse_params(p.strategy, p.strategy_params), name)

    def write(data: Data, binding: Binding, value: Any) -> None:
        _provider_table(data, binding["provider"])["strategy_params"][name] = value

    common = {
        "pattern": f"param_{{provider}}_{name}",
        "label": f"{{provider}} {name}",
        "unit": bounds["unit"],
        "doc": f"{strategy} of {{provider}}: {bounds['doc']}",
        "read": read,
        "write": write,
    }
    if bounds["kind"] == "integer":
        return IntegerParameter(low=int(bounds["low"]), high=int(bounds["high"]), **common)
    span = float(bounds["high"]) - float(bounds["low"])
    return RealParameter(
        low=float(bounds["low"]), high=float(bounds["high"]), step=_step(span), **common
    )


def _step(span: float) -> float:
    """A slider step of about 1/100 of the range, on a 1-2-5 grid."""
    raw = span / 100.0
    exponent = math.floor(math.log10(raw))
    mantissa = next(m for m in (1.0, 2.0, 5.0, 10.0) if m * 10**exponent >= raw)
    return mantissa * 10**exponent


def _domains(scenario: Scenario) -> dict[str, list[str]]:
    regions = scenario.region_names
    providers = [p.name for p in scenario.all_providers]
    return {
        "region": regions,
        "developer_region": regions,
        "home": regions,
        "provider": providers,
        "gpu": [g.name for g in scenario.gpus],
        "platform": [p.name for p in scenario.platforms],
    }


def _expand(parameter: Parameter, scenario: Scenario) -> list[Knob]:
    """The knobs of a declared family in a scenario; a region homing no provider has no PUE."""
    domains = _domains(scenario)
    keys = re.findall(r"\{(\w+)\}", parameter.pattern)
    knobs = []
    for values in itertools.product(*(domains[k] for k in keys)):
        binding = dict(zip(keys, values, strict=True))
        default = parameter.read(scenario, binding)
        if default is not None:
            knobs.append(Knob(parameter.pattern.format(**binding), parameter, binding, default))
    return knobs


def knobs(scenario: Scenario, synthetic: Mapping[str, int] | None = None) -> dict[str, Knob]:
    """Every knob of a scenario by name: declared ones expanded, then strategy parameters.

    `synthetic`: the generator's sizes, when the scenario is the `synthetic` built-in.
    """
    table = {k.name: k for p in PARAMETERS for k in _expand(p, scenario)}
    if synthetic is not None:
        table |= {
            p.pattern: Knob(p.pattern, p, {}, synthetic[p.pattern]) for p in SYNTHETIC_PARAMETERS
        }
    for provider in scenario.all_providers:
        binding = {"provider": provider.name}
        for name in registry.get(provider.strategy).Params.model_fields:
            family = _strategy_parameter(provider.strategy, name)
            found = Knob(
                f"param_{provider.name}_{name}", family, binding, family.read(scenario, binding)
            )
            table[found.name] = found
    return table


def knob(scenario: Scenario, name: str) -> Knob:
    """The knob `name` of a scenario; a ScenarioError suggests the closest names."""
    table = knobs(scenario)
    if name not in table:
        raise ScenarioError(unknown_knob(name, list(table)))
    return table[name]


def unknown_knob(name: str, known: list[str]) -> str:
    """'name: unknown parameter', with the closest known names."""
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return f"{name}: unknown parameter; {hint}see `tokenmarket knobs` for the scenario's knobs"


def label(name: str, scenario: Scenario | None = None) -> str:
    """A knob's title with its unit, for an axis.

    From its declared pattern; a strategy parameter's (its unit depends on the provider's
    strategy) from the scenario's knobs.
    """
    for parameter in (*PARAMETERS, *SYNTHETIC_PARAMETERS):
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+)", re.escape(parameter.pattern))
        found = re.fullmatch(regex, name)
        if found:
            return Knob(name, parameter, found.groupdict(), None).label
    table = knobs(scenario) if scenario is not None else {}
    if name not in table:
        raise ScenarioError(unknown_knob(name, list(table)))
    return table[name].label


def apply(scenario: Scenario, overrides: Mapping[str, Any], validate: Validator) -> Scenario:
    """A copy of `scenario` with the knobs in `overrides` set, validated as a whole.

    Strategy switches come first, so that `param_{provider}_{field}` names the fields of
    the provider's new strategy.
    """
    data = scenario.model_dump()
    first = {k: v for k, v in overrides.items() if k.startswith("strategy_")}
    for group in (first, {k: v for k, v in overrides.items() if k not in first}):
        if not group:
            continue
        table = knobs(scenario)
        for name, value in group.items():
            if name not in table:
                raise ScenarioError(unknown_knob(name, list(table)))
            found = table[name]
            found.parameter.write(data, found.binding, found.check(value))
        scenario = validate(data)
    return scenario
