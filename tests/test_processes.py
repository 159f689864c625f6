"""Process trees end with their owner (issue 16, defect 4).

Each test starts the command in its own session, so every process it starts (pool workers,
forkserver, resource tracker, Dask nannies and workers, the app's `solara run`) shares one
process group; it then kills the owner and checks that no member of the group survives.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sweep import (
    BIN,
    TOKENMARKET,
    assert_same_results,
    live_members,
    read_sweep,
    run_cli,
    wait_for_runs,
    write_spec,
)

from tokenmarket.runs import processes

# Runs of about a second each: the kill lands while workers are busy.
SLOW = {
    "name": "slow",
    "scenario": "classroom",
    "steps": 36,
    "replications": 40,
    "seed": 5,
    "fixed": {"n_developers": 2000},
}


def start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(TOKENMARKET), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def group_size(group: int) -> int:
    """Processes in the group now (the owner included)."""
    import psutil

    return sum(1 for p in psutil.process_iter() if _pgid(p.pid) == group)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_kill_9_of_the_sweep_driver_leaves_no_process(executor: str, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SLOW)
    out = tmp_path / "out"
    driver = start(
        ["sweep", str(spec), "--out", str(out), "--executor", executor, "--workers", "2"]
    )
    wait_for_runs(out, 1, driver, timeout=180)
    assert group_size(driver.pid) >= 4  # driver, 2 workers and at least one helper
    os.kill(driver.pid, signal.SIGKILL)  # the driver alone: its children are not told
    driver.wait()
    assert live_members(driver.pid, wait_s=30) == []


def test_sigterm_to_the_sweep_driver_stops_it_as_ctrl_c_does(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SLOW)
    out = tmp_path / "out"
    driver = start(["sweep", str(spec), "--out", str(out), "--workers", "2"])
    wait_for_runs(out, 1, driver, timeout=180)
    os.kill(driver.pid, signal.SIGTERM)
    _, err = driver.communicate(timeout=60)
    assert driver.returncode == 130, err
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    assert live_members(driver.pid) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_to_the_app_stops_its_server(tmp_path: Path) -> None:
    port = free_port()
    app = start(["app", "--port", str(port)])
    deadline = time.monotonic() + 120
    while True:
        assert app.poll() is None, app.communicate()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert time.monotonic() < deadline, "the app did not answer within 120 s"
        time.sleep(0.5)
    assert group_size(app.pid) >= 2  # `tokenmarket app` and its `solara run`
    os.kill(app.pid, signal.SIGTERM)
    app.communicate(timeout=60)
    assert live_members(app.pid) == []
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing serves the port any more


def test_a_watchdog_ends_its_process_when_the_driver_is_gone() -> None:
    """A stand-in driver starts a child that watches it, then dies; the child must exit."""
    child_code = (
        "import sys, time; from tokenmarket.runs import processes; "
        "processes.watch_driver(int(sys.argv[1])); time.sleep(60)"
    )
    driver_code = (
        "import subprocess, sys, os; "
        f"p = subprocess.Popen([sys.executable, '-c', {child_code!r}, str(os.getpid())]); "
        "print(p.pid, flush=True)"
    )
    driver = subprocess.run(
        [str(BIN / "python"), "-c", driver_code], capture_output=True, text=True, check=True
    )
    child = int(driver.stdout)
    deadline = time.monotonic() + 10 * processes.POLL_SECONDS + 10
    while processes.is_alive(child):
        assert time.monotonic() < deadline, "the watched child outlived its driver"
        time.sleep(0.2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_a_pool_worker_asks_to_die_with_its_parent() -> None:
    code = (
        "import ctypes, ctypes.util, signal; from tokenmarket.runs import processes; "
        "assert processes.die_with_parent(signal.SIGTERM); "
        "libc = ctypes.CDLL(ctypes.util.find_library('c')); s = ctypes.c_int(); "
        "libc.prctl(2, ctypes.byref(s), 0, 0, 0); print(s.value)"  # 2: PR_GET_PDEATHSIG
    )
    got = subprocess.run([str(BIN / "python"), "-c", code], capture_output=True, text=True)
    assert got.stdout.strip() == str(int(signal.SIGTERM)), got.stderr


def test_a_dead_worker_fails_only_its_own_run(tmp_path: Path) -> None:
    """kill -9 of one pool worker mid-sweep: one failed run, the rest done, resume restores it."""
    import psutil

    spec = write_spec(  # runs of a second or so: the kill lands inside one, not between two
        tmp_path, {**SLOW, "replications": 12, "steps": 60, "outputs": {"timeseries": True}}
    )
    reference = tmp_path / "serial"
    code, _, err = run_cli(["sweep", str(spec), "--out", str(reference), "--executor", "serial"])
    assert code == 0, err
    out = tmp_path / "out"
    driver = start(["sweep", str(spec), "--out", str(out), "--workers", "2"])
    wait_for_runs(out, 1, driver, timeout=180)
    workers = [  # the forkserver's children
        p
        for p in psutil.Process(driver.pid).children(recursive=True)
        if "forkserver" in " ".join(p.cmdline()) and p.parent().pid != driver.pid
    ]
    assert len(workers) == 2
    workers[0].kill()
    stdout, err = driver.communicate(timeout=300)
    assert driver.returncode == 1, err  # status 1: a run failed
    assert "12 of 12 runs done" not in stdout and "11 of 12 runs done, 1 failed" in stdout
    failed = json.loads((out / "manifest.json").read_text())["failures"]
    assert len(failed) == 1 and "its process died (status -9)" in failed[0]["error"]
    code, stdout, err = run_cli(["sweep", str(spec), "--out", str(out), "--resume"])
    assert code == 0, err
    assert "ran 1 in" in stdout
    assert_same_results(read_sweep(out), read_sweep(reference))
