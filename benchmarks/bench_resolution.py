"""Where going_global's resolution drift comes from: runs split by an early shortage.

Run as `.venv/bin/python benchmarks/bench_resolution.py` (about a minute on 2 cores);
`--design 2000:16,40000:8` sets the resolutions (developer agents) and seeds per resolution,
`--first`/`--last` the window (months, default 2025: 13-24).

Per resolution it prints the window's Chinese share of tokens, HHI and served-weighted mean
price (mean and standard error over seeds), the effective number of agents behind each
incumbent's demand at the window's last month ((sum d) ** 2 / sum d ** 2 over its customers)
and the same outcomes split by whether a US lab (the multi-tier `differentiation` firms)
posted a scarcity premium by month 2, i.e. was short of capacity at the start or in month 1
(docs/variance.md, "Since model tiers").
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from tokenmarket.model import metrics
from tokenmarket.model.market import TokenMarket

LABS = ("us_frontier_lab", "us_challenger_lab")


def one_run(job: tuple[int, int, int, int]) -> dict:
    """Window outcomes, early shortage and effective customers of one run."""
    n, seed, first, last = job
    model = TokenMarket("going_global", rng=seed, n_developers=n, steps=last)
    model.run_for(last)
    recorded = model.datacollector.model_vars
    window = slice(first - 1, last)
    flows = np.array(recorded["flows_mtok"][window]).sum(axis=0)
    served = np.array(recorded["total_served_mtok"][window])
    frame = model.provider_frame()
    early = frame[(frame["step"] <= 2) & frame["provider"].isin(LABS)]
    pop = model.population
    chosen = model.chosen_provider()
    d = model._developer_demand_mtok(pop.choice)
    effective = {}
    for p in model.provider_list:
        if p.entry_step == 0:
            mine = d[chosen == p.index]
            effective[p.name] = mine.sum() ** 2 / (mine**2).sum() if mine.size else 0.0
    return {
        "n": n,
        "seed": seed,
        "cn_token_share": metrics.home_share(flows, model.spec.region_names.index("CN")),
        "hhi": float(np.mean(recorded["hhi"][window])),
        "mean_price": float(
            np.average(np.array(recorded["mean_price_usd_per_mtok"][window]), weights=served)
        ),
        "lab_short_early": bool((early["scarcity_premium"] > 1.0).any()),
        **{f"eff_{k}": v for k, v in effective.items()},
    }


def main() -> None:
    """Run the design and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--design", default="2000:16,40000:8")
    parser.add_argument("--first", type=int, default=13)
    parser.add_argument("--last", type=int, default=24)
    args = parser.parse_args()
    jobs = [
        (int(n), seed, args.first, args.last)
        for n, k in (part.split(":") for part in args.design.split(","))
        for seed in range(int(k))
    ]
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        runs = pd.DataFrame(pool.map(one_run, jobs))
    outcomes = ["cn_token_share", "hhi", "mean_price"]
    summary = runs.groupby("n")[outcomes].agg(["mean", "sem"])
    print("Months", args.first, "to", args.last, ": mean and standard error over seeds")
    print(summary.round(4).to_string())
    eff = [c for c in runs if c.startswith("eff_")]
    print("\nEffective agents behind each incumbent's demand, month", args.last)
    print(runs.groupby("n")[eff].mean().round(0).rename(columns=lambda c: c[4:]).T.to_string())
    print("\nSplit by a US lab short of capacity by month 2 (seeds, means)")
    split = runs.groupby(["n", "lab_short_early"])[outcomes].agg(["mean", "count"])
    print(split.round(4).to_string())


if __name__ == "__main__":
    main()
