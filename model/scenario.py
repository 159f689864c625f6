"""The validated, typed description of a run, and where scenarios come from.

A scenario is validated once, here, at the edge: every later stage may trust it. Bad input
raises `ScenarioError` with one line per problem, each naming the field and what is allowed.
"""

from __future__ import annotations

import datetime
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args

import numpy as np
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tokenmarket.agents import strategies

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]


class ScenarioError(ValueError):
    """A scenario, override or file that cannot be used, with a message for a person."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Region(_Strict):
    """A region: where developers live and providers build data centers."""

    name: Annotated[str, Field(min_length=1)]
    population_share: Probability
    """Share of the developer population living here."""
    demand_growth_per_month: Annotated[float, Field(ge=-0.5, le=1.0)]
    """Growth rate of every local developer's token demand (fraction per month)."""
    electricity_usd_per_kwh: Positive
    """Default industrial power price for providers homed here."""
    carbon_usd_per_kwh: NonNegative = 0.0
    """Carbon price added to the power price of providers homed here."""


class Segment(_Strict):
    """A developer segment: sets the tastes and the distributions of demand and inertia."""

    name: Annotated[str, Field(min_length=1)]
    population_share: Probability
    demand_median_mtok_per_month: Positive
    demand_sigma: NonNegative
    """Lognormal dispersion of monthly demand across developers."""
    price_weight: NonNegative
    """`alpha`: utils per unit of f(price)."""
    quality_weight: NonNegative
    """`beta`: utils per quality point."""
    latency_weight: NonNegative
    """`gamma`: utils per ms of latency."""
    switching_cost_median: NonNegative
    """Median switching cost in utils (lognormal across developers)."""
    switching_cost_sigma: NonNegative
    review_probability: Probability
    """`rho`: probability per month of reviewing the current choice."""
    outside_utility: float = 0.0
    """`u0`: extra utility of the outside option (no API, or self-hosting)."""


class ProviderSpec(_Strict):
    """A provider's starting state: home, cost stack, quality, strategy."""

    name: Annotated[str, Field(min_length=1)]
    home: str
    strategy: str
    strategy_params: dict[str, float | int | bool] = Field(default_factory=dict)
    price_usd_per_mtok: Positive
    """Posted price at the start (USD per million tokens)."""
    quality: Annotated[float, Field(ge=0.0, le=100.0)]
    open_weights: bool = False
    energy_kwh_per_mtok: Positive
    """`e`: IT energy per million tokens at full load."""
    idle_power_fraction: Probability
    """`phi`: share of full-load power drawn by idle servers."""
    pue: Annotated[float, Field(ge=1.0)]
    electricity_usd_per_kwh: Positive | None = None
    """Own power price (a PPA); defaults to the home region's price."""
    gpu_price_usd: NonNegative
    """All-in capex per GPU (card plus its share of servers, network, building)."""
    gpu_kw: Positive
    """IT power of one GPU at full load, in kW."""
    amortization_months: Annotated[int, Field(ge=1)]
    """Life of a capacity vintage: it is amortized over, and retired after, this many months."""
    opex_fixed_usd_per_month: NonNegative
    opex_usd_per_gpu_month: NonNegative
    """Non-power opex per GPU of capacity (staff, colocation, network, maintenance)."""
    capacity_mtok: Positive | None = None
    """Initial capacity; None sizes it from the provider's expected logit demand at step 0."""
    cash_usd: float = 0.0
    initial_awareness: Probability | None = None
    """Share of developers aware of the provider at step 0; None uses the market default."""
    initial_home_awareness: Probability | None = None
    """The same among developers of its home region; None: as `initial_awareness`."""


class Market(_Strict):
    """Market-wide behaviour: choice, outside option, diffusion, innovation, finance."""

    mu: Positive = 1.0
    """Gumbel scale of the taste shocks (a normalization; kept for the theory setting)."""
    price_utility: Literal["log", "linear"] = "log"
    """f(p) in utility: `log` keeps price elasticity level-free; `linear` is the theory form."""
    home_bias_utils: float = 0.0
    """Trust term added when a developer's region is the provider's home."""
    outside_quality_gap: NonNegative = 10.0
    """Points by which the outside option (self-hosted open weights) trails the frontier."""
    outside_price_usd_per_mtok: Positive = 2.0
    """Self-hosting cost per million tokens."""
    frontier_drift_per_month: NonNegative = 0.0
    """Exogenous progress of the quality frontier (points per month)."""
    homogenization: Probability = 0.05
    """`kappa`: share of its gap to the frontier a provider closes each month (spillovers)."""
    rnd_effectiveness: NonNegative = 0.5
    """Quality points from R&D equal to `rnd_scale` x market revenue, per ln(2)."""
    rnd_scale: Positive = 0.2
    """R&D spend, as a share of last month's market revenue, that doubles its effect."""
    awareness_initial: Probability = 0.6
    awareness_base: Probability = 0.02
    """Bass innovation term `a`: monthly chance an unaware developer hears of a provider."""
    awareness_word_of_mouth: NonNegative = 0.3
    """Bass imitation term `w`, per unit of the provider's developer share in the region."""
    open_weights_awareness_multiplier: Annotated[float, Field(ge=1.0)] = 2.0
    """Open weights spread through the ecosystem: their `a` is this many times larger."""
    congestion_ms_per_unserved: NonNegative = 200.0
    """Extra latency next month per unit of a provider's unserved demand fraction."""
    demand_elasticity: NonNegative = 0.0
    """`eta`: intensive-margin elasticity, d = d0 (p / p_ref) ** -eta; 0 switches it off."""
    reference_price_usd_per_mtok: Positive = 1.0
    learning_rate: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """`b` of the learning curve, capex ~ cumulative output ** -b; 0 switches it off."""
    discount_rate_per_year: NonNegative = 0.1
    capacity_lead_months: Annotated[int, Field(ge=0, le=60)] = 6
    burn_in_months: Annotated[int, Field(ge=0)] = 12
    exit_loss_months: Annotated[int, Field(ge=1)] = 18
    """Consecutive months of negative profit after which a provider exits."""
    credit_limit_months_of_revenue: NonNegative = 6.0
    """A provider exits when cash < -(this x its trailing mean monthly revenue)."""
    initial_fleet_depreciated: bool = False
    """The fleet at step 0 is written off (no amortization): the operating-cost view."""


class _Shock(_Strict):
    step: Annotated[int, Field(ge=1, le=10_000)]
    """Month at whose start the event applies (1 = the first month of the run)."""


class ElectricityShock(_Shock):
    """A region's power prices change: every provider homed there pays `factor` times more."""

    kind: Literal["electricity"]
    region: str
    factor: Positive


class CarbonShock(_Shock):
    """A carbon price (USD/kWh) is set on the power used by providers homed in a region."""

    kind: Literal["carbon"]
    region: str
    usd_per_kwh: NonNegative


class AccessShock(_Shock):
    """A ban, a lifted ban, or anything between: access[developer_region][home] changes.

    Each developer keeps the uniform draw behind its access, so a ban cuts everyone off and
    a partial change moves only the developers between the old and the new probability.
    """

    kind: Literal["access"]
    developer_region: str
    home: str
    probability: Probability


class DemandGrowthShock(_Shock):
    """A region's monthly demand growth rate changes (adoption matures, or takes off)."""

    kind: Literal["demand_growth"]
    region: str
    per_month: Annotated[float, Field(ge=-0.5, le=1.0)]


class EfficiencyShock(_Shock):
    """Energy per Mtok of a region's fleets is multiplied by `factor`.

    A hardware generation (< 1), or export-controlled chips (> 1); GPU capex per unit of
    capacity follows, since a GPU serves 1/factor times the tokens.
    """

    kind: Literal["efficiency"]
    region: str
    factor: Positive


class CapacityLimitShock(_Shock):
    """Export controls: a cap on capacity growth of the providers homed in a region.

    Net of retirements: new orders may bring capacity at their arrival to at most current
    capacity x (1 + max_growth_per_month) ** lead, so worn-out hardware can still be
    replaced; 0 freezes the fleet's size; None lifts the limit.
    """

    kind: Literal["capacity_limit"]
    region: str
    max_growth_per_month: NonNegative | None


class EntryShock(_Shock):
    """A new provider enters, with capacity and awareness of its own."""

    kind: Literal["entry"]
    provider: ProviderSpec


class QualityShock(_Shock):
    """A model release: a provider's quality jumps by `points`, and news of it spreads.

    `awareness` is the share of the developers unaware of the provider who hear of it.
    """

    kind: Literal["quality_jump"]
    provider: str
    points: float
    awareness: Probability = 0.0


Shock = Annotated[
    ElectricityShock
    | CarbonShock
    | AccessShock
    | DemandGrowthShock
    | EfficiencyShock
    | CapacityLimitShock
    | EntryShock
    | QualityShock,
    Field(discriminator="kind"),
]


class Scenario(_Strict):
    """Everything that defines a run except the seed."""

    name: str = "custom"
    description: str = ""
    steps: Annotated[int, Field(ge=1, le=10_000)] = 120
    """Default run length in months."""
    start: datetime.date = datetime.date(2024, 1, 1)
    """Calendar month of step 1 (the month holding this date): the frames' `date` column."""
    n_developers: Annotated[int, Field(ge=1, le=5_000_000)] = 10_000
    represented_developers: Annotated[int, Field(ge=1)] | None = None
    """Developers the market stands for: each agent's demand is scaled by
    represented / n_developers, so `n_developers` sets resolution, not market size (against
    fixed costs in USD). None: one agent is one developer."""
    regions: Annotated[list[Region], Field(min_length=1)]
    latency_ms: dict[str, dict[str, NonNegative]]
    """`latency_ms[developer_region][site_region]`: network round trip in ms."""
    access: dict[str, dict[str, Probability]] = Field(default_factory=dict)
    """`access[developer_region][provider_home]`; entries left out are 1 (open)."""
    segments: Annotated[list[Segment], Field(min_length=1)]
    providers: Annotated[list[ProviderSpec], Field(min_length=1)]
    market: Market = Field(default_factory=Market)
    shocks: list[Shock] = Field(default_factory=list)
    """Scheduled events: power and carbon prices, access, demand growth, efficiency,
    export controls, entry, model releases."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = self.region_names
        problems = []
        for field, items in (
            ("regions", self.regions),
            ("segments", self.segments),
            ("providers (entrants included)", self.all_providers),
        ):
            seen = [item.name for item in items]
            if len(set(seen)) != len(seen):
                problems.append(f"{field}: names must be unique (got {seen})")
        for field, items in (("regions", self.regions), ("segments", self.segments)):
            total = sum(item.population_share for item in items)
            if abs(total - 1.0) > 1e-6:
                problems.append(f"{field}.population_share: must sum to 1 (got {total:.6g})")
        for field, matrix, complete in (
            ("latency_ms", self.latency_ms, True),
            ("access", self.access, False),
        ):
            problems += _matrix_problems(field, matrix, names, complete)
        entrants = {s.provider.name: s.step for s in self.shocks if isinstance(s, EntryShock)}
        located = [(f"providers.{i}", p) for i, p in enumerate(self.providers)] + [
            (f"shocks.{i}.provider", s.provider)
            for i, s in enumerate(self.shocks)
            if isinstance(s, EntryShock)
        ]
        for where, p in located:
            if p.home not in names:
                problems.append(f"{where}.home: {p.home!r} is not a region; one of {names}")
            try:
                strategies.make(p.strategy, p.strategy_params)
            except ValueError as err:
                problems.append(f"{where}.{err}")
        providers = [p.name for p in self.all_providers]
        for i, shock in enumerate(self.shocks):
            for field in ("region", "developer_region", "home"):
                value = getattr(shock, field, None)
                if value is not None and value not in names:
                    problems.append(
                        f"shocks.{i}.{field}: {value!r} is not a region; one of {names}"
                    )
            if isinstance(shock, QualityShock):
                if shock.provider not in providers:
                    problems.append(
                        f"shocks.{i}.provider: {shock.provider!r} is not a provider; "
                        f"one of {providers}"
                    )
                elif entrants.get(shock.provider, 0) > shock.step:
                    problems.append(f"shocks.{i}.step: {shock.provider!r} has not entered yet")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def all_providers(self) -> list[ProviderSpec]:
        """Incumbents, then scheduled entrants: the order of every provider axis in the model."""
        return self.providers + [s.provider for s in self.shocks if isinstance(s, EntryShock)]

    @property
    def region_names(self) -> list[str]:
        """Region names in scenario order (the order of every region axis in the model)."""
        return [r.name for r in self.regions]

    def latency_matrix(self) -> np.ndarray:
        """Latency in ms as an array indexed [developer_region, site_region]."""
        names = self.region_names
        return np.array([[self.latency_ms[a][b] for b in names] for a in names])

    def access_matrix(self) -> np.ndarray:
        """Access probabilities as an array indexed [developer_region, provider_home]."""
        names = self.region_names
        return np.array([[self.access.get(a, {}).get(b, 1.0) for b in names] for a in names])

    def to_toml(self) -> str:
        """The resolved scenario as TOML, loadable again with `load_scenario`."""
        return tomli_w.dumps(self.model_dump(exclude_none=True))

    def with_overrides(self, **overrides: Any) -> Scenario:
        """A copy with the flat, documented knobs of `OVERRIDES` applied, re-validated."""
        data = self.model_dump()
        for key, value in overrides.items():
            _apply_override(data, key, value, self.region_names)
        return _validate(data, source=f"overrides of {self.name!r}")


def _matrix_problems(
    field: str, matrix: Mapping[str, Mapping[str, float]], names: list[str], complete: bool
) -> list[str]:
    problems = []
    for row, cols in matrix.items():
        if row not in names:
            problems.append(f"{field}.{row}: not a region; rows must be among {names}")
            continue
        for col in cols:
            if col not in names:
                problems.append(f"{field}.{row}.{col}: not a region; columns must be among {names}")
        if complete and set(cols) != set(names):
            problems.append(f"{field}.{row}: needs one entry for each of {names}")
    if complete and set(matrix) != set(names):
        problems.append(f"{field}: needs one row for each of {names}")
    return problems


OVERRIDES: dict[str, str] = {
    "n_developers": "number of developer agents",
    "steps": "default run length in months",
    "switching_cost": "median switching cost of every segment (utils)",
    "review_probability": "monthly review probability of every segment",
    "homogenization": "kappa, the monthly quality spillover toward the frontier",
    "demand_growth": "monthly demand growth rate of every region",
    "price_utility": "'log' or 'linear'",
    "electricity_<REGION>": "power price of a region's providers (USD/kWh), e.g. electricity_CN",
    "pue_<REGION>": "PUE of every provider homed in a region, e.g. pue_EU",
    "access_<DEV>_<HOME>": "access probability of DEV's developers to HOME's providers",
    "foreign_access": "access probability between every pair of different regions",
    "cost_view": "'total' (GPU capex amortized) or 'operating' (fleet written off, lean opex)",
    "strategy_<PROVIDER>": "a provider's strategy, its params reset; e.g. strategy_cn_lowcost",
    "n_providers, n_regions, synthetic_seed": "size and draw of the `synthetic` scenario only",
}
"""The flat keyword knobs `TokenMarket(**overrides)` and sweeps accept, with their meaning."""


def _apply_override(data: dict[str, Any], key: str, value: Any, regions: list[str]) -> None:
    providers = [p["name"] for p in data["providers"]]
    match key:
        case "n_developers" | "steps":
            data[key] = value
        case "switching_cost" | "review_probability":
            field = "switching_cost_median" if key == "switching_cost" else key
            for segment in data["segments"]:
                segment[field] = value
        case "homogenization" | "price_utility":
            data["market"][key] = value
        case "demand_growth":
            for region in data["regions"]:
                region["demand_growth_per_month"] = value
        case _ if key.startswith(("electricity_", "pue_")):
            kind, _, region_name = key.partition("_")
            if region_name not in regions:
                raise ScenarioError(f"{key}: unknown region {region_name!r}; one of {regions}")
            if kind == "electricity":
                data["regions"][regions.index(region_name)]["electricity_usd_per_kwh"] = value
            for provider in data["providers"]:
                if provider["home"] == region_name:
                    provider["electricity_usd_per_kwh" if kind == "electricity" else "pue"] = value
        case "cost_view":
            _apply_cost_view(data, value)
        case "foreign_access":
            data["access"] = {a: {b: 1.0 if a == b else value for b in regions} for a in regions}
        case _ if key.startswith("access_"):
            pair = [(a, b) for a in regions for b in regions if key == f"access_{a}_{b}"]
            if not pair:
                raise ScenarioError(
                    f"{key}: expected access_<DEV>_<HOME> with regions among {regions}"
                )
            developer_region, home = pair[0]
            data["access"].setdefault(developer_region, {})[home] = value
        case _ if key.startswith("strategy_"):
            name = key.removeprefix("strategy_")
            if name not in providers:
                raise ScenarioError(f"{key}: unknown provider {name!r}; one of {providers}")
            provider = data["providers"][providers.index(name)]
            if provider["strategy"] != value:
                provider["strategy"], provider["strategy_params"] = value, {}
        case _:
            allowed = ", ".join(OVERRIDES)
            raise ScenarioError(f"{key}: unknown parameter; allowed: {allowed}")


OPERATING_VIEW_OPEX_USD_PER_GPU_MONTH = 40.0
"""Non-power opex of an already-depreciated facility: MODEL.md, the public claim that power
is 60-70% of computing cost needs other opex below ~$15-65 per GPU-month [assumption]."""


def _apply_cost_view(data: dict[str, Any], view: Any) -> None:
    """Two calibrations of the same fleet: what a provider pays each month, or all it costs.

    `total`: GPU capex amortized over its life, $150-250 per GPU-month of other opex (cal B.4):
    electricity is ~2-15% of cost. `operating`: the fleet at step 0 is written off and other
    opex is lean, as in an already-depreciated facility: electricity becomes a much larger
    share of what is paid each month, the direction of the public 60-70% claim (how far
    depends on fixed opex and on new, amortized capacity: docs/ODD.md).
    """
    if view not in ("total", "operating"):
        raise ScenarioError(f"cost_view: must be 'total' or 'operating' (got {view!r})")
    if view == "operating":
        data["market"]["initial_fleet_depreciated"] = True
        for provider in data["providers"]:
            provider["opex_usd_per_gpu_month"] = OPERATING_VIEW_OPEX_USD_PER_GPU_MONTH


def _validate(data: Mapping[str, Any], source: str) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(describe_errors(err, Scenario))
        raise ScenarioError(f"invalid scenario ({source}): {problems}") from None


def describe_errors(err: ValidationError, root: type[BaseModel]) -> list[str]:
    """One line per problem, `field.path: what is wrong`; unknown keys list the allowed ones."""
    lines = []
    for e in err.errors():
        where = ".".join(str(part) for part in e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            message = f"unknown key; allowed: {', '.join(_allowed_keys(root, e['loc']))}"
        lines.append(f"{where}: {message}" if where else message)
    return lines


def _allowed_keys(root: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """Field names of the table that holds the key at `loc`, walking down from `root`."""
    cls = root
    for part in loc[:-1]:
        if part not in cls.model_fields:
            continue  # a list index, or a dict key such as a parameter name
        candidates = _nested_types(cls.model_fields[str(part)].annotation)
        cls = next((c for c in candidates if issubclass(c, BaseModel)), cls)
    return list(cls.model_fields)


def _nested_types(annotation: Any) -> list[type]:
    """Every class inside an annotation: `list[Region]`, `dict[str, Range]`, `X | None`."""
    found = [annotation] if isinstance(annotation, type) else []
    return found + [t for arg in get_args(annotation) for t in _nested_types(arg)]


def builtin_names() -> list[str]:
    """Names of the built-in scenarios, `synthetic` included."""
    files = resources.files("tokenmarket.model.scenarios").iterdir()
    return sorted([f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml")])


def describe_builtins() -> dict[str, str]:
    """One line per built-in scenario, for `tokenmarket scenarios`."""
    return {name: _read_builtin(name).get("description", "") for name in builtin_names()}


def _read_builtin(name: str) -> dict[str, Any]:
    text = resources.files("tokenmarket.model.scenarios").joinpath(f"{name}.toml").read_text()
    return tomllib.loads(text)


def load_scenario(source: str | Path | Scenario, **overrides: Any) -> Scenario:
    """Resolve a built-in name, a TOML path or a `Scenario`, then apply flat overrides.

    The `synthetic` built-in is a generator, not a fixed market: its file holds the default
    sizes, and `n_providers`, `n_regions`, `n_developers` and `synthetic_seed` redraw it.
    """
    if isinstance(source, Scenario):
        scenario = source
    elif isinstance(source, str) and source in builtin_names():
        data = _read_builtin(source)
        if "synthetic" in data:
            sizes = data.pop("synthetic")
            for key in ("n_providers", "n_regions", "synthetic_seed"):
                if key in overrides:
                    sizes[key] = overrides.pop(key)
            sizes["n_developers"] = overrides.pop("n_developers", data.get("n_developers"))
            data = synthetic_data(data, **sizes)
        scenario = _validate(data, source=source)
    else:
        path = Path(source)
        if path.suffix != ".toml" and not path.exists():
            raise ScenarioError(
                f"scenario: {str(source)!r} is neither a built-in ({', '.join(builtin_names())}) "
                "nor a .toml file"
            )
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ScenarioError(f"scenario: file {str(path)!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ScenarioError(f"scenario: cannot read {str(path)!r}: {err}") from None
        except tomllib.TOMLDecodeError as err:
            raise ScenarioError(f"scenario: {str(path)!r} is not valid TOML: {err}") from None
        scenario = _validate(data, source=str(path))
    synthetic_only = {"n_providers", "n_regions", "synthetic_seed"} & set(overrides)
    if synthetic_only:
        raise ScenarioError(
            f"{sorted(synthetic_only)[0]}: only the 'synthetic' scenario takes this parameter"
        )
    return scenario.with_overrides(**overrides) if overrides else scenario


def synthetic_data(
    base: dict[str, Any],
    *,
    n_providers: int = 6,
    n_regions: int = 4,
    n_developers: int = 10_000,
    synthetic_seed: int = 0,
) -> dict[str, Any]:
    """A random market of the given size around `base` (segments, market), for benchmarks.

    Drawn from its own seed, not the model's: a synthetic scenario is a fixed, printable
    input like any other, and the model's seed then only drives the run.
    """
    for key, value, low in (("n_providers", n_providers, 1), ("n_regions", n_regions, 1)):
        if not isinstance(value, int) or value < low or value > 500:
            raise ScenarioError(f"{key}: must be an integer from {low} to 500 (got {value!r})")
    rng = np.random.default_rng(synthetic_seed)
    names = [f"R{i}" for i in range(n_regions)]
    shares = rng.dirichlet(np.full(n_regions, 4.0))
    coords = rng.uniform(0, 1, size=(n_regions, 2))
    distance = np.linalg.norm(coords[:, None, :] - coords[None, :, :], axis=-1)
    latency = 20.0 + 250.0 * distance
    strategy_names = strategies.names()
    providers = []
    for j in range(n_providers):
        home = int(rng.integers(n_regions))
        providers.append(
            {
                "name": f"P{j}",
                "home": names[home],
                "strategy": strategy_names[j % len(strategy_names)],
                "price_usd_per_mtok": float(np.exp(rng.uniform(np.log(0.5), np.log(15.0)))),
                "quality": float(rng.uniform(55, 85)),
                "open_weights": bool(rng.random() < 0.3),
                "energy_kwh_per_mtok": float(rng.uniform(0.3, 2.0)),
                "idle_power_fraction": float(rng.uniform(0.2, 0.5)),
                "pue": float(rng.uniform(1.1, 1.6)),
                "gpu_price_usd": float(rng.uniform(25_000, 50_000)),
                "gpu_kw": float(rng.uniform(0.7, 1.2)),
                "amortization_months": int(rng.integers(36, 61)),
                "opex_fixed_usd_per_month": float(rng.uniform(0, 200_000)),
                "opex_usd_per_gpu_month": float(rng.uniform(100, 250)),
                "cash_usd": float(rng.uniform(1e6, 2e7)),
            }
        )
    return {
        **base,
        "name": "synthetic",
        "n_developers": n_developers,
        "regions": [
            {
                "name": names[r],
                "population_share": float(shares[r]),
                "demand_growth_per_month": float(rng.uniform(0.0, 0.05)),
                "electricity_usd_per_kwh": float(rng.uniform(0.03, 0.25)),
            }
            for r in range(n_regions)
        ],
        "latency_ms": {
            a: {b: float(latency[i, k]) for k, b in enumerate(names)} for i, a in enumerate(names)
        },
        "access": {
            a: {b: float(rng.choice([1.0, 1.0, 1.0, 0.5, 0.0])) if a != b else 1.0 for b in names}
            for a in names
        },
        "providers": providers,
    }
