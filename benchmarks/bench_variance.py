"""What the allocation of agents buys: seed-to-seed spread with agents where the tokens are.

Run as `.venv/bin/python benchmarks/bench_variance.py` (about 2 minutes on 2 cores);
`--scenario`, `--developers`, `--seeds`, `--month` change the design.

Two populations of the same size, run over the same seeds:
- "proportional": agents per region x segment cell in proportion to developers
  (`TokenMarket.size_bias = 0`), every agent of equal weight;
- "by size" (the model's): agents drawn with probability proportional to their demand at
  the start, each weighted by the developers it stands for (`TokenMarket._draw_population`).
Both are unbiased samples of the same market, so their means must agree; the ratio of the
variances is what the allocation saves in seeds (a ratio of 4 is four times fewer seeds for
the same interval). Printed per outcome at `--month`: mean and sd under each, the variance
ratio, and the seeds for a 95 % half-width of one point (0.01; 1 % of the mean for the
price), n = (1.96 sd / h) ** 2.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from tokenmarket.model.market import TokenMarket


class ProportionalMarket(TokenMarket):
    """TokenMarket with agents in proportion to developers, all of weight one."""

    size_bias = 0.0


ALLOCATIONS = {"proportional": ProportionalMarket, "by size": TokenMarket}


def one_run(job: tuple[str, str, int, int, int]) -> list[dict]:
    """Outcomes of one (allocation, scenario, seed) at `month`, as tidy rows."""
    allocation, scenario, developers, seed, month = job
    model = ALLOCATIONS[allocation](scenario, rng=seed, n_developers=developers, steps=month)
    model.run_for(month)
    frame = model.provider_frame()
    shares = frame[frame["step"] == month].set_index("provider")["token_share"]
    values = {f"token_share[{name}]": v for name, v in shares.items()}
    values |= {"hhi": model.hhi, "mean_price_usd_per_mtok": model.mean_price_usd_per_mtok}
    values["cross_border_share"] = model.cross_border_share
    return [
        {"allocation": allocation, "seed": seed, "outcome": k, "value": v}
        for k, v in values.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="classroom")
    parser.add_argument("--developers", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--month", type=int, default=60)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    jobs = [
        (allocation, args.scenario, args.developers, seed, args.month)
        for allocation in ALLOCATIONS
        for seed in range(args.seeds)
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        frame = pd.DataFrame([row for rows in pool.map(one_run, jobs) for row in rows])
    stats = frame.groupby(["outcome", "allocation"])["value"].agg(["mean", "std"]).unstack()
    half_width = np.where(
        stats.index == "mean_price_usd_per_mtok", 0.01 * stats[("mean", "proportional")], 0.01
    )
    table = pd.DataFrame(
        {
            **{f"mean {a}": stats[("mean", a)] for a in ALLOCATIONS},
            **{f"sd {a}": stats[("std", a)] for a in ALLOCATIONS},
            "variance ratio": (stats[("std", "proportional")] / stats[("std", "by size")]) ** 2,
            **{
                f"seeds {a}": np.ceil((1.96 * stats[("std", a)] / half_width) ** 2).astype(int)
                for a in ALLOCATIONS
            },
        }
    )
    print(
        f"{args.scenario}, {args.developers:,} agents, month {args.month}, {args.seeds} seeds "
        f"each: {len(jobs)} runs in {time.perf_counter() - started:.0f} s, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    with pd.option_context("display.width", 200):
        print(table.round(4).to_string())


if __name__ == "__main__":
    main()
