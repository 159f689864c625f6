"""How fast do sweeps run, what does the store cost per run, and does the driver's memory stay flat?

Run as `.venv/bin/python benchmarks/bench_sweep.py` (a few minutes on 2 cores); `--quick`
runs fewer runs (about a minute); `--out PATH` also writes every number as a tidy CSV.

What is measured, in one run:
1. Runs per minute of the same sweep (classroom, 2,000 developers, 120 months) through
   `run_sweep`, store included: serial (the baseline), 2 local worker processes, and a Dask
   LocalCluster of 2 workers. Start-up (pool or cluster start and the workers' imports) is
   timed apart from the runs. Goals: 2 workers >= 1.8x serial; Dask within 10% of the pool.
   Results of the three are checked identical before the timings count. CPU seconds of the
   sweep's processes and of the whole machine are measured too: on a shared machine, the
   cores other processes take explain a missed goal. Worker processes (pool and Dask) run
   BLAS single-threaded; the serial baseline runs in this process as a user's would, with
   OpenBLAS's default threads (CPU s/run shows the difference).
2. Store overhead per run: `SweepStore.write_run` (temporary file, fsync, rename) of a real
   run's bytes, next to a plain write of the same bytes (the baseline); a manifest refresh
   and the summary rebuild of a 1,000-run sweep; their cost per run at the refresh interval.
3. Memory of the driver process over a 1,000-run sweep of tiny runs (2 worker processes):
   RSS sampled every 0.1 s against runs done, with the growth per 1,000 runs fitted over the
   second half, next to the same sweep keeping every result in memory (what a loop around
   `mesa.batch_run` does): the baseline that grows.
The machine is shared and has 2 cores: the load average is printed with every timing.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from tokenmarket.runs.executors import DaskExecutor, Executor, ProcessExecutor, SerialExecutor
from tokenmarket.runs.store import REFRESH_SECONDS, SweepStore
from tokenmarket.runs.sweep import Sweep, build_sweep, run_sweep, run_to_parquet

SPEEDUP_GOAL = 1.8
DASK_TOLERANCE = 0.10
WORKERS = 2


@dataclass(frozen=True)
class Plan:
    name: str
    speed_runs: int
    rounds: int
    """Rounds of serial, processes, dask in turn: the best round of each counts (the one
    least disturbed by other processes on a shared machine)."""
    store_writes: int
    memory_runs: int


FULL = Plan("full", speed_runs=40, rounds=3, store_writes=300, memory_runs=1_000)
QUICK = Plan("quick", speed_runs=16, rounds=1, store_writes=100, memory_runs=300)


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def speed_spec(runs: int) -> dict:
    return {
        "name": "bench_speed",
        "scenario": "classroom",
        "steps": 120,
        "replications": runs // 2,
        "seed": 1,
        "fixed": {"n_developers": 2000},
        "parameters": {"switching_cost": [0.5, 3.0]},
    }


def tiny_spec(runs: int) -> dict:
    return {
        "name": "bench_tiny",
        "scenario": "classroom",
        "steps": 1,
        "replications": runs,
        "seed": 2,
        "fixed": {"n_developers": 20},
    }


# --------------------------------------------------------------------------- 1. speed
@dataclass
class Timing:
    executor: str
    runs: int
    startup_s: float
    runs_s: float
    own_cpu_s: float
    """CPU time of this process and its descendants (workers) while the runs ran."""
    busy_cpu_s: float
    """CPU time of the whole machine over the same time."""
    load: str

    @property
    def per_minute(self) -> float:
        return self.runs / self.runs_s * 60.0

    @property
    def others_cores(self) -> float:
        """Cores kept busy by other processes, on average, while the runs ran."""
        return max(0.0, self.busy_cpu_s - self.own_cpu_s) / self.runs_s


class CpuMeter:
    """CPU seconds of this process tree and of the whole machine over a `with` block.

    Descendants are polled every 0.1 s (the last value seen per process counts), so a
    worker's CPU is counted even though it is not this process's child to wait for.
    """

    def __init__(self) -> None:
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _poll(self) -> None:
        me = psutil.Process()
        for proc in [me, *me.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            self._seen[proc.pid] = times.user + times.system

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            self._poll()

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def __enter__(self) -> CpuMeter:
        self._poll()
        self._start = dict(self._seen)
        self._busy_start = self._busy()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()
        self.busy_s = self._busy() - self._busy_start
        self.own_s = sum(t - self._start.get(pid, 0.0) for pid, t in self._seen.items())


def time_sweep(sweep: Sweep, executor: Executor, out: Path) -> Timing:
    """Start the executor (timed), then the sweep through it (timed apart)."""
    started = time.perf_counter()
    executor.__enter__()
    startup = time.perf_counter() - started
    entered = _Entered(executor)
    with CpuMeter() as cpu:
        started = time.perf_counter()
        result = run_sweep(sweep, out, entered, progress=False)
        elapsed = time.perf_counter() - started
    executor.__exit__(None, None, None)
    assert result.done == sweep.n_runs, result.failed
    return Timing(
        executor.description, sweep.n_runs, startup, elapsed, cpu.own_s, cpu.busy_s, load()
    )


class _Entered:
    """An executor already started: `run_sweep`'s `with` neither starts nor stops it again."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self.description = executor.description

    def __enter__(self) -> _Entered:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, fn: Callable, tasks: Iterable) -> Iterator:
        return self._executor.run(fn, tasks)


def bench_speed(plan: Plan, root: Path) -> list[Timing]:
    """Every executor once per round, in turn; the best round of each, checked identical."""
    sweep = build_sweep(speed_spec(plan.speed_runs))
    makers: dict[str, Callable[[], Executor]] = {
        "serial": SerialExecutor,
        "processes": lambda: ProcessExecutor(WORKERS),
        "dask": lambda: DaskExecutor(WORKERS),
    }
    best: dict[str, Timing] = {}
    reference = None
    for round_ in range(plan.rounds):
        for name, make in makers.items():
            out = root / f"{name}-{round_}"
            print(f"  round {round_ + 1}/{plan.rounds}: {name} ...", flush=True)
            timing = time_sweep(sweep, make(), out)
            summary = pd.read_parquet(out / "summary.parquet")
            reference = summary if reference is None else reference
            pd.testing.assert_frame_equal(summary, reference, check_exact=True)
            shutil.rmtree(out)
            if name not in best or timing.runs_s < best[name].runs_s:
                best[name] = timing
    return list(best.values())


# --------------------------------------------------------------------------- 2. store
@dataclass
class StoreCost:
    write_ms: float
    plain_write_ms: float
    run_kb: float
    refresh_ms: float
    summary_s: float
    runs_in_dir: int


def bench_store(plan: Plan, root: Path, big_sweep: Path, runs_in_dir: int) -> StoreCost:
    sweep = build_sweep(speed_spec(2))
    summary_bytes, _ = run_to_parquet(sweep.task(0))
    store = SweepStore(root / "store")
    store.create({"name": "store"})
    plain = root / "plain"
    plain.mkdir()
    writes, baseline = [], []
    for i in range(plan.store_writes):
        started = time.perf_counter()
        store.write_run(f"{i:06d}", summary_bytes)
        writes.append(time.perf_counter() - started)
        started = time.perf_counter()
        (plain / f"{i:06d}.parquet").write_bytes(summary_bytes)
        baseline.append(time.perf_counter() - started)
    big = SweepStore(big_sweep)
    ids = sorted(p.stem for p in big.runs_dir.glob("*.parquet"))
    refreshes = []
    for _ in range(5):
        started = time.perf_counter()
        big.refresh_manifest(lambda: iter(ids))
        refreshes.append(time.perf_counter() - started)
    started = time.perf_counter()
    big.build_summary()
    summary_s = time.perf_counter() - started
    return StoreCost(
        write_ms=statistics.median(writes) * 1e3,
        plain_write_ms=statistics.median(baseline) * 1e3,
        run_kb=len(summary_bytes) / 1024,
        refresh_ms=statistics.median(refreshes) * 1e3,
        summary_s=summary_s,
        runs_in_dir=runs_in_dir,
    )


# --------------------------------------------------------------------------- 3. memory
@dataclass
class MemoryTrace:
    label: str
    runs: int
    seconds: float
    samples: list[tuple[int, float]]  # (runs done, RSS MB)
    start_mb: float

    def rss_at(self, fraction: float) -> float:
        target = fraction * self.runs
        return next(rss for done, rss in self.samples if done >= target)

    @property
    def during(self) -> list[tuple[int, float]]:
        """Samples while runs were completing (up to the first with every run done)."""
        last = next(i for i, (done, _) in enumerate(self.samples) if done >= self.runs)
        return self.samples[: last + 1]

    @property
    def growth_mb_per_1000(self) -> float:
        """Least-squares slope of RSS against runs done, over the second half of the sweep."""
        half = [(d, r) for d, r in self.during if d >= self.runs / 2]
        done, rss = np.array(half, dtype=float).T
        if np.ptp(done) == 0:
            return float("nan")
        return float(np.polyfit(done, rss, 1)[0] * 1000)


class RssSampler:
    """Samples this process's RSS and a count of done runs every `interval_s`."""

    def __init__(self, count: Callable[[], int], interval_s: float = 0.1) -> None:
        self.count, self.interval_s = count, interval_s
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._process = psutil.Process()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((self.count(), self._process.memory_info().rss / 2**20))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((self.count(), self._process.memory_info().rss / 2**20))


def bench_memory(plan: Plan, root: Path) -> tuple[MemoryTrace, MemoryTrace, Path]:
    sweep = build_sweep(tiny_spec(plan.memory_runs))
    out = root / "memory"
    runs_dir = out / "runs"

    def stored() -> int:
        return len(os.listdir(runs_dir)) if runs_dir.exists() else 0

    start_mb = psutil.Process().memory_info().rss / 2**20
    started = time.perf_counter()
    with RssSampler(stored) as sampler:
        result = run_sweep(sweep, out, ProcessExecutor(WORKERS), progress=False)
    store_trace = MemoryTrace(
        "store (this tool)", result.done, time.perf_counter() - started, sampler.samples, start_mb
    )

    kept: list[tuple[bytes, bytes | None]] = []  # the baseline: every result held in memory
    start_mb = psutil.Process().memory_info().rss / 2**20
    started = time.perf_counter()
    with ProcessExecutor(WORKERS) as executor, RssSampler(lambda: len(kept)) as sampler:
        for completed in executor.run(run_to_parquet, sweep.tasks()):
            kept.append(completed.value)
    memory_trace = MemoryTrace(
        "all results kept in memory",
        len(kept),
        time.perf_counter() - started,
        sampler.samples,
        start_mb,
    )
    return store_trace, memory_trace, out


# --------------------------------------------------------------------------- report
def report(timings: list[Timing], cost: StoreCost, traces: list[MemoryTrace]) -> list[dict]:
    rows = []
    print(
        "\n1. Runs per minute, same sweep (classroom, 2,000 developers, 120 months), "
        "best of the rounds"
    )
    print(
        f"   {'executor':<30} {'runs':>4} {'start-up s':>10} {'runs s':>7} {'runs/min':>8} "
        f"{'x serial':>8} {'CPU s/run':>9} {'cores used':>10} {'by others':>9}  load average"
    )
    serial = timings[0].per_minute
    for t in timings:
        print(
            f"   {t.executor:<30} {t.runs:>4} {t.startup_s:>10.2f} {t.runs_s:>7.2f} "
            f"{t.per_minute:>8.0f} {t.per_minute / serial:>8.2f} {t.own_cpu_s / t.runs:>9.3f} "
            f"{t.own_cpu_s / t.runs_s:>10.2f} {t.others_cores:>9.2f}  {t.load}"
        )
        rows.append(
            {
                "section": "speed",
                "executor": t.executor,
                "runs": t.runs,
                "startup_s": t.startup_s,
                "runs_s": t.runs_s,
                "runs_per_min": t.per_minute,
                "cpu_s_per_run": t.own_cpu_s / t.runs,
                "cores_used": t.own_cpu_s / t.runs_s,
                "cores_used_by_others": t.others_cores,
            }
        )
    print(
        f"   (cores used: this sweep's processes; by others: the rest of the machine, of "
        f"{psutil.cpu_count()})"
    )
    pool, dask = timings[1].per_minute, timings[2].per_minute
    print(
        f"   measured: 2 workers vs serial {pool / serial:.2f}x (goal >= {SPEEDUP_GOAL}x: "
        f"{'met' if pool / serial >= SPEEDUP_GOAL else 'NOT met'}); Dask vs the pool after "
        f"start-up {dask / pool:.2f}x (goal >= {1 - DASK_TOLERANCE:.2f}: "
        f"{'met' if dask / pool >= 1 - DASK_TOLERANCE else 'NOT met'})"
    )
    cpu = [t.own_cpu_s / t.runs for t in timings]  # CPU s per run, all of a sweep's processes
    projected = [cpu[0] / c * WORKERS for c in cpu[1:]]
    print(
        f"   projected on {WORKERS} otherwise idle cores (serial CPU s/run / CPU s/run x "
        f"{WORKERS}): 2 workers {projected[0]:.2f}x, Dask {projected[1]:.2f}x serial; Dask vs "
        f"the pool {projected[1] / projected[0]:.2f}x (a projection, not a measurement)"
    )
    print("   results identical across the three executors: yes (checked bit for bit)")

    print("\n2. Store overhead per run")
    print(
        f"   write_run (tmp + fsync + rename), {cost.run_kb:.0f} kB run file: "
        f"{cost.write_ms:.2f} ms median; plain write of the same bytes: "
        f"{cost.plain_write_ms:.2f} ms"
    )
    per_run = timings[0].runs_s / timings[0].runs * 1e3
    print(f"   = {cost.write_ms / per_run * 100:.1f}% of one serial run ({per_run:.0f} ms)")
    print(
        f"   manifest refresh of a {cost.runs_in_dir:,}-run sweep: {cost.refresh_ms:.1f} ms, "
        f"at most once per {REFRESH_SECONDS:.0f} s (so <= "
        f"{cost.refresh_ms / (REFRESH_SECONDS * 1e3) * 100:.2f}% of the driver's time)"
    )
    print(f"   summary.parquet rebuilt from {cost.runs_in_dir:,} run files: {cost.summary_s:.2f} s")
    rows += [
        {"section": "store", "metric": "write_run_ms", "value": cost.write_ms},
        {"section": "store", "metric": "plain_write_ms", "value": cost.plain_write_ms},
        {"section": "store", "metric": "manifest_refresh_ms", "value": cost.refresh_ms},
        {"section": "store", "metric": "summary_rebuild_s", "value": cost.summary_s},
    ]

    print("\n3. Driver memory (RSS, MB) over a sweep of tiny runs, 2 worker processes")
    print(
        f"   {'driver':<28} {'runs':>5} {'start':>7} {'10%':>7} {'50%':>7} {'100%':>7} "
        f"{'growth MB/1000 runs (2nd half)':>31}"
    )
    for m in traces:
        print(
            f"   {m.label:<28} {m.runs:>5} {m.start_mb:>7.1f} {m.rss_at(0.1):>7.1f} "
            f"{m.rss_at(0.5):>7.1f} {m.rss_at(1.0):>7.1f} {m.growth_mb_per_1000:>31.2f}"
        )
        rows.append(
            {
                "section": "memory",
                "executor": m.label,
                "runs": m.runs,
                "rss_start_mb": m.start_mb,
                "rss_end_mb": m.rss_at(1.0),
                "growth_mb_per_1000_runs": m.growth_mb_per_1000,
                "seconds": m.seconds,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (about a minute)")
    parser.add_argument("--out", type=Path, help="also write the numbers as a tidy CSV")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    print(
        f"bench_sweep ({plan.name}): {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"load average {load()} (1, 5, 15 min)"
    )
    print("The machine is shared: other processes' load makes every timing noisy.")
    root = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        print("1. speed")
        timings = bench_speed(plan, root)
        print("3. memory")
        store_trace, memory_trace, big = bench_memory(plan, root)
        print("2. store")
        cost = bench_store(plan, root, big, store_trace.runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = report(timings, cost, [store_trace, memory_trace])
    print(f"\nload average at the end: {load()} (1, 5, 15 min)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted({k for row in rows for k in row})
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
