"""Sweeps: spec validation, designs and seeds, executors (serial, processes, Dask), the
store (atomic files, resume after SIGKILL and Ctrl-C, failed runs), and the analysis."""

import contextlib
import io
import itertools
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import tomli_w
from scipy import stats

from tokenmarket.agents import strategies
from tokenmarket.agents.strategies import registry
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import knobs_of, load_scenario
from tokenmarket.runs import analysis, cli
from tokenmarket.runs.executors import ProcessExecutor, SerialExecutor
from tokenmarket.runs.store import StoreError, SweepStore, atomic_write
from tokenmarket.runs.sweep import build_sweep, load_spec, run_one, run_seed, run_sweep

BIN = Path(sys.executable).parent
TOKENMARKET = BIN / "tokenmarket"

# Small enough for seconds: 4 points x 2 replications of a short, thin classroom market.
SMALL: dict[str, Any] = {
    "name": "small",
    "scenario": "classroom",
    "steps": 4,
    "replications": 2,
    "seed": 11,
    "fixed": {"n_developers": 150},
    "parameters": {"switching_cost": [0.5, 3.0], "homogenization": [0.01, 0.2]},
    "outputs": {"timeseries": True},
}


def write_spec(folder: Path, data: dict[str, Any], name: str = "spec.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(tomli_w.dumps(data))
    return path


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


@dataclass
class Stored:
    """What a sweep directory holds, read back."""

    summary: pd.DataFrame
    timeseries: pd.DataFrame
    manifest: dict[str, Any]


def read_sweep(out: Path) -> Stored:
    summary = pd.read_parquet(out / "summary.parquet")
    files = sorted((out / "timeseries").glob("*.parquet"))
    timeseries = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    return Stored(summary, timeseries, json.loads((out / "manifest.json").read_text()))


def assert_same_results(a: Stored, b: Stored) -> None:
    """Bit-for-bit: the same rows, columns, dtypes and values."""
    pd.testing.assert_frame_equal(a.summary, b.summary, check_exact=True)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries, check_exact=True)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Stored]:
    """The SMALL spec run serially through the CLI: the reference for every executor."""
    root = tmp_path_factory.mktemp("small")
    spec = write_spec(root, SMALL)
    code, _, err = run_cli(
        ["sweep", str(spec), "--out", str(root / "serial"), "--executor", "serial"]
    )
    assert code == 0, err
    return spec, read_sweep(root / "serial")


# --------------------------------------------------------------------------- design and seeds
def test_grid_runs_every_combination_for_every_replication(small: tuple[Path, Stored]) -> None:
    _, stored = small
    params = SMALL["parameters"]
    runs = stored.summary.drop_duplicates("run_id")
    expected = {
        (*combo, r)
        for combo in itertools.product(*params.values())
        for r in range(SMALL["replications"])
    }
    got = set(runs[[*params, "replication"]].itertuples(index=False, name=None))
    assert got == expected
    assert len(runs) == len(expected)
    assert runs["run_id"].is_unique
    assert stored.manifest["counts"] == {
        "runs": len(expected),
        "done": len(expected),
        "failed": 0,
        "pending": 0,
    }
    # every provider of every run, at the final month only
    n_providers = len(load_scenario("classroom").providers)
    assert len(stored.summary) == len(expected) * n_providers
    assert set(stored.summary["step"]) == {SMALL["steps"]}
    assert len(stored.timeseries) == len(expected) * n_providers * SMALL["steps"]


def test_run_seeds_are_spawned_from_the_sweep_seed() -> None:
    children = np.random.SeedSequence(11).spawn(8)
    for i, child in enumerate(children):
        assert run_seed(11, i) == int(child.generate_state(1, np.uint64)[0]) >> 1
    sweep = build_sweep(SMALL)
    seeds = [sweep.task(i).seed for i in range(sweep.n_runs)]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s < 2**63 for s in seeds)


def test_common_random_numbers_share_a_seed_per_replication() -> None:
    sweep = build_sweep({**SMALL, "common_random_numbers": True})
    tasks = [sweep.task(i) for i in range(sweep.n_runs)]
    by_replication: dict[int, set[int]] = {}
    for t in tasks:
        by_replication.setdefault(t.replication, set()).add(t.seed)
    assert all(len(seeds) == 1 for seeds in by_replication.values())
    assert len({s for seeds in by_replication.values() for s in seeds}) == SMALL["replications"]


def test_a_run_is_fixed_by_its_index_alone() -> None:
    a, b = build_sweep(SMALL), build_sweep(SMALL)
    assert [a.task(i) for i in range(a.n_runs)] == [b.task(i) for i in range(b.n_runs)]
    skip = {a.run_id(1), a.run_id(5)}
    kept = [t.run for t in a.tasks(skip)]
    assert kept == [i for i in range(a.n_runs) if i not in (1, 5)]


def test_run_one_is_the_run_mesa_batch_run_makes() -> None:
    """The two ways to sweep the model agree: same parameters and seed, same market."""
    import mesa

    sweep = build_sweep({**SMALL, "outputs": {"timeseries": False}})
    task = sweep.task(3)
    mine = run_one(task).summary
    rows = mesa.batch_run(
        TokenMarket,
        parameters={"scenario": "classroom", **task.overrides, **task.parameters},
        rng=[task.seed],
        max_steps=SMALL["steps"],
        number_processes=1,
        data_collection_period=-1,
        display_progress=False,
    )
    theirs = pd.DataFrame(rows).sort_values("AgentID")
    assert theirs["hhi"].iloc[0] == mine["market_hhi"].iloc[0]
    assert theirs["token_share"].tolist() == mine["token_share"].tolist()


RANGES = {
    "switching_cost": {"low": 0.5, "high": 4.0},
    "electricity_CN": {"low": 0.02, "high": 0.2, "scale": "log"},
    "n_developers": {"low": 100, "high": 300, "integer": True},
}


@pytest.mark.parametrize(
    ("sampler", "samples", "points"),
    [("random", 10, 10), ("lhs", 10, 10), ("sobol", 8, 8 * (3 + 2)), ("morris", 4, 4 * (3 + 1))],
)
def test_samplers_stay_in_their_ranges(sampler: str, samples: int, points: int) -> None:
    spec = {**SMALL, "fixed": {}, "parameters": {}, "ranges": RANGES}
    spec |= {"sampler": sampler, "samples": samples}
    sweep = build_sweep(spec)
    assert sweep.design.n_points == points
    values = pd.DataFrame(list(sweep.design.points()))
    for name, bounds in RANGES.items():
        assert values[name].between(bounds["low"], bounds["high"]).all()
    assert all(isinstance(v, int) for v in values["n_developers"])
    assert build_sweep(spec).design.unit_sample.tolist() == sweep.design.unit_sample.tolist()
    other = build_sweep({**spec, "seed": 12}).design.unit_sample
    assert other.tolist() != sweep.design.unit_sample.tolist()


def test_latin_hypercube_puts_one_point_in_each_slice_of_each_axis() -> None:
    spec = {**SMALL, "fixed": {}, "parameters": {}, "ranges": RANGES}
    spec |= {"sampler": "lhs", "samples": 16}
    unit = build_sweep(spec).design.unit_sample
    for column in unit.T:
        assert sorted(np.floor(column * 16).astype(int)) == list(range(16))


def test_grid_levels_of_a_log_range_are_evenly_spaced_in_log() -> None:
    spec = {
        **SMALL,
        "parameters": {"switching_cost": [1.0]},
        "ranges": {"electricity_CN": {"low": 0.01, "high": 1.0, "scale": "log"}},
        "levels": 3,
    }
    points = list(build_sweep(spec).design.points())
    assert [p["electricity_CN"] for p in points] == pytest.approx([0.01, 0.1, 1.0])


# --------------------------------------------------------------------------- executors
def test_two_local_processes_give_identical_results(
    small: tuple[Path, Stored], tmp_path: Path
) -> None:
    spec, reference = small
    code, _, err = run_cli(["sweep", str(spec), "--out", str(tmp_path / "p"), "--workers", "2"])
    assert code == 0, err
    assert_same_results(read_sweep(tmp_path / "p"), reference)


def test_dask_local_cluster_gives_identical_results(
    small: tuple[Path, Stored], tmp_path: Path
) -> None:
    spec, reference = small
    argv = [
        "sweep",
        str(spec),
        "--out",
        str(tmp_path / "d"),
        "--executor",
        "dask",
        "--workers",
        "2",
    ]
    code, _, err = run_cli(argv)
    assert code == 0, err
    assert_same_results(read_sweep(tmp_path / "d"), reference)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_scheduler(tmp_path: Path) -> Iterator[str]:
    """A `dask scheduler` and one `dask worker` as separate processes on 127.0.0.1."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    commands = {
        "scheduler": [
            str(BIN / "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            address.rsplit(":", 1)[1],
            "--no-dashboard",
        ],
        "worker": [
            str(BIN / "dask"),
            "worker",
            address,
            "--nworkers",
            "1",
            "--nthreads",
            "1",
            "--host",
            "127.0.0.1",
            "--no-dashboard",
        ],
    }
    processes = []
    try:
        for name, command in commands.items():
            with open(logs / f"{name}.log", "w") as log:
                processes.append(
                    subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
                )
        deadline = time.monotonic() + 60
        while True:  # the scheduler may not listen yet: retry until it answers
            try:
                with Client(address, timeout="2s") as client:
                    client.wait_for_workers(1, timeout=max(1, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for process in reversed(processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_sweep_through_a_dask_scheduler_address(
    small: tuple[Path, Stored], dask_scheduler: str, tmp_path: Path
) -> None:
    spec, reference = small
    argv = ["sweep", str(spec), "--out", str(tmp_path / "s"), "--scheduler", dask_scheduler]
    code, stdout, err = run_cli(argv)
    assert code == 0, err
    assert dask_scheduler in stdout
    stored = read_sweep(tmp_path / "s")
    assert_same_results(stored, reference)
    assert dask_scheduler in stored.manifest["sessions"][0]["executor"]


@pytest.mark.parametrize(
    "executor", [SerialExecutor(), ProcessExecutor(2)], ids=["serial", "processes"]
)
def test_executor_records_an_exception_and_goes_on(executor: Any) -> None:
    # math.sqrt raises ValueError on a negative number, in whichever process it runs
    import math

    with executor:
        done = list(executor.run(math.sqrt, [4.0, -1.0, 9.0, 16.0]))
    assert sorted(c.task for c in done) == [-1.0, 4.0, 9.0, 16.0]
    failed = [c for c in done if not c.ok]
    assert [c.task for c in failed] == [-1.0]
    assert failed[0].error.startswith("ValueError: ")
    assert "Traceback" in failed[0].traceback
    assert {c.task: c.value for c in done if c.ok} == {4.0: 2.0, 9.0: 3.0, 16.0: 4.0}


def test_pool_workers_run_single_threaded_blas(monkeypatch: pytest.MonkeyPatch) -> None:
    # two workers each with a BLAS thread per core would fight over the cores
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with ProcessExecutor(2) as executor:
        seen = {c.value for c in executor.run(os.getenv, ["OPENBLAS_NUM_THREADS"] * 4)}
    assert seen == {"1"}
    assert "OPENBLAS_NUM_THREADS" not in os.environ  # the driver's own environment is kept


# --------------------------------------------------------------------------- failed runs
@pytest.fixture
def broken_strategy(monkeypatch: pytest.MonkeyPatch) -> str:
    """A registered strategy with a bug: it raises when it first sets a price.

    Registered in this process only, so sweeps that use it run with the serial executor.
    """
    monkeypatch.setattr(registry, "_registered", {})

    @strategies.register("broken")
    class Broken(strategies.Strategy):
        classifier: ClassVar[strategies.Classifier] = {
            "uses_rival_prices": False,
            "uses_demand_estimates": False,
            "stochastic": False,
        }

        def decide(self, me: Any, market: Any, rng: Any) -> strategies.Decision:
            raise ZeroDivisionError("broken strategy: no price rule")

    return "broken"


def test_a_run_that_raises_is_recorded_and_the_others_finish(
    broken_strategy: str, tmp_path: Path
) -> None:
    data = {
        **SMALL,
        "parameters": {"strategy_cn_lowcost": ["low_price", broken_strategy]},
        "outputs": {"timeseries": False},
    }
    spec, out = write_spec(tmp_path, data), tmp_path / "out"
    code, stdout, _ = run_cli(["sweep", str(spec), "--out", str(out), "--executor", "serial"])
    assert code == 1
    assert "2 of 4 runs done, 2 failed" in stdout
    stored = SweepStore(out)
    failures = stored.failures()
    sweep = load_spec(spec)
    expected = {sweep.task(i).run_id: sweep.task(i) for i in range(sweep.n_runs)}
    assert {f["run_id"] for f in failures} == {
        rid for rid, t in expected.items() if t.parameters["strategy_cn_lowcost"] == "broken"
    }
    for f in failures:
        assert f["seed"] == expected[f["run_id"]].seed
        assert "ZeroDivisionError: broken strategy" in f["error"]
        assert "in decide" in f["traceback"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"runs": 4, "done": 2, "failed": 2, "pending": 0}
    assert sorted(manifest["status"].values()) == ["done", "done", "failed", "failed"]
    summary = pd.read_parquet(out / "summary.parquet")
    assert set(summary["strategy_cn_lowcost"]) == {"low_price"}
    # a resume runs the failed runs again, and only them
    code, stdout, _ = run_cli(
        ["sweep", str(spec), "--out", str(out), "--resume", "--executor", "serial"]
    )
    assert code == 1
    assert "ran 2 in" in stdout


# --------------------------------------------------------------------------- crash safety
CRASH = {
    **SMALL,
    "name": "crash",
    "steps": 12,
    "replications": 10,
    "fixed": {"n_developers": 300},
    "parameters": {"switching_cost": [0.5, 1.5, 3.0]},
}


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Stored]:
    """The CRASH spec (30 runs) run uninterrupted, serially in this process."""
    root = tmp_path_factory.mktemp("crash")
    spec = write_spec(root, CRASH)
    result = run_sweep(load_spec(spec), root / "whole", SerialExecutor(), progress=False)
    assert result.done == result.total == 30
    return spec, read_sweep(root / "whole")


def start_sweep(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(TOKENMARKET), "sweep", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_runs(out: Path, k: int, process: subprocess.Popen, timeout: float = 120) -> int:
    """Poll until at least k run files exist; the number found."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = len(list((out / "runs").glob("*.parquet"))) if (out / "runs").exists() else 0
        if found >= k:
            return found
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    raise AssertionError(f"fewer than {k} runs after {timeout} s")


def assert_resumed_equals_whole(out: Path, spec: Path, whole: Stored) -> None:
    assert not list(out.rglob(".*.tmp"))  # the resume cleared any temporary
    stored = read_sweep(out)
    assert stored.summary["run_id"].nunique() == whole.summary["run_id"].nunique()
    assert_same_results(stored, whole)
    assert stored.manifest["counts"]["done"] == 30
    assert stored.manifest["sessions"][-1]["resumed"] is True


def test_a_sweep_killed_with_sigkill_resumes_to_the_same_results(
    crash: tuple[Path, Stored], tmp_path: Path
) -> None:
    spec, whole = crash
    out = tmp_path / "killed"
    process = start_sweep([str(spec), "--out", str(out), "--executor", "serial"])
    wait_for_runs(out, 5, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    stored = sorted((out / "runs").glob("*.parquet"))
    assert 5 <= len(stored) < 30, "the sweep finished before the kill: make CRASH longer"
    for path in stored:  # whole files only: each one reads, with its provider rows
        assert pq.read_table(path).num_rows == len(load_scenario("classroom").providers)
    code, stdout, err = run_cli(
        ["sweep", str(spec), "--out", str(out), "--resume", "--executor", "serial"]
    )
    assert code == 0, err
    assert f"ran {30 - len(stored)} in" in stdout  # exactly the missing ones
    assert_resumed_equals_whole(out, spec, whole)


def test_ctrl_c_stops_the_workers_and_leaves_a_resumable_store(
    crash: tuple[Path, Stored], tmp_path: Path
) -> None:
    spec, whole = crash
    out = tmp_path / "interrupted"
    process = start_sweep([str(spec), "--out", str(out), "--workers", "2"])
    wait_for_runs(out, 3, process)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in err
    assert "--resume" in err
    assert "Traceback" not in err
    assert not live_members(process.pid)  # no worker left behind in its process group
    done = len(list((out / "runs").glob("*.parquet")))
    assert done < 30, "the sweep finished before Ctrl-C: make CRASH longer"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["done"] == done  # the index was refreshed on the way out
    code, _, err = run_cli(
        ["sweep", str(spec), "--out", str(out), "--resume", "--executor", "serial"]
    )
    assert code == 0, err
    assert_resumed_equals_whole(out, spec, whole)


def live_members(group: int, wait_s: float = 10.0) -> list[int]:
    """Processes of a process group still alive (zombies excluded) once `wait_s` has passed."""
    import psutil

    deadline = time.monotonic() + wait_s
    while True:
        alive = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if os.getpgid(proc.pid) == group and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc.pid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


# --------------------------------------------------------------------------- store
def test_atomic_write_keeps_the_old_file_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.parquet"
    atomic_write(target, b"old")

    def fail(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]


def test_resume_drops_temporaries_and_unreadable_run_files(
    small: tuple[Path, Stored], tmp_path: Path
) -> None:
    spec, reference = small
    out = tmp_path / "copy"
    shutil.copytree(reference_dir(spec), out)
    runs = sorted((out / "runs").glob("*.parquet"))
    runs[0].write_bytes(b"PAR1 half a file")  # what a disk may hold after a power cut
    (out / "runs" / f".{runs[1].name}.999.tmp").write_bytes(b"partial")
    store = SweepStore(out)
    done = store.prepare_resume()
    assert done == {p.stem for p in runs[1:]}
    assert not runs[0].exists()
    assert not list(out.rglob("*.tmp"))
    code, stdout, err = run_cli(
        ["sweep", str(spec), "--out", str(out), "--resume", "--executor", "serial"]
    )
    assert code == 0, err
    assert "ran 1 in" in stdout
    assert_same_results(read_sweep(out), reference)


def reference_dir(spec: Path) -> Path:
    return spec.parent / "serial"


def test_a_directory_being_written_is_locked(tmp_path: Path) -> None:
    first, second = SweepStore(tmp_path), SweepStore(tmp_path)
    first.lock()
    try:
        with pytest.raises(StoreError, match="another sweep"):
            second.lock()
    finally:
        first.unlock()
    second.lock()
    second.unlock()


# --------------------------------------------------------------------------- bad input
def assert_refused(code: int, err: str, field: str, out: Path) -> None:
    """Status 2, one `error:` line naming the field, no traceback, nothing written."""
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:")
    assert field in lines[0], lines[0]
    assert "Traceback" not in err
    assert not out.exists()


ONE_RANGE = {"parameters": {}, "ranges": {"switching_cost": {"low": 1.0, "high": 2.0}}}
BAD_SPECS = {
    "unknown parameter": ({"parameters": {"colour": [1, 2]}}, "parameters.colour"),
    "unknown region in a parameter": ({"parameters": {"electricity_MARS": [0.1]}}, "MARS"),
    "empty list": ({"parameters": {"switching_cost": []}}, "parameters.switching_cost"),
    "empty range": (
        {"parameters": {}, "ranges": {"switching_cost": {"low": 2.0, "high": 2.0}}, "levels": 3},
        "ranges.switching_cost",
    ),
    "range upside down": (
        {"parameters": {}, "ranges": {"homogenization": {"low": 0.2, "high": 0.1}}, "levels": 3},
        "ranges.homogenization",
    ),
    "zero replications": ({"replications": 0}, "replications"),
    "unknown sampler": ({**ONE_RANGE, "sampler": "magic", "samples": 4}, "sampler"),
    "unknown key": ({"colour": "red"}, "colour"),
    "unknown key in a range": (
        {"parameters": {}, "ranges": {"switching_cost": {"low": 1, "high": 2, "lo": 1}}},
        "ranges.switching_cost.lo",
    ),
    "sobol samples not a power of 2": ({**ONE_RANGE, "sampler": "sobol", "samples": 6}, "samples"),
    "sampler without ranges": ({"sampler": "lhs", "samples": 4}, "ranges"),
    "grid range without levels": (ONE_RANGE, "levels"),
    "value the model refuses": ({"parameters": {"switching_cost": [1.0, -1.0]}}, "switching_cost"),
    "range over a categorical knob": (
        {"parameters": {}, "ranges": {"strategy_cn_lowcost": {}}, "levels": 2},
        "ranges.strategy_cn_lowcost",
    ),
    "range beyond the knob's bounds": (
        {"parameters": {}, "ranges": {"electricity_CN": {"high": 5.0}}, "levels": 2},
        "electricity_CN",
    ),
    "infinite range bound": (
        {"parameters": {}, "ranges": {"switching_cost": {"low": 1.0, "high": math.inf}}},
        "ranges.switching_cost.high: must be finite",
    ),
    "nan in fixed": ({"fixed": {"electricity_CN": math.nan}}, "fixed.electricity_CN: must be fin"),
    "boolean as a number": ({"parameters": {"electricity_CN": [True]}}, "electricity_CN"),
    "parameter given twice": (
        {"fixed": {"n_developers": 100, "switching_cost": 1.0}},
        "parameters.switching_cost",
    ),
    "mixed value types": ({"parameters": {"switching_cost": [1.0, "high"]}}, "switching_cost"),
    "missing scenario file": ({"scenario": "nowhere.toml"}, "scenario"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_is_refused(case: str, tmp_path: Path) -> None:
    change, field = BAD_SPECS[case]
    spec = write_spec(tmp_path, {**SMALL, **change})
    out = tmp_path / "out"
    code, stdout, err = run_cli(["sweep", str(spec), "--out", str(out), "--executor", "serial"])
    assert_refused(code, err, field, out)
    assert stdout == ""


def test_a_range_left_open_takes_the_knobs_bounds_and_integer_kind(tmp_path: Path) -> None:
    data = {
        **SMALL,
        "fixed": {},
        "parameters": {},
        "ranges": {"n_developers": {"low": 100, "high": 201}, "homogenization": {}},
        "sampler": "random",
        "samples": 5,
    }
    sweep = load_spec(write_spec(tmp_path, data))
    knob = knobs_of(sweep.scenario)["homogenization"]
    assert sweep.spec.ranges["homogenization"].low == knob.domain["low"]
    assert sweep.spec.ranges["homogenization"].high == knob.domain["high"]
    points = list(sweep.design.points())
    assert all(type(p["n_developers"]) is int for p in points)
    assert all(knob.domain["low"] <= p["homogenization"] <= knob.domain["high"] for p in points)


def test_a_sweep_may_switch_a_strategy_and_vary_the_new_strategys_parameter(tmp_path: Path):
    data = {
        **SMALL,
        "parameters": {
            "strategy_cn_lowcost": ["cost_plus"],
            "param_cn_lowcost_markup": [0.2, 0.6],
        },
    }
    sweep = load_spec(write_spec(tmp_path, data))
    assert {p["param_cn_lowcost_markup"] for p in sweep.design.points()} == {0.2, 0.6}
    data["parameters"]["strategy_cn_lowcost"] = ["low_price"]  # low_price has no markup
    code, _, err = run_cli(["sweep", str(write_spec(tmp_path, data)), "--executor", "serial"])
    assert code == 2 and "param_cn_lowcost_markup: unknown parameter" in err


BAD_OPTIONS = {
    "zero workers": (["--workers", "0"], "--workers"),
    "workers with serial": (["--executor", "serial", "--workers", "2"], "--workers"),
    "scheduler with processes": (
        ["--executor", "processes", "--scheduler", "tcp://127.0.0.1:8786"],
        "--scheduler",
    ),
    "scheduler not an address": (["--scheduler", "localhost"], "--scheduler"),
    "unknown executor": (["--executor", "ray"], "--executor"),
    "resume of nothing": (["--resume"], "no sweep"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_bad_sweep_option_is_refused(case: str, tmp_path: Path) -> None:
    options, field = BAD_OPTIONS[case]
    spec = write_spec(tmp_path, SMALL)
    out = tmp_path / "out"
    code, _, err = run_cli(["sweep", str(spec), "--out", str(out), *options])
    assert_refused(code, err, field, out)


def test_unreachable_scheduler_is_refused_and_nothing_written(tmp_path: Path) -> None:
    import dask

    spec = write_spec(tmp_path, SMALL)
    out = tmp_path / "out"
    address = f"tcp://127.0.0.1:{free_port()}"  # nobody listens there
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        code, _, err = run_cli(["sweep", str(spec), "--out", str(out), "--scheduler", address])
    assert_refused(code, err, "--scheduler", out)
    assert address in err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"replications": 3}, "spec.replications"),
        (
            {"parameters": {"switching_cost": [0.5, 2.0], "homogenization": [0.01, 0.2]}},
            "spec.parameters",
        ),
        ({"fixed": {"n_developers": 151}}, "spec.fixed.n_developers"),
    ],
)
def test_a_changed_spec_is_refused_on_resume(
    small: tuple[Path, Stored], tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    spec, _ = small
    out = tmp_path / "copy"
    shutil.copytree(reference_dir(spec), out)
    before = snapshot(out)
    changed = write_spec(tmp_path, {**SMALL, **change}, "changed.toml")
    code, _, err = run_cli(
        ["sweep", str(changed), "--out", str(out), "--resume", "--executor", "serial"]
    )
    assert code == 2
    assert err.startswith("error: --resume: the spec differs") and named in err
    assert snapshot(out) == before


def test_the_description_may_change_on_resume(small: tuple[Path, Stored], tmp_path: Path) -> None:
    spec, _ = small
    out = tmp_path / "copy"
    shutil.copytree(reference_dir(spec), out)
    renamed = write_spec(tmp_path, {**SMALL, "description": "now explained"}, "renamed.toml")
    code, stdout, err = run_cli(
        ["sweep", str(renamed), "--out", str(out), "--resume", "--executor", "serial"]
    )
    assert code == 0, err
    assert "ran 0 in" in stdout


def test_an_existing_sweep_is_not_overwritten(small: tuple[Path, Stored], tmp_path: Path) -> None:
    spec, _ = small
    out = tmp_path / "copy"
    shutil.copytree(reference_dir(spec), out)
    before = snapshot(out)
    code, _, err = run_cli(["sweep", str(spec), "--out", str(out), "--executor", "serial"])
    assert code == 2
    assert "--out" in err and "--resume" in err
    assert snapshot(out) == before


# --------------------------------------------------------------------------- analysis
def test_t_interval_matches_scipy() -> None:
    x = np.array([0.2, 0.35, 0.31, 0.27, 0.4])
    low, high = analysis.t_interval(x)
    expected = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert (low, high) == pytest.approx(expected)
    assert all(np.isnan(analysis.t_interval([1.0])))


def test_analyze_writes_tables_and_figures(small: tuple[Path, Stored], tmp_path: Path) -> None:
    spec, reference = small
    out = tmp_path / "copy"
    shutil.copytree(reference_dir(spec), out)
    code, stdout, err = run_cli(["analyze", str(out)])
    assert code == 0, err
    folder = out / "analysis"
    expected = {
        "strategy_points.csv",
        "market_points.csv",
        "timeseries_token_share.png",
        "heatmap_token_share.png",
        "heatmap_hhi.png",
    }
    assert {p.name for p in folder.iterdir()} == expected
    for name in expected - {"strategy_points.csv", "market_points.csv"}:
        assert (folder / name).read_bytes().startswith(b"\x89PNG")
    assert "Final token share by strategy" in stdout

    table = pd.read_csv(folder / "strategy_points.csv")
    params = list(SMALL["parameters"])
    # the means are the plain means over replications of the strategies' summed shares
    direct = (
        reference.summary.groupby(["run_id", *params, "strategy"])["token_share"]
        .sum()
        .groupby([*params, "strategy"])
        .agg(["mean", "count"])
    )
    shares = table[table["metric"] == "token_share"].set_index([*params, "strategy"])
    pd.testing.assert_series_equal(
        shares["mean"].sort_index(), direct["mean"].sort_index(), check_names=False
    )
    assert (shares["n"] == SMALL["replications"]).all()
    assert (shares["ci_low"] <= shares["mean"]).all() and (
        shares["mean"] <= shares["ci_high"]
    ).all()
    # shares of all strategies add up to the whole market at every point
    assert shares.groupby(params)["mean"].sum().to_numpy() == pytest.approx(1.0)
    market = pd.read_csv(folder / "market_points.csv")
    assert set(market["metric"]) == set(analysis.MARKET_OUTCOMES)
    assert (market.groupby("metric")["n"].min() == SMALL["replications"]).all()


def test_figures_label_their_axes_with_units(small: tuple[Path, Stored]) -> None:
    spec, _ = small
    data = analysis.load_sweep(reference_dir(spec))
    table = analysis.point_table(
        analysis.strategy_runs(data.summary, data.parameters),
        ["point", *data.parameters, "strategy"],
        ["token_share"],
    )
    fig = analysis.heatmap_figure(table, "switching_cost", "homogenization")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert sorted(ax.get_title() for ax in panels) == sorted(data.summary["strategy"].unique())
    assert "(utils)" in panels[0].get_xlabel()  # switching cost, with its unit
    assert all(t.get_text() for t in panels[0].texts)  # every cell annotated: reads in greyscale
    ts = data.timeseries(["run_id", "date", "strategy", "token_share", "switching_cost"])
    fig = analysis.timeseries_figure(ts, "token_share", facet="switching_cost")
    lines = fig.axes[0]
    assert "fraction of tokens served" in lines.get_ylabel()
    assert lines.get_xlabel() == "calendar month"
    fig.canvas.draw()
    low, high = lines.get_xlim()
    pairs = zip(lines.get_xticks(), lines.get_xticklabels(), strict=True)
    ticks = [pd.Timestamp(t.get_text()) for x, t in pairs if low <= x <= high and t.get_text()]
    assert ticks and ticks[0].year == data.scenario.start.year  # a calendar axis, from the start
    styles = {line.get_linestyle() for line in lines.get_lines() if line.get_xdata().size}
    assert len(styles) > 1  # strategies told apart without colour


def test_analyze_without_time_series_says_so(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, {**SMALL, "outputs": {"timeseries": False}, "replications": 1})
    out = tmp_path / "out"
    assert run_cli(["sweep", str(spec), "--out", str(out), "--executor", "serial"])[0] == 0
    code, stdout, _ = run_cli(["analyze", str(out)])
    assert code == 0
    assert "time-series bands skipped" in stdout
    assert not (out / "analysis" / "timeseries_token_share.png").exists()


def test_analyze_refuses_a_directory_without_a_sweep(tmp_path: Path) -> None:
    code, _, err = run_cli(["analyze", str(tmp_path)])
    assert code == 2
    assert err.startswith("error:") and "no sweep" in err


# An electricity price that cannot matter: no provider of going_global (entrants included)
# is homed in ROW, and `electricity_<REGION>` sets only the grid price of that region and the
# power prices of providers homed there (contracts in proportion). With common random numbers,
# the runs of a replication share a seed, so two runs that differ only in electricity_ROW are
# the same run: f(A_B^i) == f(A) exactly, and both Sobol estimators (S1 and ST) are 0, as is
# Morris' mu*. switching_cost does matter, which shows the indices are not all 0 by accident.
NO_EFFECT = {
    "name": "no_effect",
    "scenario": "going_global",
    "steps": 6,
    "seed": 3,
    "common_random_numbers": True,
    "fixed": {"n_developers": 200},
    "ranges": {
        "electricity_ROW": {"low": 0.02, "high": 0.3},
        "switching_cost": {"low": 0.2, "high": 5.0},
    },
}


@pytest.mark.parametrize(
    ("sampler", "samples", "effect"), [("sobol", 8, "ST"), ("morris", 4, "mu_star")]
)
def test_a_parameter_with_no_effect_has_zero_indices(
    sampler: str, samples: int, effect: str, tmp_path: Path
) -> None:
    scenario = load_scenario("going_global")
    # the premise of this test: no provider in ROW within the sweep's months (a potential
    # entrant homed there may not enter before them)
    entrants = {s.provider.home for s in scenario.shocks if s.kind == "entry"}
    assert "ROW" not in {p.home for p in scenario.providers} | entrants
    waiting = [e for e in scenario.potential_entrants if e.provider.home == "ROW"]
    assert all(e.earliest_step > NO_EFFECT["steps"] for e in waiting)
    spec = write_spec(tmp_path, {**NO_EFFECT, "sampler": sampler, "samples": samples})
    out = tmp_path / "out"
    assert run_cli(["sweep", str(spec), "--out", str(out), "--executor", "serial"])[0] == 0
    code, _, err = run_cli(["analyze", str(out)])
    assert code == 0, err
    indices = pd.read_csv(out / "analysis" / f"{sampler}_indices.csv")
    assert (out / "analysis" / f"{sampler}_indices.png").exists()
    by = indices.set_index(["parameter", "outcome"])[effect]
    assert set(indices["outcome"]) >= {"hhi", "consumer_surplus", "token_share[low_price]"}
    assert (by.loc["electricity_ROW"].abs() < 1e-12).all()
    assert by.loc["switching_cost"].abs().max() > 0.05
