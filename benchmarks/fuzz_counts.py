"""Hostile input, counted (issue 16): tried / rejected cleanly / ran finite, per way in.

Every case the tests enumerate is fed again through the same door a user uses, and the
outcome is classified here, independently of what the test expects of it:

- rejected cleanly: exit status 2, one `error:` line on stderr naming the field, no
  traceback, nothing written (for keyword overrides: a ScenarioError whose message
  starts with the knob's name);
- ran finite: exit status 0 (or a model that runs) and every number written finite or a
  documented missing value (`MISSING_WHEN_UNDEFINED`);
- anything else is a defect, listed by name.

The last row draws scenarios inside the legal ranges (the property test's strategy,
`tests/test_input_fuzz.py`) with a chosen hypothesis seed and counts those that ran finite.

    .venv/bin/python benchmarks/fuzz_counts.py [--legal-examples 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tokenmarket import ScenarioError, TokenMarket
from tokenmarket.model.market import MISSING_WHEN_UNDEFINED
from tokenmarket.runs import cli

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

import test_calvano  # noqa: E402
import test_cli  # noqa: E402
import test_input_fuzz  # noqa: E402
import test_spec_mutations  # noqa: E402
import test_sweep  # noqa: E402


@dataclass
class Tally:
    """Outcomes of one way in."""

    name: str
    rejected: int = 0
    finite: int = 0
    defects: list[str] = field(default_factory=list)

    @property
    def tried(self) -> int:
        """Cases fed in."""
        return self.rejected + self.finite + len(self.defects)


def all_finite(frames: Iterable[pd.DataFrame]) -> bool:
    """Every number finite, except the documented missing values where undefined."""
    for frame in frames:
        numeric = frame.select_dtypes("number")
        missing = numeric.isna()
        allowed = [c for c in MISSING_WHEN_UNDEFINED if c in numeric]
        if missing.drop(columns=allowed).any().any():
            return False
        if not np.isfinite(numeric.astype(float).to_numpy()[~missing.to_numpy()]).all():
            return False
    return True


def cli_outcome(argv: list[str], field_name: str, out: Path) -> str:
    """'rejected', 'finite' or a short description of what went wrong."""
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli.main(argv)
    except BaseException as err:  # a traceback is exactly what is counted here
        return f"raised {type(err).__name__}"
    err = stderr.getvalue()
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 2:
        clean = (
            len(lines) == 1
            and lines[0].startswith("error:")
            and field_name in lines[0]
            and "Traceback" not in err
            and not out.exists()
        )
        return "rejected" if clean else f"exit 2 but not clean: {err.strip()[:100]!r}"
    if code == 0:
        frames = (pd.read_parquet(path) for path in sorted(out.rglob("*.parquet")))
        return "finite" if all_finite(frames) else "ran, with non-finite output"
    return f"exit {code}: {err.strip()[:100]!r}"


def count(name: str, cases: Iterable[tuple[str, Callable[[Path], str]]]) -> Tally:
    """Run each (label, case) in a fresh directory; tally its outcome."""
    tally = Tally(name)
    for label, case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            outcome = case(Path(tmp))
        if outcome == "rejected":
            tally.rejected += 1
        elif outcome == "finite":
            tally.finite += 1
        else:
            tally.defects.append(f"{label}: {outcome}")
    return tally


def scenario_case(path: str, value: Any) -> Callable[[Path], str]:
    def case(tmp: Path) -> str:
        scenario = tmp / "bad.toml"
        scenario.write_text(tomli_w.dumps(test_input_fuzz.mutated(path, value)))
        out = tmp / "out"
        argv = ["run", "--scenario", str(scenario), "--steps", "2", "--out", str(out)]
        return cli_outcome(argv, path, out)

    return case


def spec_case(spec: dict, field_name: str) -> Callable[[Path], str]:
    def case(tmp: Path) -> str:
        path = test_sweep.write_spec(tmp, spec)
        out = tmp / "out"
        argv = ["sweep", str(path), "--out", str(out), "--executor", "serial"]
        return cli_outcome(argv, field_name, out)

    return case


def spec_cases() -> Iterable[tuple[str, Callable[[Path], str]]]:
    """The spec mutations of test_spec_mutations and the bad specs of test_sweep."""
    for name, (base, edit, expected) in test_spec_mutations.MUTATIONS.items():
        spec = copy.deepcopy(base)
        edit(spec)
        yield name, spec_case(spec, expected.split(":")[0])
    for name, (change, field_name) in test_sweep.BAD_SPECS.items():
        yield name, spec_case({**test_sweep.SMALL, **change}, field_name.split(":")[0])


def command_case(argv: list[str], field_name: str) -> Callable[[Path], str]:
    def case(tmp: Path) -> str:
        (tmp / "malformed.toml").write_text('name = "x"\nsteps = [1,\n')
        out = tmp / "out"
        full = [a.format(tmp=tmp) for a in argv]
        if full[0] in ("run", "sweep"):
            full += ["--out", str(out)]
        return cli_outcome(full, field_name, out)

    return case


def command_cases() -> Iterable[tuple[str, Callable[[Path], str]]]:
    """Bad options and values of `run`, `run --set`, `sweep` and `calvano`."""
    for name, (args, field_name) in test_cli.BAD_ARGUMENTS.items():
        yield f"run {name}", command_case(["run", *args], field_name)
    for setting, message in test_input_fuzz.BAD_SETS:
        argv = ["run", "--scenario", "classroom", "--set", setting]
        yield f"run --set {setting}", command_case(argv, message.split(":")[0])
    for name, (options, field_name) in test_sweep.BAD_OPTIONS.items():
        yield f"sweep {name}", sweep_option_case(options, field_name)
    for argv, field_name in test_calvano.BAD_OPTIONS:
        yield f"calvano {' '.join(argv)}", command_case(["calvano", *argv], field_name)


def sweep_option_case(options: list[str], field_name: str) -> Callable[[Path], str]:
    def case(tmp: Path) -> str:
        path = test_sweep.write_spec(tmp, test_sweep.SMALL)
        out = tmp / "out"
        return cli_outcome(["sweep", str(path), "--out", str(out), *options], field_name, out)

    return case


def override_case(knob: str, value: Any) -> Callable[[Path], str]:
    def case(_: Path) -> str:
        try:
            model = TokenMarket("classroom", rng=0, **{"n_developers": 120, knob: value})
            with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                model.run_for(3)
        except ScenarioError as err:
            return "rejected" if str(err).startswith(f"{knob}:") else f"message {err}"
        except Exception as err:
            return f"raised {type(err).__name__}: {err}"[:120]
        return "finite" if all_finite([model.provider_frame(), model.market_frame()]) else "NaN"

    return case


def legal_draws(examples: int, hypothesis_seed: int) -> Tally:
    """The property test's body on `examples` scenarios drawn inside the legal ranges."""
    tally = Tally("scenarios drawn in the legal ranges")
    body = test_input_fuzz.test_any_legal_scenario_runs_with_finite_outputs.hypothesis.inner_test

    @seed(hypothesis_seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.fixed_dictionaries({}, optional=test_input_fuzz.LEGAL), st.integers(0, 2**32))
    def counted(changes: dict[str, Any], model_seed: int) -> None:
        try:
            body(changes, model_seed)
        except Exception as err:
            tally.defects.append(f"{changes} seed {model_seed}: {type(err).__name__}: {err}")
        else:
            tally.finite += 1

    counted()
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--legal-examples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed of the draws")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tallies = [
        count(
            "scenario mutations (run --scenario)",
            ((f"{p}={v!r}", scenario_case(p, v)) for p, v in test_input_fuzz.MUTATIONS),
        ),
        count("spec mutations (sweep)", spec_cases()),
        count("CLI values (run, --set, sweep, calvano)", command_cases()),
        count(
            "keyword overrides (TokenMarket(**knobs))",
            ((f"{k}={v!r}", override_case(k, v)) for k, v in test_input_fuzz.BAD_OVERRIDES),
        ),
        legal_draws(args.legal_examples, args.seed),
    ]
    width = max(len(t.name) for t in tallies)
    header = f"{'tried':>6} {'rejected cleanly':>17} {'ran finite':>11} {'other':>6}"
    print(f"{'way in':<{width}}  {header}")
    for t in tallies:
        print(
            f"{t.name:<{width}}  {t.tried:>6} {t.rejected:>17} {t.finite:>11} {len(t.defects):>6}"
        )
    for t in tallies:
        for defect in t.defects:
            print(f"  defect in {t.name}: {defect}")
    print(f"({time.perf_counter() - started:.0f} s; legal draws: hypothesis seed {args.seed})")
    return 1 if any(t.defects for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
