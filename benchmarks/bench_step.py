"""How fast is a TokenMarket step, against a per-agent baseline and a bare numpy floor?

Run by `make bench` as `.venv/bin/python benchmarks/bench_step.py` (under a minute);
`--quick` runs a smaller grid with fewer repeats (about 15 s); `--out PATH` also writes
every number as a tidy CSV; `--profile` adds a cProfile of one full step at N=100k, J=20.

What is measured, in one run:
1. The full model step: `TokenMarket("synthetic", n_developers=N, n_providers=J,
   review_probability=1.0)`, one warm-up step, then the median of several timed
   `model.step()`. With review_probability = 1 every developer chooses every step, so the
   three implementations do the same choice work.
2. Baseline (a), per agent (`per_agent.py`): one Mesa agent per developer with its own
   attributes and a Python `step()` over the providers, started from the same state. Timed
   over sweeps of the whole population, or of a subsample scaled up (the output says which).
3. Baseline (b), the floor: the logit choice alone on preallocated arrays (gather of the
   N x (J+1) utilities, Gumbel draws, argmax), nothing else. Next to it, the model's own
   choice kernel (`demand.ChoiceWeights.of` then `demand.choose`, which samples the same
   law with one keyed Gumbel shock per option) timed alone on the model's arrays: the
   step's overhead beyond choosing is the gap.
4. Peak RSS (ru_maxrss) of building a 100k-developer, 20-provider market and running 5
   steps, in a fresh subprocess, next to the interpreter-plus-imports baseline.
   Before the timings count, the three implementations are checked against each other.
5. Build and 120 steps of the `going_global` scenario at its default size.
6. The products point: N=100k developers and 20 providers x 3 tiers (60 products, J = 60
   in the tables; capacity shared by each provider's tiers, a tier change cheaper than a
   provider change), full step against the floor over the same 60 products, no per-agent
   baseline.
Throughput is developers x providers per second (J, the outside option not counted).
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import gc
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mesa
import numpy as np
from per_agent import PerAgentMarket

from tokenmarket.model import demand
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.random import Streams
from tokenmarket.model.scenario import Scenario, load_scenario

SEED = 1
GOAL_POINT = (100_000, 20)
PRODUCTS_POINT = (100_000, 60)
"""20 providers x 3 tiers (60 products), judged against the same floor goal."""
TIERS = 3
FLOOR_RATIO_GOAL = 3.0
SPEEDUP_GOAL = 50.0
RSS_GOAL_MB = 1024.0
MEMORY_STEPS = 5
GOING_GLOBAL_STEPS = 120


@dataclass(frozen=True)
class Plan:
    """Grid and repeats of one run."""

    name: str
    n_developers: tuple[int, ...]
    n_providers: tuple[int, ...]
    step_repeats: int
    floor_repeats: int
    per_agent_max_agents: int
    """Larger populations are timed on this many agents and scaled up."""
    per_agent_repeats: int
    """Sweeps timed (median)."""
    numpy_draws_agents: int
    going_global_repeats: int


FULL = Plan("full", (10_000, 100_000), (5, 20), 9, 15, 100_000, 3, 10_000, 3)
QUICK = Plan("quick", (10_000, 100_000), (20,), 3, 5, 10_000, 1, 2_000, 1)


@dataclass
class Row:
    """One grid point: seconds per step of each implementation, and how each was timed."""

    n: int
    j: int
    build_s: float = math.nan
    full_s: float = math.nan
    per_agent_s: float = math.nan
    per_agent_numpy_s: float = math.nan
    floor_s: float = math.nan
    kernel_s: float = math.nan
    active_providers: int = 0
    how: dict[str, str] = field(default_factory=dict)

    def throughput(self, seconds: float) -> float:
        """Developers x providers per second."""
        return self.n * self.j / seconds


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --------------------------------------------------------------------------- the floor
class Floor:
    """The logit choice alone, on preallocated arrays: gather, Gumbel, argmax.

    Gumbel(0, mu) draws as -mu ln E with E ~ Exp(1) (numpy's ziggurat, written in place):
    the cheapest exact sampler of a shock per option that numpy offers.
    """

    def __init__(self, table: np.ndarray, cells: np.ndarray, mu: float, seed: int) -> None:
        self.table, self.cells, self.mu = table, cells, mu
        self.rng = np.random.default_rng(seed)
        self.utility = np.empty((cells.size, table.shape[1]))
        self.noise = np.empty_like(self.utility)
        self.best = np.empty(cells.size, dtype=np.intp)

    def step(self) -> np.ndarray:
        np.take(self.table, self.cells, axis=0, out=self.utility)
        self.rng.standard_exponential(out=self.noise)
        np.log(self.noise, out=self.noise)
        if self.mu != 1.0:
            self.noise *= self.mu
        np.subtract(self.utility, self.noise, out=self.utility)
        return self.utility.argmax(axis=1, out=self.best)


# --------------------------------------------------------------------------- measurements
def build_market(n: int, j: int, tiers: int = 1) -> TokenMarket:
    """The synthetic market: n developers, j providers each selling `tiers` tiers."""
    spec = load_scenario("synthetic", n_developers=n, n_providers=j, review_probability=1.0)
    if tiers > 1:
        data = spec.model_dump()
        for p in data["providers"]:
            p["tiers"] = [{"name": f"tier{k}", "compute_share": 0.4**k} for k in range(tiers)]
        spec = Scenario.model_validate(data)
    return TokenMarket(spec, rng=SEED)


def measure_point(
    plan: Plan, n: int, j: int, per_agent: bool = True, tiers: int = 1
) -> tuple[Row, TokenMarket]:
    """Time a step at n developers and j products (j / tiers providers of `tiers` tiers)."""
    row = Row(n, j)
    start = time.perf_counter()
    model = build_market(n, j // tiers, tiers)
    row.build_s = time.perf_counter() - start
    model.step()
    row.full_s = median_seconds(model.step, plan.step_repeats)
    row.active_providers = sum(p.active for p in model.provider_list) * tiers
    row.how["full"] = f"median of {plan.step_repeats} steps after 1 warm-up"

    v_inside, v_outside = model._cell_utilities()
    table = np.ascontiguousarray(np.column_stack([v_inside, v_outside]))
    floor = Floor(table, model.population.cell.copy(), model.spec.market.mu, SEED)
    floor.step()
    row.floor_s = median_seconds(floor.step, plan.floor_repeats)
    pop, everyone, available = (
        model.population,
        np.arange(model.population.size),
        model._available(),
    )

    keys = model._option_keys

    def kernel() -> np.ndarray:
        weights = demand.ChoiceWeights.of(pop, v_inside, v_outside, available, model.spec.market.mu)
        return demand.choose(
            pop,
            everyone,
            weights,
            model.streams,
            model.steps,
            keys,
            **model._nesting,
        )

    row.kernel_s = median_seconds(kernel, plan.floor_repeats)
    row.how["floor"] = f"median of {plan.floor_repeats} after 1 warm-up"
    if not per_agent:
        row.how["per_agent"] = row.how["per_agent_numpy"] = "not timed"
        return row, model

    row.per_agent_s, row.how["per_agent"] = time_per_agent(
        model, plan.per_agent_max_agents, plan.per_agent_repeats, "stdlib"
    )
    row.per_agent_numpy_s, row.how["per_agent_numpy"] = time_per_agent(
        model, plan.numpy_draws_agents, 1, "numpy"
    )
    return row, model


def time_per_agent(model: TokenMarket, max_agents: int, repeats: int, draws: str):
    """Seconds for one sweep over the whole population, and how they were obtained."""
    n = model.population.size
    m = min(n, max_agents)
    baseline = PerAgentMarket(model, rows=np.arange(m), draws=draws, rng=SEED)
    baseline.developers.select(at_most=min(m, 1_000)).do("step")  # warm-up
    seconds = median_seconds(baseline.step, repeats) * n / m
    sweeps = "1 sweep" if repeats == 1 else f"median of {repeats} sweeps"
    how = sweeps + (" of all agents" if m == n else f" of {m:,} agents, scaled x{n / m:g}")
    return seconds, how


def check_agreement(model: TokenMarket) -> list[str]:
    """Per-agent rule == array rule: exact for the utilities, in distribution for choices."""
    pop = model.population
    tastes = PerAgentMarket(model, utility="tastes", rng=SEED)
    table = PerAgentMarket(model, utility="table", rng=SEED)
    tastes.step()
    table.step()
    same = bool((tastes.choices() == table.choices()).all())
    v_inside, v_outside = model._cell_utilities()
    weights = demand.ChoiceWeights.of(
        pop, v_inside, v_outside, model._available(), model.spec.market.mu
    )
    array_choice = demand.choose(
        pop, np.arange(pop.size), weights, Streams(SEED + 1), 0, model._option_keys
    )
    k = v_inside.shape[1] + 1
    share_agent = np.bincount(tastes.choices() + 1, minlength=k) / pop.size
    share_array = np.bincount(array_choice + 1, minlength=k) / pop.size
    p = (share_agent + share_array) / 2
    bound = 4 * np.sqrt(2 * p * (1 - p) / pop.size) + 1 / pop.size
    gap = np.abs(share_agent - share_array)
    ok = bool((gap <= bound).all())
    switched = float((tastes.choices() != pop.choice).mean())
    everything = np.ones_like(pop.aware)
    expected = (
        demand.ChoiceWeights.of(pop, v_inside, v_outside, everything, model.spec.market.mu)
        .probabilities()
        .mean(axis=0)
    )
    table_all = np.ascontiguousarray(np.column_stack([v_inside, v_outside]))
    floor = Floor(table_all, pop.cell.copy(), model.spec.market.mu, SEED)
    share_floor = np.bincount(floor.step(), minlength=k) / pop.size
    floor_gap = np.abs(share_floor - expected)
    floor_bound = 4 * np.sqrt(expected * (1 - expected) / pop.size) + 1 / pop.size
    floor_ok = bool((floor_gap <= floor_bound).all())
    return [
        f"floor choice shares vs logit probabilities (all options open): max |diff| = "
        f"{floor_gap.max():.4f} (4-sigma bound {floor_bound[floor_gap.argmax()]:.4f}): "
        + ("agree" if floor_ok else "DISAGREE"),
        f"utilities from tastes == the model's cell table (same draws, same choices): {same}",
        f"choice shares, per agent vs demand.choose, N={pop.size:,} J={k - 1}: max |diff| = "
        f"{gap.max():.4f} (4-sigma bound {bound[gap.argmax()]:.4f}): "
        + ("agree" if ok else "DISAGREE")
        + f"; {switched:.1%} switched in the sweep",
    ]


MEMORY_CHILD = """
import resource, sys
mode = sys.argv[1]
if mode != "bare":
    from tokenmarket.model.market import TokenMarket
if mode == "model":
    n, j, steps, seed = map(int, sys.argv[2:6])
    m = TokenMarket(
        "synthetic", rng=seed, n_developers=n, n_providers=j, review_probability=1.0
    )
    for _ in range(steps):
        m.step()
hwm = -1
try:
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
except OSError:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, hwm)
"""

LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"
"""Starts the measured child from a small process.

On Linux a process's ru_maxrss starts from the RSS of the process it was forked from (the
kernel carries the high-water mark across fork and exec), so a child started directly from
this benchmark, which holds 100k-developer models, would report this benchmark's memory.
"""


def peak_rss_mb(mode: str, n: int = 0, j: int = 0) -> tuple[float, float]:
    """ru_maxrss and VmHWM of a fresh interpreter doing `mode`, in MB (2**20 bytes)."""
    child = [sys.executable, "-c", MEMORY_CHILD, mode, str(n), str(j), str(MEMORY_STEPS)]
    args = [sys.executable, "-c", LAUNCHER, *child, str(SEED)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    maxrss, hwm_kib = (int(v) for v in out.split()[-2:])
    unit = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return maxrss * unit / 2**20, hwm_kib / 1024 if hwm_kib >= 0 else math.nan


def measure_going_global(repeats: int) -> tuple[float, float, TokenMarket]:
    builds, runs = [], []
    for r in range(repeats):
        start = time.perf_counter()
        model = TokenMarket("going_global", rng=SEED + r)
        built = time.perf_counter()
        for _ in range(GOING_GLOBAL_STEPS):
            model.step()
        builds.append(built - start)
        runs.append(time.perf_counter() - built)
    return statistics.median(builds), statistics.median(runs), model


def profile_step(model: TokenMarket, top: int = 10) -> list[str]:
    """Top functions by cumulative time in one step (Mesa's scheduling wrappers left out)."""
    profiler = cProfile.Profile()
    profiler.enable()
    model.step()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    wrappers = ("_wrapped_step", "_advance_time", "execute", "_execute_and_reschedule", "_do_step")
    rows = sorted(
        ((ct, tt, nc, key) for key, (_, nc, tt, ct, _) in stats.items() if key[2] not in wrappers),
        reverse=True,
    )
    lines = [f"{'cumulative s':>12} {'own s':>8} {'calls':>6}  function"]
    for ct, tt, nc, (path, line, name) in rows[:top]:
        where = name if path == "~" else f"{_short(path)}:{line}({name})"
        lines.append(f"{ct:12.4f} {tt:8.4f} {nc:6d}  {where}")
    return lines


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


# --------------------------------------------------------------------------- context
def environment() -> list[str]:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    lines = [
        f"machine: {platform.system()} {platform.machine()}, os.cpu_count() = {os.cpu_count()}"
        f" (usable by this process: {affinity})",
        f"python {platform.python_version()}, numpy {np.__version__}, mesa {mesa.__version__}",
    ]
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            lines.append(
                f"threadpool: {pool.get('internal_api')} {pool.get('version')}, "
                f"{pool.get('num_threads')} threads"
            )
    except ImportError:
        blas = "unknown"
        try:
            info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            blas = f"{info.get('name')} {info.get('version')}"
        except Exception:
            pass
        lines.append(f"BLAS: {blas} (threadpoolctl not installed: thread count not read)")
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    env = {k: os.environ[k] for k in names if k in os.environ}
    lines.append(
        f"thread variables: {env or 'none set'}; the timed kernels (gather, RNG, argmax, "
        "masks) are single-threaded numpy, so BLAS threads do not enter"
    )
    return lines


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"
    except OSError:
        return "unknown"


# --------------------------------------------------------------------------- reporting
def fmt_s(seconds: float) -> str:
    return f"{seconds * 1e3:9.2f} ms" if seconds < 1 else f"{seconds:9.3f} s "


def step_table(rows: list[Row]) -> list[str]:
    head = (
        f"{'N':>8} {'J':>3} | {'build':>12} {'full step':>12} {'per-agent':>12} "
        f"{'per-agent':>12} {'floor':>12} {'kernel':>12}"
    )
    sub = (
        f"{'':>8} {'':>3} | {'TokenMarket':>12} {'TokenMarket':>12} {'random.Rand':>12} "
        f"{'numpy scalar':>12} {'-ln Exp(1)':>12} {'choose':>12}"
    )
    lines = [head, sub, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.n:8,d} {r.j:3d} | {fmt_s(r.build_s):>12} {fmt_s(r.full_s):>12} "
            f"{fmt_s(r.per_agent_s):>12} {fmt_s(r.per_agent_numpy_s):>12} "
            f"{fmt_s(r.floor_s):>12} {fmt_s(r.kernel_s):>12}"
        )
    return lines


def throughput_table(rows: list[Row]) -> list[str]:
    head = (
        f"{'N':>8} {'J':>3} | {'full step':>10} {'per-agent':>10} {'floor':>10} | "
        f"{'full/floor':>10} {'speed-up vs per-agent':>22}"
    )
    sub = f"{'':>8} {'':>3} | {'M dev*prov/s':>32} | {'':>10} {'random.Rand':>11}{'numpy':>11}"
    lines = [head, sub, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.n:8,d} {r.j:3d} | {r.throughput(r.full_s) / 1e6:10.2f} "
            f"{r.throughput(r.per_agent_s) / 1e6:10.2f} {r.throughput(r.floor_s) / 1e6:10.2f} | "
            f"{r.full_s / r.floor_s:9.2f}x {r.per_agent_s / r.full_s:10.1f}x"
            f"{r.per_agent_numpy_s / r.full_s:10.1f}x"
        )
    return lines


def verdicts(rows: list[Row], memory: dict[str, float]) -> list[str]:
    lines = []
    products = next((r for r in rows if (r.n, r.j) == PRODUCTS_POINT), None)
    if products is not None:
        ratio = products.full_s / products.floor_s
        lines.append(
            f"[{'met' if ratio <= FLOOR_RATIO_GOAL else 'NOT MET'}] full step within "
            f"{FLOOR_RATIO_GOAL:g}x of the floor at N=100k and {PRODUCTS_POINT[1]} products: "
            f"{fmt_s(products.full_s).strip()} vs {fmt_s(products.floor_s).strip()} = "
            f"{ratio:.2f}x (the model's choice kernel alone: {fmt_s(products.kernel_s).strip()})"
        )
    goal = next((r for r in rows if (r.n, r.j) == GOAL_POINT), None)
    if goal is None:
        lines.append(f"(grid has no N={GOAL_POINT[0]:,}, J={GOAL_POINT[1]}: step goals not judged)")
    else:
        ratio = goal.full_s / goal.floor_s
        lines.append(
            f"[{'met' if ratio <= FLOOR_RATIO_GOAL else 'NOT MET'}] full step within "
            f"{FLOOR_RATIO_GOAL:g}x of the floor at N=100k, J=20: {fmt_s(goal.full_s).strip()} "
            f"vs {fmt_s(goal.floor_s).strip()} = {ratio:.2f}x "
            f"(the model's choice kernel alone: {fmt_s(goal.kernel_s).strip()})"
        )
        speedup = goal.per_agent_s / goal.full_s
        speedup_numpy = goal.per_agent_numpy_s / goal.full_s
        lines.append(
            f"[{'met' if speedup >= SPEEDUP_GOAL else 'NOT MET'}] full step >= "
            f"{SPEEDUP_GOAL:g}x faster than per agent at N=100k, J=20: {speedup:.1f}x against "
            f"random.Random draws ({fmt_s(goal.per_agent_s).strip()}/sweep); {speedup_numpy:.1f}x"
            f" against numpy scalar draws ({fmt_s(goal.per_agent_numpy_s).strip()}/sweep); "
            f"the floor itself is {goal.per_agent_s / goal.floor_s:.1f}x / "
            f"{goal.per_agent_numpy_s / goal.floor_s:.1f}x"
        )
    peak = memory["model"]
    lines.append(
        f"[{'met' if peak < RSS_GOAL_MB else 'NOT MET'}] peak RSS under {RSS_GOAL_MB:g} MB with "
        f"100k developers, J=20, {MEMORY_STEPS} steps: {peak:.0f} MB "
        f"(interpreter + imports {memory['imports']:.0f} MB; the model's own share "
        f"{peak - memory['imports']:.0f} MB)"
    )
    return lines


def write_csv(
    path: Path, rows: list[Row], memory: dict[str, float], going: dict[str, float]
) -> None:
    """Every number of the run, one per line (tidy: measure, size, implementation, value)."""
    records = []

    def add(measure, n, j, implementation, value, unit, how=""):
        records.append((measure, n, j, implementation, value, unit, how))

    for r in rows:
        for impl, seconds, how in (
            ("full_step", r.full_s, r.how["full"]),
            ("per_agent_random", r.per_agent_s, r.how["per_agent"]),
            ("per_agent_numpy", r.per_agent_numpy_s, r.how["per_agent_numpy"]),
            ("floor", r.floor_s, r.how["floor"]),
            ("choice_kernel", r.kernel_s, r.how["floor"]),
        ):
            add("seconds_per_step", r.n, r.j, impl, seconds, "s", how)
            add("throughput", r.n, r.j, impl, r.throughput(seconds), "dev*prov/s", how)
        add("build_seconds", r.n, r.j, "full_step", r.build_s, "s", "1 build")
        add("full_over_floor", r.n, r.j, "full_step", r.full_s / r.floor_s, "ratio")
        for impl, seconds in (
            ("per_agent_random", r.per_agent_s),
            ("per_agent_numpy", r.per_agent_numpy_s),
        ):
            add("speedup_vs_per_agent", r.n, r.j, impl, seconds / r.full_s, "ratio")
    what = {"bare": "bare interpreter", "imports": "interpreter + imports"}
    for mode, mb in memory.items():
        how = "fresh subprocess, ru_maxrss, " + what.get(mode, f"build and {MEMORY_STEPS} steps")
        add("peak_rss", *(GOAL_POINT if mode == "model" else (0, 0)), mode, mb, "MB", how)
    size = (going["n_developers"], going["n_providers"])
    how = f"median of {going['repeats']}"
    add("build_seconds", *size, "going_global", going["build_seconds"], "s", how)
    steps = f"run_{GOING_GLOBAL_STEPS}_steps_seconds"
    add(steps, *size, "going_global", going["run_seconds"], "s", how)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["measure", "n_developers", "n_providers", "implementation", "value", "unit", "how"]
        )
        writer.writerows(records)


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller grid, fewer repeats")
    parser.add_argument("--out", type=Path, help="also write the results as CSV here")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one full step at N=100k, J=20"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    say = print

    say(f"TokenMarket step benchmark ({plan.name} grid), seed {SEED}")
    for line in environment():
        say("  " + line)
    say(f"  load average at start: {_load()} (other processes share the machine)")

    rows: list[Row] = []
    goal_model = None
    agreement: list[str] = []
    for n in plan.n_developers:
        for j in plan.n_providers:
            row, model = measure_point(plan, n, j)
            rows.append(row)
            if not agreement and n <= 20_000:
                agreement = check_agreement(model)
            if (n, j) == GOAL_POINT:
                goal_model = model
            del model
            gc.collect()  # Mesa models are cycles: free this one before the next timings
    row, model = measure_point(plan, *PRODUCTS_POINT, per_agent=False, tiers=TIERS)
    rows.append(row)
    del model
    gc.collect()

    say("")
    say("Developer choice: seconds per step, review_probability = 1 (everyone chooses)")
    for line in step_table(rows):
        say("  " + line)
    say("")
    say("Throughput (developers x providers per second) and ratios")
    for line in throughput_table(rows):
        say("  " + line)
    say("")
    say("How each column was timed")
    r = rows[-1]
    say("  full step: TokenMarket.step() (providers decide, awareness, choice, clearing,")
    say(f"    accounting, DataCollector), {r.how['full']}")
    for row in rows:
        say(
            f"  per-agent, N={row.n:,} J={row.j}: random.Random: {row.how['per_agent']}; "
            f"numpy scalar draws: {row.how['per_agent_numpy']}"
        )
    say(f"  floor and kernel: {r.how['floor']}; the floor on preallocated arrays, the kernel")
    say("    (demand.choose: every developer reviews) on the model's own arrays")
    say(
        f"  active products at the end of the timed steps: "
        f"{', '.join(f'{row.active_providers}/{row.j}' for row in rows)}"
    )
    say("")
    say("Checks (same rule in all three)")
    for line in agreement or ["not run (no grid point with N <= 20,000)"]:
        say("  " + line)

    say("")
    say("Memory: peak RSS of a fresh interpreter (started from a small launcher process)")
    n, j = GOAL_POINT
    measured = {
        "bare": peak_rss_mb("bare"),
        "imports": peak_rss_mb("imports"),
        "model": peak_rss_mb("model", n, j),
    }
    memory = {mode: maxrss for mode, (maxrss, _) in measured.items()}
    labels = {
        "bare": "bare interpreter",
        "imports": "+ import tokenmarket.model.market (numpy, mesa...)",
        "model": f"+ TokenMarket N={n:,} J={j}, build and {MEMORY_STEPS} steps",
    }
    say(f"  {'':<52} {'ru_maxrss':>10} {'VmHWM':>10}")
    for mode, (maxrss, hwm) in measured.items():
        say(f"  {labels[mode]:<52} {maxrss:7.1f} MB {hwm:7.1f} MB")
    say(
        f"  {'the model own share (model - imports)':<52} "
        f"{memory['model'] - memory['imports']:7.1f} MB"
    )

    say("")
    build_s, run_s, gg = measure_going_global(plan.going_global_repeats)
    going = {
        "n_developers": gg.spec.n_developers,
        "n_providers": len(gg.provider_list),
        "build_seconds": build_s,
        "run_seconds": run_s,
        "repeats": plan.going_global_repeats,
    }
    say(
        f"going_global (default size: {gg.spec.n_developers:,} developers, "
        f"{len(gg.provider_list)} providers, {gg.n_regions} regions), "
        f"median of {plan.going_global_repeats}"
    )
    say(
        f"  build {build_s:.3f} s; {GOING_GLOBAL_STEPS} steps {run_s:.3f} s "
        f"({run_s / GOING_GLOBAL_STEPS * 1e3:.2f} ms/step); total {build_s + run_s:.3f} s"
    )

    say("")
    say("Verdicts")
    for line in verdicts(rows, memory):
        say("  " + line)

    if args.profile:
        say("")
        model = goal_model if goal_model is not None else build_market(*GOAL_POINT)
        say(f"Profile of one full step, N={GOAL_POINT[0]:,} J={GOAL_POINT[1]} (cProfile)")
        for line in profile_step(model):
            say("  " + line)

    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_csv(args.out, rows, memory, going)
        say(f"\nwrote {args.out}")
    say(f"\nload average at end: {_load()}")
    say(f"benchmark wall time: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
