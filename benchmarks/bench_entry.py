"""What does entry by expected value cost a run? (issue 13)

Run as `.venv/bin/python benchmarks/bench_entry.py` (about a minute). Three cases of
`going_global`, its 120 months, best of `--repeats`, measured in the same run:
- baseline: no potential entrants (the seven incumbents);
- weighed: the pool, each candidate weighing entry every quarter, none entering (a sunk cost
  of 10^12 USD): the cost of the decision alone;
- as is: the pool entering as the scenario has it (a larger market after entry).
"""

from __future__ import annotations

import argparse
import time

from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import Scenario, load_scenario

SCENARIO = "going_global"


def cases() -> dict[str, Scenario]:
    """The three scenarios, by name."""
    spec = load_scenario(SCENARIO)
    never = [e.model_copy(update={"sunk_cost_usd": 1e12}) for e in spec.potential_entrants]
    return {
        "baseline": spec.model_copy(update={"potential_entrants": []}),
        "weighed": spec.model_copy(update={"potential_entrants": never}),
        "as is": spec,
    }


def seconds(spec: Scenario, developers: int) -> float:
    """Seconds to build and run the scenario's horizon once."""
    started = time.perf_counter()
    model = TokenMarket(spec, rng=1, n_developers=developers)
    model.run_for(spec.steps)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--developers", type=int, default=20_000)
    args = parser.parse_args()
    timed = {
        name: min(seconds(spec, args.developers) for _ in range(args.repeats))
        for name, spec in cases().items()
    }
    base = timed["baseline"]
    print(f"{SCENARIO}, {args.developers:,} developers, best of {args.repeats}")
    print(f"{'case':>10} {'seconds':>8} {'x base':>7}")
    for name, value in timed.items():
        print(f"{name:>10} {value:8.2f} {value / base:7.2f}")


if __name__ == "__main__":
    main()
