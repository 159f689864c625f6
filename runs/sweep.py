"""Sweep specification, designs (grid and samplers), seed derivation, and one run's results.

A sweep spec is a TOML file validated once, here, like a scenario: a bad value raises
`SpecError` naming the field and what is allowed, before anything runs or is written.

Every run is fixed by its index alone: the index gives its design point and replication,
and its seed is `SeedSequence(seed).spawn(n)[index]` (or `[replication]` with common random
numbers). So a run's result does not depend on the executor, the number of workers, the
order of completion, or a resume.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from tokenmarket.model.errors import describe_errors, read_toml
from tokenmarket.model.parameters import unknown_knob
from tokenmarket.model.scenario import (
    Scenario,
    ScenarioError,
    builtin_names,
    knobs_of,
    load_scenario,
)
from tokenmarket.runs.executors import Completed, Executor
from tokenmarket.runs.store import SweepStore, code_hash, versions

if TYPE_CHECKING:
    import pandas as pd

# mesa and pandas are imported where a run needs them, so that validating a spec (and the
# CLI's input errors) answers fast.


def _finite[T](value: T) -> T:
    """Refuse inf and nan (TOML has them): the model's arithmetic would carry them to the output."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be finite (got {value})")
    return value


Number = Annotated[StrictInt | StrictFloat, AfterValidator(_finite)]
"""A finite number: an integer or a float, never a boolean or a numeric string."""
Scalar = Annotated[StrictBool | StrictInt | StrictFloat | StrictStr, AfterValidator(_finite)]
"""A parameter value as TOML gives it; kept as typed so a column has one type."""

LARGE_SWEEP_RUNS = 10_000
"""A sweep of more runs than this starts only with `--yes`, after its size and time are shown."""

SAMPLER_STREAM = 0x5EED_5A3B
"""Mixed into the sweep seed for the sampler's own generator, apart from the run seeds."""


class SpecError(ValueError):
    """A sweep spec that cannot be used, with a message for a person."""


class _Strict(BaseModel):
    """Unknown keys refused; no coercion (a boolean is no number, "12" is no integer)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Range(_Strict):
    """A continuous parameter range, sampled (or gridded into `levels`) by the sampler.

    Bounds left out are the knob's declared bounds (`tokenmarket knobs`); an integer knob's
    values are rounded to integers.
    """

    low: Number | None = None
    high: Number | None = None
    scale: Literal["linear", "log"] | None = None
    """`log` spreads values evenly in ln(value): for prices spanning orders of magnitude;
    left out, the knob's declared scale."""
    integer: bool = False
    """Round every value to an integer (set from the knob: counts such as `n_developers`)."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low is None or self.high is None:
            return self
        if not self.low < self.high:
            raise ValueError(f"low must be < high (got low={self.low}, high={self.high})")
        if not math.isfinite(float(self.high) - float(self.low)):
            raise ValueError(f"high - low must be finite (got low={self.low}, high={self.high})")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"a log scale needs low > 0 (got {self.low})")
        return self

    def values(self, unit: np.ndarray) -> list[Scalar]:
        """Map points of [0, 1] onto the range (resolved: both bounds known)."""
        if self.low is None or self.high is None:
            raise AssertionError("an unresolved range")  # build_sweep resolves every range
        if self.scale == "log":
            mapped = np.exp(np.log(self.low) + unit * (np.log(self.high) - np.log(self.low)))
        else:
            mapped = self.low + unit * (self.high - self.low)
        mapped = np.clip(mapped, self.low, self.high)  # exp(log(high)) may overshoot by an ulp
        if self.integer:
            return [int(v) for v in np.rint(mapped)]
        return [float(v) for v in mapped]


class Outputs(_Strict):
    """What each run keeps: the final-month summary always; the monthly series optionally."""

    timeseries: bool = False
    """Keep every month's provider and market frames per run (for time-series bands)."""


class SweepSpec(_Strict):
    """A sweep: base scenario, varied parameters, sampler, replications, seed, outputs."""

    name: str = ""
    """Defaults to the spec file's name."""
    description: str = ""
    scenario: Annotated[str, Field(min_length=1)]
    """A built-in scenario name, or a TOML path relative to the spec file."""
    steps: Annotated[int, Field(ge=1, le=10_000)] | None = None
    """Months per run; None uses the scenario's `steps`."""
    replications: Annotated[int, Field(ge=1, le=100_000)] = 1
    """Runs per design point, each with its own seed."""
    seed: Annotated[int, Field(ge=0)] = 0
    """The sweep seed: every run seed and the sampler's draws derive from it."""
    common_random_numbers: bool = False
    """Replication r of every point uses the same seed: comparisons between points (and
    Sobol/Morris indices) then see parameter effects, not seed noise."""
    sampler: Literal["grid", "random", "lhs", "sobol", "morris"] = "grid"
    samples: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    """random/lhs: points drawn; sobol: base sample N (a power of 2), N(D+2) points;
    morris: trajectories, N(D+1) points. Crossed with every combination of `parameters`."""
    levels: Annotated[int, Field(ge=2, le=1000)] | None = None
    """grid: evenly spaced values per range (ends included); morris: grid levels (default 4)."""
    fixed: dict[str, Scalar] = Field(default_factory=dict)
    """Knobs set in every run (`tokenmarket knobs`)."""
    parameters: dict[str, list[Scalar]] = Field(default_factory=dict)
    """Values per parameter; all combinations are run (a full grid)."""
    ranges: dict[str, Range] = Field(default_factory=dict)
    """Continuous ranges per parameter, for the sampler."""
    outputs: Outputs = Field(default_factory=Outputs)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = []
        for name, values in self.parameters.items():
            if not values:
                problems.append(f"parameters.{name}: needs at least one value")
            kinds = {_kind(v) for v in values}
            if len(kinds) > 1:
                problems.append(
                    f"parameters.{name}: values must be all numbers, all strings or all "
                    f"booleans (got {values})"
                )
        places = {"fixed": self.fixed, "parameters": self.parameters, "ranges": self.ranges}
        for (a, first), (b, second) in itertools.combinations(places.items(), 2):
            for name in sorted(set(first) & set(second)):
                problems.append(f"{b}.{name}: already set in {a}; give each parameter once")
        for place in ("fixed", "parameters", "ranges"):
            if "steps" in places[place] and (place == "fixed" or self.steps is not None):
                problems.append(
                    f"{place}.steps: set the run length with the top-level `steps` (or vary "
                    "it in `parameters` and leave the top-level `steps` out)"
                )
        problems += self._sampler_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _sampler_problems(self) -> list[str]:
        sampled = self.sampler != "grid"
        if sampled and not self.ranges:
            return [f"ranges: the {self.sampler} sampler needs at least one range"]
        if sampled and self.samples is None:
            return [f"samples: the {self.sampler} sampler needs a number of samples"]
        if not sampled and self.samples is not None:
            return ["samples: only the random, lhs, sobol and morris samplers take samples"]
        if not sampled and self.ranges and self.levels is None:
            return ["levels: the grid sampler needs `levels` (values per range, >= 2)"]
        if self.sampler in ("random", "lhs") and self.levels is not None:
            return [f"levels: the {self.sampler} sampler takes no levels"]
        if self.sampler == "sobol" and self.samples is not None:
            if self.samples < 2 or self.samples & (self.samples - 1):
                return [f"samples: sobol needs a power of 2 >= 2 (got {self.samples})"]
            if self.levels is not None:
                return ["levels: the sobol sampler takes no levels"]
        if self.sampler == "morris" and self.levels is not None and self.levels % 2:
            return [f"levels: morris needs an even number of levels (got {self.levels})"]
        if self.sampler == "morris" and self.samples is not None and self.samples < 2:
            return [f"samples: morris needs at least 2 trajectories (got {self.samples})"]
        return []

    def identity(self) -> dict[str, Any]:
        """The fields that define the runs (name and description excluded), JSON-ready."""
        return self.model_dump(mode="json", exclude={"name", "description"})


def _kind(value: Scalar) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "string"


# --------------------------------------------------------------------------- design
class Design:
    """The design points of a spec, each computed from its index.

    Every combination of `parameters`, crossed with the sampler's points over `ranges` (or
    with their levels, for the grid sampler). Computed on demand, a million-run sweep keeps
    only the sampler's matrix in memory.
    """

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self.list_names = list(spec.parameters)
        self.range_names = list(spec.ranges)
        self.names = self.list_names + self.range_names
        axes = [[_normalize(values) for values in spec.parameters.values()]]
        if spec.sampler == "grid":
            unit = np.linspace(0.0, 1.0, spec.levels or 2)
            axes.append([r.values(unit) for r in spec.ranges.values()])
            self.unit_sample: np.ndarray | None = None
        else:
            self.unit_sample = unit_sample(spec)
        self.axes: list[list[Scalar]] = [axis for group in axes for axis in group]
        self.n_groups = math.prod(len(axis) for axis in self.axes)
        """Combinations of the gridded values (lists, and ranges under the grid sampler)."""
        self.rows_per_group = 1 if self.unit_sample is None else len(self.unit_sample)
        self.n_points = self.n_groups * self.rows_per_group
        self._ranges = list(spec.ranges.values())

    def point(self, index: int) -> dict[str, Scalar]:
        """Parameter values of design point `index` (group-major, sampler row-minor)."""
        group, row = divmod(index, self.rows_per_group)
        values = []
        for axis in reversed(self.axes):  # mixed radix, the last axis varying fastest
            group, position = divmod(group, len(axis))
            values.append(axis[position])
        values.reverse()
        if self.unit_sample is not None:
            unit = self.unit_sample[row]
            values += [r.values(unit[k : k + 1])[0] for k, r in enumerate(self._ranges)]
        return dict(zip(self.names, values, strict=True))

    def points(self) -> Iterator[dict[str, Scalar]]:
        """Every design point, in index order."""
        return (self.point(p) for p in range(self.n_points))


def _normalize(values: list[Scalar]) -> list[Scalar]:
    """Mixed ints and floats become floats, so a parameter's column has one type."""
    if any(isinstance(v, float) for v in values):
        return [float(v) for v in values]
    return list(values)


def sampler_rng(seed: int) -> np.random.Generator:
    """The sampler's generator: its own stream of the sweep seed, apart from the run seeds."""
    return np.random.default_rng([SAMPLER_STREAM, seed])


def salib_problem(names: list[str]) -> dict[str, Any]:
    """The SALib problem over the unit cube: ranges are mapped (and scaled) afterwards."""
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def unit_sample(spec: SweepSpec) -> np.ndarray:
    """The sampler's points in the unit cube, one row per point, one column per range."""
    k, n = len(spec.ranges), spec.samples or 1
    rng = sampler_rng(spec.seed)
    match spec.sampler:
        case "random":
            return rng.random((n, k))
        case "lhs":  # one point in each of n equal slices of every axis, slices shuffled
            slices = np.stack([rng.permutation(n) for _ in range(k)], axis=1)
            return (slices + rng.random((n, k))) / n
        case "sobol":
            from SALib.sample import sobol

            return sobol.sample(
                salib_problem(list(spec.ranges)),
                n,
                calc_second_order=False,
                seed=int(rng.integers(2**31)),
            )
        case "morris":
            from SALib.sample import morris

            return morris.sample(
                salib_problem(list(spec.ranges)),
                n,
                num_levels=spec.levels or 4,
                seed=int(rng.integers(2**31)),
            )
    raise AssertionError(f"no sampler {spec.sampler!r}")  # the spec's Literal rules it out


# --------------------------------------------------------------------------- runs
def run_seed(sweep_seed: int, key: int) -> int:
    """Seed of child `key` of the sweep seed: `SeedSequence(sweep_seed).spawn(n)[key]`.

    Built directly from the spawn key, so it costs the same for run 10 as for run 10**6;
    63 bits, so it fits a signed 64-bit column.
    """
    child = np.random.SeedSequence(sweep_seed, spawn_key=(key,))
    return int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True, slots=True)
class RunTask:
    """Everything one run needs, picklable: it runs the same in any process or machine."""

    run: int
    run_id: str
    point: int
    replication: int
    seed: int
    parameters: dict[str, Scalar]
    scenario: str | Scenario
    """A built-in name (so `synthetic` can redraw) or the resolved scenario of a file."""
    overrides: dict[str, Scalar]
    """The spec's `fixed` overrides and its `steps`."""
    timeseries: bool


@dataclass(frozen=True)
class Sweep:
    """A validated spec with its scenario resolved: the list of runs, and its identity."""

    spec: SweepSpec
    scenario: str | Scenario
    design: Design
    source: Path | None = None

    @property
    def name(self) -> str:
        """The spec's name, or its file's name."""
        return self.spec.name or (self.source.stem if self.source else "sweep")

    @property
    def n_runs(self) -> int:
        """Design points times replications."""
        return self.design.n_points * self.spec.replications

    def run_id(self, run: int) -> str:
        """Zero-padded run index: file names sort in run order."""
        return f"{run:0{max(6, len(str(self.n_runs - 1)))}d}"

    def task(self, run: int) -> RunTask:
        """Run `run`: point-major, replication-minor."""
        point, replication = divmod(run, self.spec.replications)
        key = replication if self.spec.common_random_numbers else run
        overrides = dict(self.spec.fixed)
        if self.spec.steps is not None:
            overrides["steps"] = self.spec.steps
        return RunTask(
            run=run,
            run_id=self.run_id(run),
            point=point,
            replication=replication,
            seed=run_seed(self.spec.seed, key),
            parameters=self.design.point(point),
            scenario=self.scenario,
            overrides=overrides,
            timeseries=self.spec.outputs.timeseries,
        )

    def tasks(self, skip: set[str] | frozenset[str] = frozenset()) -> Iterator[RunTask]:
        """The runs in index order, lazily, leaving out the ids in `skip`."""
        return (self.task(i) for i in range(self.n_runs) if self.run_id(i) not in skip)

    def identity(self) -> dict[str, Any]:
        """What fixes the results: the spec's run-defining fields and the base scenario."""
        base = load_scenario(self.scenario).model_dump(mode="json")
        return {"spec": self.spec.identity(), "scenario": base}

    def spec_hash(self) -> str:
        """SHA-256 of the identity: a resumed sweep must have the same."""
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def builtin_specs() -> list[str]:
    """Names of the example specs shipped in `runs/sweeps/`."""
    files = resources.files("tokenmarket.runs.sweeps").iterdir()
    return sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml"))


def load_spec(path: str | Path) -> Sweep:
    """Read, validate and resolve a spec file (or a built-in spec by name).

    Every parameter is checked against the model: each at each listed value and at both
    ends of its range, the other parameters at the first design point (so that a strategy
    switched there names its own parameters), by building its scenario.
    An unknown name or a value the model refuses is reported here, naming the field,
    before anything runs.
    """
    path = Path(path)
    if not path.exists() and str(path) in builtin_specs():
        path = Path(str(resources.files("tokenmarket.runs.sweeps") / f"{path}.toml"))
    if not path.exists():
        builtins = ", ".join(builtin_specs())
        raise SpecError(f"spec: {str(path)!r} is neither a file nor a built-in spec ({builtins})")
    data = read_toml(path, "spec", SpecError)
    return build_sweep(data, base_dir=path.parent, source=path)


def build_sweep(
    data: Mapping[str, Any], base_dir: Path = Path(), source: Path | None = None
) -> Sweep:
    """A `Sweep` from the spec's plain data (a file's scenario path is relative to base_dir)."""
    spec = parse_spec(data, where=str(source) if source else "spec")
    scenario = resolve_scenario(spec.scenario, base_dir)
    spec = _resolve_ranges(spec, scenario)
    design = Design(spec)
    sweep = Sweep(spec=spec, scenario=scenario, design=design, source=source)
    _check_parameters(sweep)
    return sweep


def parse_spec(data: Mapping[str, Any], where: str = "spec") -> SweepSpec:
    """Structural validation only (no scenario needed): for reading a stored spec back."""
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(describe_errors(err, SweepSpec))
        raise SpecError(f"invalid sweep spec ({where}): {problems}") from None


def resolve_scenario(name: str, base_dir: Path) -> str | Scenario:
    """A built-in name stays a name; a file is read once, here, and travels as a Scenario."""
    if name in builtin_names():
        return name
    path = Path(name) if Path(name).is_absolute() else base_dir / name
    if not path.exists():
        raise SpecError(
            f"scenario: {name!r} is neither a built-in ({', '.join(builtin_names())}) nor a "
            f"file (looked for {str(path)!r}, relative to the spec file)"
        )
    try:
        return load_scenario(path)
    except ScenarioError as err:
        raise SpecError(f"scenario: {err}") from None


def _resolve_ranges(spec: SweepSpec, scenario: str | Scenario) -> SweepSpec:
    """Fill each range's missing bounds, scale and integer rounding from its knob."""
    if not spec.ranges:
        return spec
    try:
        table = knobs_of(scenario)
    except ScenarioError as err:
        raise SpecError(f"scenario: {err}") from None
    resolved = {}
    for name, given in spec.ranges.items():
        if name not in table:
            raise SpecError(f"ranges.{unknown_knob(name, list(table))}")
        domain = table[name].parameter.domain()
        if "choices" in domain:
            raise SpecError(
                f"ranges.{name}: a categorical knob takes `parameters` (one of "
                f"{domain['choices']}), not a range"
            )
        update = {
            "low": domain["low"] if given.low is None else given.low,
            "high": domain["high"] if given.high is None else given.high,
            "scale": given.scale or domain["scale"],
            "integer": given.integer or table[name].parameter.kind == "integer",
        }
        try:
            resolved[name] = Range.model_validate({**given.model_dump(), **update})
        except ValidationError as err:
            raise SpecError(f"ranges.{name}: {'; '.join(describe_errors(err, Range))}") from None
    return spec.model_copy(update={"ranges": resolved})


def _check_parameters(sweep: Sweep) -> None:
    spec, base = sweep.spec, sweep.task(0).overrides
    _try(sweep.scenario, base, "fixed")
    first = {**base, **sweep.design.point(0)}
    for name, values in spec.parameters.items():
        for value in values:
            _try(sweep.scenario, {**first, name: value}, f"parameters.{name} = {value!r}")
    for name, bounds in spec.ranges.items():
        for value in bounds.values(np.array([0.0, 1.0])):
            _try(sweep.scenario, {**first, name: value}, f"ranges.{name} at {value!r}")


def _try(scenario: str | Scenario, overrides: dict[str, Any], where: str) -> None:
    try:
        load_scenario(scenario, **overrides)
    except ScenarioError as err:
        raise SpecError(f"{where}: {err}") from None


# --------------------------------------------------------------------------- size
PROBE_MONTHS = 3
"""Months of the first run timed to estimate a large sweep's duration."""


def estimated_seconds(sweep: Sweep, parallel: int) -> float:
    """Wall time of the whole sweep, estimated from a probe of its first run.

    The probe's build plus a few months scaled to the run's length, times the runs, over
    the runs done at once.
    """
    from tokenmarket.model.market import TokenMarket

    task = sweep.task(0)
    started = time.perf_counter()
    model = TokenMarket(task.scenario, rng=task.seed, **task.overrides, **task.parameters)
    built = time.perf_counter()
    probe = min(PROBE_MONTHS, model.spec.steps)
    for _ in range(probe):
        model.step()
    per_month = (time.perf_counter() - built) / probe
    per_run = built - started + per_month * model.spec.steps
    return sweep.n_runs * per_run / max(1, parallel)


def check_size(sweep: Sweep, parallel: int, confirmed: bool) -> str | None:
    """Over LARGE_SWEEP_RUNS runs: a SpecError unless `confirmed`, else a line to show.

    Both give the runs and the estimated time, so a 999,000-run grid or 100,000
    replications is a decision, not a typo that starts at once.
    """
    if sweep.n_runs <= LARGE_SWEEP_RUNS:
        return None
    hours = estimated_seconds(sweep, parallel) / 3600
    size = f"{sweep.n_runs:,} runs, about {hours:,.1f} h on {parallel} at once"
    if not confirmed:
        raise SpecError(
            f"--yes: this sweep is large ({size}; over {LARGE_SWEEP_RUNS:,} runs); "
            "add --yes to start it"
        )
    return f"large sweep: {size}"


# --------------------------------------------------------------------------- one run
ID_COLUMNS = ("run_id", "run", "point", "replication", "seed")
"""Tags on every row of a run's results, before its parameter values."""


@dataclass(frozen=True)
class RunFrames:
    """One run's tidy results: the final month always; every month if asked for.

    Rows are one per provider and month: the provider's columns (`PROVIDER_COLUMNS`), its
    name, region and strategy, the market's columns prefixed `market_` (HHI, mean price,
    outside share, consumer surplus, cross-border share, active providers, ...), and the
    run's tags and parameter values.
    """

    summary: pd.DataFrame
    timeseries: pd.DataFrame | None


def run_one(task: RunTask) -> RunFrames:
    """Build the model for `task`, run it for its scenario's months, return tidy results."""
    import pandas as pd

    from tokenmarket.model.market import TokenMarket

    model = TokenMarket(task.scenario, rng=task.seed, **task.overrides, **task.parameters)
    model.run_for(model.spec.steps)
    market = model.market_frame()
    market = market.rename(columns={c: f"market_{c}" for c in market.columns if c != "step"})
    frame = model.provider_frame().merge(market, on="step", how="left", validate="many_to_one")
    ids = (task.run_id, task.run, task.point, task.replication, task.seed)
    tags = {**dict(zip(ID_COLUMNS, ids, strict=True)), **task.parameters}
    frame = pd.concat([pd.DataFrame(tags, index=frame.index), frame], axis=1)  # tags first
    last = frame["step"] == frame["step"].max()
    summary = frame[last].reset_index(drop=True)
    return RunFrames(summary=summary, timeseries=frame if task.timeseries else None)


def run_to_parquet(task: RunTask) -> tuple[bytes, bytes | None]:
    """`run_one`, serialized where it ran: the driver only moves bytes to disk."""
    frames = run_one(task)
    timeseries = None if frames.timeseries is None else to_parquet_bytes(frames.timeseries)
    return to_parquet_bytes(frames.summary), timeseries


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as Parquet file bytes (no index)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


# --------------------------------------------------------------------------- the sweep
@dataclass(frozen=True)
class SweepResult:
    """What a `run_sweep` call did: counts over the whole sweep, and where the table is."""

    total: int
    done: int
    failed: list[dict[str, Any]]
    ran: int
    """Runs executed by this call (the others were already done)."""
    seconds: float
    summary: Path | None


def run_sweep(
    sweep: Sweep,
    out: Path,
    executor: Executor,
    *,
    resume: bool = False,
    progress: bool = True,
    notify: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run every run of `sweep` not yet stored in `out`, recording each as it completes.

    Checks come first (an existing sweep without `resume`; a changed spec with it), then
    the executor starts, and only then is anything written. Ctrl-C stops the executor,
    refreshes the manifest and re-raises: the store is left ready for `resume=True`.
    """
    from tqdm import tqdm

    notify = notify or _to_stderr
    started = time.perf_counter()
    identity, spec_hash = sweep.identity(), sweep.spec_hash()
    if resume:
        manifest = SweepStore.check_resume(out, spec_hash, identity)
        if manifest.get("code_hash") != code_hash():
            notify(
                "warning: the model's code or built-in scenarios changed since this sweep "
                "started; runs from before and after may differ"
            )
    else:
        SweepStore.check_new(out)
    store = SweepStore(out)

    def run_ids() -> Iterator[str]:
        return (sweep.run_id(i) for i in range(sweep.n_runs))

    with executor:
        if not resume:
            store.create(
                {
                    "name": sweep.name,
                    "description": sweep.spec.description,
                    "spec_path": str(sweep.source.resolve()) if sweep.source else None,
                    "spec_hash": spec_hash,
                    "spec": sweep.spec.model_dump(mode="json"),
                    "identity": identity,
                    "n_runs": sweep.n_runs,
                    "versions": versions(),
                    "code_hash": code_hash(),
                    "sessions": [],
                }
            )
        store.lock()
        try:
            done = store.prepare_resume() if resume else set()
            store.note_session(executor.description, resume)
            store.refresh_manifest(run_ids)
            todo = sweep.n_runs - len(done)
            ran, failed = 0, 0
            outcomes = executor.run(run_to_parquet, sweep.tasks(skip=done))
            bar = tqdm(total=todo, desc=sweep.name, unit="run", disable=None if progress else True)
            with contextlib.closing(outcomes), bar:
                for completed in outcomes:
                    task = completed.task
                    if completed.ok:
                        store.write_run(task.run_id, *completed.value)
                    else:
                        failed += 1
                        store.write_failure(task.run_id, _failure_record(task, completed))
                        bar.set_postfix(failed=failed)
                    ran += 1
                    bar.update()
                    store.refresh_manifest(run_ids, force=False)
        finally:
            store.refresh_manifest(run_ids)
            store.unlock()
    summary = store.build_summary()
    done_now = sum(1 for _ in store.done_ids())
    return SweepResult(
        total=sweep.n_runs,
        done=done_now,
        failed=store.failures(),
        ran=ran,
        seconds=time.perf_counter() - started,
        summary=summary,
    )


# --------------------------------------------------------------------------- adaptive
@dataclass(frozen=True)
class _Wanted(Sweep):
    """A sweep of which only the runs in `wanted` are run now; the others stay pending."""

    wanted: frozenset[int] = frozenset()

    def tasks(self, skip: set[str] | frozenset[str] = frozenset()) -> Iterator[RunTask]:
        """The wanted runs in index order, leaving out the ids in `skip`."""
        return (self.task(i) for i in sorted(self.wanted) if self.run_id(i) not in skip)


@dataclass(frozen=True)
class AdaptiveResult:
    """What `run_adaptive` did: its rounds, and per design point the replications and CI."""

    rounds: int
    points: pd.DataFrame
    """point, replications, half_width (the widest over strategies), done (<= halfwidth)."""
    last: SweepResult


def adaptive_sweep(sweep: Sweep, max_reps: int) -> Sweep:
    """The sweep as stored by `run_adaptive`: `max_reps` replications, of which some run.

    Replication r of a point keeps its seed (and its run id) whatever the round: the store
    is an ordinary sweep of `max_reps` replications with some runs still pending.
    """
    return replace(sweep, spec=sweep.spec.model_copy(update={"replications": max_reps}))


def run_adaptive(
    sweep: Sweep,
    out: Path,
    executor: Executor,
    *,
    halfwidth: float,
    max_reps: int,
    outcome: str,
    resume: bool = False,
    notify: Callable[[str], None] | None = None,
) -> AdaptiveResult:
    """Replicate each design point until the 95 % CI of `outcome` is <= +-`halfwidth`.

    Round 1 runs the spec's replications at every point; each later round adds seeds only
    where the interval is still wider, up to the replications the measured sd calls for
    (`analysis.replications_needed`) but at most double the point's count, so a noisy sd
    from few runs cannot overshoot (a two-stage procedure, Law 2015 sec. 9.4.1), and never
    beyond `max_reps`. Interrupted, it resumes with the same `max_reps` (`resume=True`).
    """
    import pandas as pd

    from tokenmarket.runs.analysis import outcome_points, replications_needed

    notify = notify or _to_stderr
    full = adaptive_sweep(sweep, max_reps)
    points = np.arange(full.design.n_points)
    reps = np.full(points.size, min(max(sweep.spec.replications, 2), max_reps))
    rounds = 0
    while True:
        rounds += 1
        runs = points[:, None] * max_reps + np.arange(max_reps)
        wanted = frozenset(runs[np.arange(max_reps) < reps[:, None]].tolist())
        last = run_sweep(
            _Wanted(full.spec, full.scenario, full.design, full.source, wanted),
            out,
            executor,
            resume=resume or rounds > 1,
            progress=False,
            notify=notify,
        )
        table = outcome_points(pd.read_parquet(last.summary), full.design.names, outcome)
        by_point = (
            table.assign(
                width=(table["ci_high"] - table["ci_low"]) / 2,
                needed=replications_needed(table["sd"], halfwidth),
            )
            .groupby("point")[["width", "needed"]]
            .max()
        )  # the widest strategy rules a point
        width = by_point["width"].reindex(points).to_numpy()
        needed = by_point["needed"].reindex(points).fillna(0).to_numpy()
        wide = ~(width <= halfwidth) & (reps < max_reps)
        grown = np.minimum(max_reps, np.maximum(reps + 1, np.minimum(needed, 2 * reps)))
        target = np.where(wide, grown, reps).astype(int)
        notify(
            f"round {rounds}: {int(reps.sum())} runs, {int((width <= halfwidth).sum())} of "
            f"{points.size} points within +-{halfwidth:g}, {int((target > reps).sum())} get "
            "more seeds"
        )
        if (target == reps).all():
            break
        reps = target
    frame = pd.DataFrame({"point": points, "replications": reps, "half_width": width})
    return AdaptiveResult(rounds, frame.assign(done=frame["half_width"] <= halfwidth), last)


def _failure_record(task: RunTask, completed: Completed[RunTask]) -> dict[str, Any]:
    return {
        "seed": task.seed,
        "point": task.point,
        "replication": task.replication,
        "parameters": task.parameters,
        "error": completed.error,
        "traceback": completed.traceback,
    }


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)
