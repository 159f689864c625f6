"""Speed of the Calvano et al. (2020) Q-learning kernel: compiled vs the same code uncompiled.

1. Periods per second of `model.qlearning.learn` at the paper's baseline, compiled by numba,
   against the very same function run by the Python interpreter on numpy arrays (a child
   process with NUMBA_DISABLE_JIT=1: no second copy of the algorithm). Both start from the
   same seed; the interpreted run's Q table must equal the compiled one's bit for bit.
2. Sessions of the paper's baseline (alpha 0.15, beta 4e-6, until convergence) on 2 worker
   processes: measured for --sessions; the paper's 1,000 projected from it, and from the
   CPU time per period of 1. for 2 otherwise idle cores.

The machine is shared: CPU seconds (process time) are reported next to wall time.

    .venv/bin/python benchmarks/bench_calvano.py [--sessions 100] [--periods 2000000]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tokenmarket.model import qlearning
from tokenmarket.runs import calvano
from tokenmarket.runs.executors import ProcessExecutor

SEED = 12345
WORKERS = 2
PAPER_SESSIONS = 1_000


def timed_learn(periods: int) -> tuple[np.ndarray, float]:
    """Run `periods` baseline periods (no convergence stop); Q and CPU seconds."""
    shared = calvano.setup(calvano.Game())
    q = qlearning.initial_q(shared.profits, shared.game.grid_points, shared.game.delta)
    greedy = qlearning.greedy_actions(q)
    started = time.process_time()
    qlearning.learn(
        q, greedy, shared.profits, calvano.ALPHA, calvano.BETA, shared.game.delta,
        periods + 1, periods, np.random.default_rng(SEED),
    )  # fmt: skip
    return q, time.process_time() - started


def interpreted(periods: int, out: Path) -> float:
    """The same `learn`, uncompiled, in a child process; its Q saved to `out`, CPU seconds."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(periods), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.split()[-1])


def sessions_on_pool(count: int) -> tuple[float, float, list[calvano.SessionResult]]:
    """Wall seconds (pool start excluded) and mean periods of `count` baseline sessions."""
    tasks = calvano.sessions(calvano.Game(), count, SEED)
    calvano.warm_up()
    with ProcessExecutor(WORKERS) as pool:
        started = time.perf_counter()
        results = [done.value for done in pool.run(calvano.run_session, tasks)]
        wall = time.perf_counter() - started
    return wall, float(np.mean([r.periods for r in results])), results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, default=100, help="baseline sessions to time")
    parser.add_argument("--periods", type=int, default=2_000_000, help="compiled periods")
    parser.add_argument("--interpreted-periods", type=int, default=50_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        q, cpu = timed_learn(int(args.child[0]))
        np.save(args.child[1], q)
        print(cpu)
        return 0

    print(f"bench_calvano: {os.cpu_count()} cores, load average {os.getloadavg()}")
    timed_learn(10)  # compile (or load numba's cache) outside the timing
    _, compiled_s = timed_learn(args.periods)
    small_q, _ = timed_learn(args.interpreted_periods)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "q.npy"
        interpreted_s = interpreted(args.interpreted_periods, out)
        identical = np.array_equal(np.load(out), small_q)
    compiled_rate = args.periods / compiled_s
    interpreted_rate = args.interpreted_periods / interpreted_s
    print("\n1. One baseline session's periods (2 firms, 15 prices), CPU time")
    print(f"   {'loop':<34} {'periods':>10} {'CPU s':>8} {'periods/s':>12} {'ns/period':>10}")
    for label, periods, seconds in (
        ("numba (model.qlearning.learn)", args.periods, compiled_s),
        ("same code, interpreted (numpy)", args.interpreted_periods, interpreted_s),
    ):
        print(
            f"   {label:<34} {periods:>10,} {seconds:>8.2f} {periods / seconds:>12,.0f} "
            f"{seconds / periods * 1e9:>10.0f}"
        )
    print(
        f"   speed-up {compiled_rate / interpreted_rate:,.0f}x; Q tables after "
        f"{args.interpreted_periods:,} periods identical bit for bit: "
        f"{'yes' if identical else 'NO'}"
    )

    wall, periods_mean, results = sessions_on_pool(args.sessions)
    per_session = wall / args.sessions
    gains = [r.profit_gain for r in results]
    print(f"\n2. Baseline sessions to convergence on {WORKERS} worker processes")
    print(
        f"   {args.sessions} sessions: {wall:.1f} s wall ({per_session:.2f} s per session), "
        f"{periods_mean:,.0f} periods per session on average, Delta mean {np.mean(gains):.3f}"
    )
    print(
        f"   the paper's {PAPER_SESSIONS:,} sessions: {per_session * PAPER_SESSIONS / 60:.1f} "
        f"min projected ({per_session * PAPER_SESSIONS:,.0f} s)"
    )
    idle = compiled_s / args.periods * periods_mean * PAPER_SESSIONS / WORKERS
    print(
        f"   on {WORKERS} otherwise idle cores (CPU s per period above x periods per session x "
        f"{PAPER_SESSIONS:,} / {WORKERS}): {idle / 60:.1f} min (a projection, not a measurement)"
    )
    print(f"   load average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
