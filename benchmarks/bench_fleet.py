"""Does a capacity vintage's lifetime set a run's memory or time? (issue 16, defect 2)

Run as `.venv/bin/python benchmarks/bench_fleet.py` (about 30 s). Each case builds
`going_global` with every provider's `amortization_months` set to LIFE and runs its 120
months, in a fresh subprocess (so peak RSS is the case's own); the baseline is LIFE = 48,
the scenario's own value, measured in the same run. Before the cohort fleet
(agents/fleet.py) one object per month of life made 10^8 reach 2.5 GB and 10^15 never end.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

LIVES = (48, 10_000, 100_000_000, 10**15)
SCENARIO = "going_global"


def measure(life: int) -> dict[str, float]:
    """Seconds to build and run the scenario, and the peak RSS, in this process."""
    from tokenmarket.model.market import TokenMarket
    from tokenmarket.model.scenario import load_scenario

    spec = load_scenario(SCENARIO)
    providers = [p.model_copy(update={"amortization_months": life}) for p in spec.providers]
    spec = spec.model_copy(update={"providers": providers})
    started = time.perf_counter()
    model = TokenMarket(spec, rng=1)
    for _ in range(spec.steps):
        model.step()
    seconds = time.perf_counter() - started
    capacity = float(model.provider_frame()["capacity_mtok"].sum())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"life": life, "seconds": seconds, "peak_rss_mb": peak_mb, "capacity": capacity}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(measure(args.case)))
        return
    rows = []
    for life in LIVES:
        done = subprocess.run(
            [sys.executable, __file__, "--case", str(life)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        rows.append(json.loads(done.stdout))
    base = rows[0]
    print(f"{SCENARIO}, its own horizon, one subprocess per lifetime (baseline: life = 48)")
    print(f"{'life (months)':>20} {'seconds':>8} {'x base':>7} {'peak RSS MB':>12} {'x base':>7}")
    for row in rows:
        print(
            f"{row['life']:>20,} {row['seconds']:>8.2f} "
            f"{row['seconds'] / base['seconds']:>7.2f} {row['peak_rss_mb']:>12.0f} "
            f"{row['peak_rss_mb'] / base['peak_rss_mb']:>7.2f}"
        )


if __name__ == "__main__":
    main()
