"""The `tokenmarket` command: run a scenario, sweep many runs, analyze a sweep, list scenarios.

Input is checked at the edge: a bad option, file or scenario value prints one line
`error: <field>: <what is allowed>` on stderr and exits with status 2, before anything is
written. Results are built in memory, then each file is written under a temporary name in
the output directory and moved into place, so an interrupted or failed run leaves no
half-written output behind.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from tokenmarket.model.errors import ScenarioError
from tokenmarket.model.parameters import unknown_knob
from tokenmarket.model.scenario import describe_builtins
from tokenmarket.runs.executors import ExecutorError
from tokenmarket.runs.store import StoreError, staging_path, sync_into_place
from tokenmarket.runs.sweep import LARGE_SWEEP_RUNS, SpecError, builtin_specs

if TYPE_CHECKING:
    import pandas as pd

    from tokenmarket.model.parameters import Knob
    from tokenmarket.model.schema import Scenario
    from tokenmarket.runs.analysis import AnalysisReport
    from tokenmarket.runs.calvano import Game
    from tokenmarket.runs.sweep import Sweep

# pandas, mesa (via the model) and seaborn are imported where a run needs them, so that
# `tokenmarket scenarios`, `--help` and input errors answer in a fraction of a second.

DEFAULT_SCENARIO = "going_global"
RESULTS_ROOT = Path("results")
EXIT_USAGE = 2
EXIT_FAILED_RUNS = 1
EXIT_INTERRUPTED = 130
EXECUTORS = ("serial", "processes", "dask")
INPUT_ERRORS = (ScenarioError, SpecError, StoreError, ExecutorError)
"""Errors in what the user gave (a value, a file, a directory, an address): status 2."""


class UsageError(Exception):
    """A value the user gave that cannot be used; the message names the field."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one `error:` line (the house format), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-parser per command, each added by its own function."""
    parser = _Parser(
        prog="tokenmarket",
        description="Agent-based model of the global market for LLM API tokens.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="run one scenario and write its results",
        description="Run one scenario and write Parquet frames, a figure and the scenario.",
    )
    run.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIO,
        metavar="NAME|PATH",
        help=f"a built-in name (see `tokenmarket scenarios`) or a TOML file "
        f"(default: {DEFAULT_SCENARIO})",
    )
    run.add_argument(
        "--steps", type=int, metavar="N", help="months to run (default: the scenario's `steps`)"
    )
    run.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    run.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output directory (default: results/<scenario name>)",
    )
    run.add_argument(
        "--developers",
        type=int,
        metavar="N",
        help="number of developer agents (default: the scenario's `n_developers`)",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="set a knob (repeatable), typed by the knob: see `tokenmarket knobs`",
    )
    run.set_defaults(handler=_run)
    scenarios = sub.add_parser(
        "scenarios", help="list the built-in scenarios", description="List the built-in scenarios."
    )
    scenarios.set_defaults(handler=_scenarios)
    _add_knobs(sub)
    _add_strategies(sub)
    _add_sweep(sub)
    _add_analyze(sub)
    _add_discover(sub)
    _add_validate(sub)
    _add_app(sub)
    _add_calvano(sub)
    _add_explain(sub)
    return parser


def _add_knobs(sub: argparse._SubParsersAction) -> None:
    knobs = sub.add_parser(
        "knobs",
        help="list a scenario's knobs: unit, bounds or choices, default, meaning",
        description="List every knob that `run --set`, sweep specs and TokenMarket(**overrides) "
        "accept for a scenario, with its unit, bounds or choices and its default there.",
    )
    knobs.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIO,
        metavar="NAME|PATH",
        help=f"a built-in name or a TOML file (default: {DEFAULT_SCENARIO})",
    )
    knobs.add_argument("--json", action="store_true", help="a JSON list, for machines")
    knobs.set_defaults(handler=_knobs)


def _add_strategies(sub: argparse._SubParsersAction) -> None:
    strategies = sub.add_parser(
        "strategies",
        help="list the installed strategies, their parameters and classifiers",
        description="List every strategy found in the `tokenmarket.strategies` entry-point "
        "group: its parameters (unit, default, bounds) and what it reads.",
    )
    strategies.add_argument("--json", action="store_true", help="a JSON list, for machines")
    strategies.set_defaults(handler=_strategies)


def _add_validate(sub: argparse._SubParsersAction) -> None:
    validate = sub.add_parser(
        "validate",
        help="check going_global against real-market patterns",
        description="Measure each pattern of runs/validation/patterns.toml over seeds: target "
        "band and source, the model's mean and 95%% interval, met or missed; then the two cost "
        "views side by side.",
    )
    validate.add_argument(
        "--seeds", type=int, default=10, metavar="N", help="seeds to average over (default: 10)"
    )
    validate.set_defaults(handler=_validate)


def _add_app(sub: argparse._SubParsersAction) -> None:
    app = sub.add_parser(
        "app",
        help="serve the classroom app (Mesa SolaraViz) in the browser",
        description="Serve the classroom app until Ctrl-C; it needs no internet.",
    )
    app.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1)")
    app.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    app.set_defaults(handler=_app)


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="run a sweep spec: many runs over parameters and seeds, stored as they finish",
        description="Run every run of a sweep spec (TOML) and store each as it finishes, one "
        "Parquet file per run. Interrupted (Ctrl-C, a crash), it continues with --resume.",
    )
    sweep.add_argument(
        "spec",
        type=Path,
        metavar="SPEC",
        help=f"a sweep spec (TOML file), or a built-in one: {', '.join(builtin_specs())}",
    )
    sweep.add_argument(
        "--out", type=Path, metavar="DIR", help="sweep directory (default: results/<spec name>)"
    )
    sweep.add_argument(
        "--executor",
        choices=EXECUTORS,
        metavar="{serial,processes,dask}",
        help="where runs execute (default: processes; dask with --scheduler)",
    )
    sweep.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes for processes or a dask LocalCluster (default: all cores)",
    )
    sweep.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler, e.g. tcp://HOST:8786 (implies --executor dask)",
    )
    sweep.add_argument(
        "--resume",
        action="store_true",
        help="continue the sweep in --out: run exactly the runs not stored yet",
    )
    sweep.add_argument(
        "--yes",
        action="store_true",
        help=f"start a sweep of more than {LARGE_SWEEP_RUNS:,} runs (shown with its time first)",
    )
    sweep.add_argument(
        "--until-halfwidth",
        type=float,
        metavar="X",
        help="add seeds, only where needed, until each point's 95%% CI of --outcome is <= +-X "
        "(in the outcome's units; needs --max-reps)",
    )
    sweep.add_argument(
        "--max-reps", type=int, metavar="N", help="with --until-halfwidth: at most N seeds a point"
    )
    _add_outcome(sweep)
    sweep.set_defaults(handler=_sweep)


def _add_outcome(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--outcome",
        default="token_share",
        metavar="NAME",
        help="the outcome a half-width is about: a strategy outcome (token_share, profit_usd, "
        "...) or a market one (hhi, mean_price_usd_per_mtok, ...); default token_share",
    )


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    analyze = sub.add_parser(
        "analyze",
        help="tables, sensitivity indices and figures of a stored sweep",
        description="Summarize a sweep directory: mean and 95% CI per design point and "
        "strategy, Sobol or Morris indices, figures; written into DIR/analysis/.",
    )
    analyze.add_argument("dir", type=Path, metavar="DIR", help="a directory written by `sweep`")
    analyze.add_argument(
        "--halfwidth",
        type=float,
        metavar="X",
        help="also give, per point, the replications a 95%% CI of +-X needs (outcome's units)",
    )
    _add_outcome(analyze)
    analyze.add_argument(
        "--focal",
        metavar="PROVIDER",
        help="compare this provider's strategies run by run (paired on seeds); default: the "
        "provider whose strategy the spec varies, if only one's",
    )
    analyze.set_defaults(handler=_analyze)


def _add_discover(sub: argparse._SubParsersAction) -> None:
    discover = sub.add_parser(
        "discover",
        help="scenario discovery: where in parameter space an outcome condition holds",
        description="PRIM boxes (EMA workbench) and a shallow decision tree over the runs of a "
        "sweep: which parameter values make OUTCOME CONDITION hold, with each box's coverage "
        "and density; a table and a figure into DIR/analysis/. Needs the `discover` extra.",
    )
    discover.add_argument("dir", type=Path, metavar="SWEEP_DIR", help="a directory of `sweep`")
    discover.add_argument(
        "--outcome",
        required=True,
        metavar="NAME",
        help="a market outcome (hhi), a strategy's (token_share[low_price]), a provider's "
        "(token_share@cn_lowcost) or a custom outcome of the spec",
    )
    discover.add_argument(
        "--condition",
        required=True,
        metavar="EXPR",
        help="which runs are cases of interest: an operator and a number, e.g. '< 0.3'",
    )
    discover.add_argument(
        "--min-density",
        type=float,
        metavar="D",
        help="the density a PRIM box must reach, between 0 and 1 (default: 0.8)",
    )
    discover.set_defaults(handler=_discover)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn user errors into one line and status 2."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already printed by the parser
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    try:
        return args.handler(args)
    except (UsageError, *INPUT_ERRORS) as err:
        message = " ".join(str(err).split())
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED


# --------------------------------------------------------------------------- scenarios
def _scenarios(args: argparse.Namespace) -> int:
    """Print each built-in scenario's name and description, one a line."""
    described = describe_builtins()
    width = max(map(len, described))
    for name, description in described.items():
        print(f"{name:<{width}}  {description}")
    return 0


def _knobs(args: argparse.Namespace) -> int:
    """Print the scenario's knobs as a table, or as JSON."""
    from tokenmarket.model.scenario import knobs_of

    rows = [k.describe() for k in knobs_of(args.scenario).values()]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        allowed = (
            " | ".join(row["choices"]) if "choices" in row else f"{row['low']:g} .. {row['high']:g}"
        )
        unit = f" {row['unit']}" if row["unit"] and "choices" not in row else ""
        print(f"{row['name']}  = {row['default']!r}  [{allowed}{unit}]  {row['doc']}")
    return 0


def _strategies(args: argparse.Namespace) -> int:
    """Print each installed strategy, what it reads, and its parameters."""
    from tokenmarket.agents.strategies import registry

    described = [registry.describe(name) for name in registry.names()]
    if args.json:
        print(json.dumps(described, indent=1))
        return 0
    for strategy in described:
        reads = ", ".join(k for k, v in strategy["classifier"].items() if v) or "nothing else"
        print(f"{strategy['name']}: {strategy['doc']}\n  classifier: {reads}")
        for p in strategy["params"]:
            print(
                f"  {p['name']} = {p['default']!r}  [{p['low']:g} .. {p['high']:g} {p['unit']}]"
                f"  {p['doc']}"
            )
    return 0


# --------------------------------------------------------------------------- run
def _settings(pairs: Sequence[str], table: Mapping[str, Knob]) -> dict[str, object]:
    """`--set KNOB=VALUE` pairs, each value parsed by its knob's kind."""
    settings: dict[str, object] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--set: expected KNOB=VALUE (got {pair!r})")
        if name not in table:
            raise UsageError(f"--set: {unknown_knob(name, list(table))}")
        kind = table[name].parameter.kind
        try:
            value: object = {"real": float, "integer": int, "categorical": str}[kind](text)
        except ValueError:
            raise UsageError(f"--set: {name}: must be {_KIND_WORDS[kind]} (got {text!r})") from None
        try:
            settings[name] = table[name].check(value)
        except ScenarioError as err:
            raise UsageError(f"--set: {err}") from None
    return settings


_KIND_WORDS = {"real": "a number", "integer": "an integer", "categorical": "a name"}


def _run(args: argparse.Namespace) -> int:
    """Validate, build, run, then write the outputs and print the summary."""
    from tqdm import tqdm

    from tokenmarket.model.market import TokenMarket

    _check_options(args)
    if args.out is not None:
        _check_out(args.out)
    overrides = {} if args.developers is None else {"n_developers": args.developers}
    if args.set:
        from tokenmarket.model.scenario import knobs_of

        overrides |= _settings(args.set, knobs_of(args.scenario))
    model = TokenMarket(args.scenario, rng=args.seed, **overrides)
    out = args.out if args.out is not None else RESULTS_ROOT / _safe_name(model.spec.name)
    _check_out(out)
    steps = args.steps if args.steps is not None else model.spec.steps

    for _ in tqdm(range(steps), desc=model.spec.name, unit="month", disable=None):
        model.step()

    providers, market, flows = model.provider_frame(), model.market_frame(), model.flow_frame()
    segments, products = model.segment_frame(), model.product_frame()
    figure, segment_figure = _figure_png(model.spec, providers, segments)
    report = summary(
        model.spec.name,
        args.seed,
        model.spec.n_developers,
        providers,
        market,
        flows,
        model.turnover_frame(),
    )
    rate = model.spec.market.discount_rate_per_year
    report += (
        f"\n\nNPV: profits discounted at {rate:.0%} a year (market.discount_rate_per_year), "
        "summed from month 1."
    )
    outputs = {
        "providers.parquet": _parquet_writer(providers),
        "market.parquet": _parquet_writer(market),
        "flows.parquet": _parquet_writer(flows),
        "segments.parquet": _parquet_writer(segments),
        "products.parquet": _parquet_writer(products),
        "sites.parquet": _parquet_writer(model.site_frame()),
        "site_flows.parquet": _parquet_writer(model.site_flow_frame()),
        "market_share.png": _bytes_writer(figure),
        "segment_share.png": _bytes_writer(segment_figure),
        "scenario.toml": _bytes_writer(model.spec.to_toml().encode()),
    }
    _write_outputs(out, outputs)
    print(report)
    print(f"\nwrote {out}/: {' '.join(outputs)}")
    print(
        f"next: open {out}/market_share.png, or compare strategies over seeds with "
        "`tokenmarket sweep strategy_vs_energy`"
    )
    return 0


def _check_options(args: argparse.Namespace) -> None:
    """Option values argparse cannot check by type alone."""
    if args.seed < 0:
        raise UsageError(f"--seed: must be an integer >= 0 (got {args.seed})")
    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps: must be a whole number of months >= 1 (got {args.steps})")
    if args.developers is not None and args.developers < 1:
        raise UsageError(f"--developers: must be an integer >= 1 (got {args.developers})")


def _check_out(out: Path) -> None:
    """The output directory must be a directory, or creatable under a writable directory."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {str(out)!r} is an existing file; give a directory")
    parent = out
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"--out: {str(parent)!r} is a file, so {str(out)!r} cannot be created")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out: {str(parent)!r} is not writable")
    _probe_writable(out if out.exists() else parent, out)


def _probe_writable(directory: Path, out: Path) -> None:
    """Create and remove a directory in `directory`: the only sure test of writability.

    os.access answers for permissions only; for root it says yes to /proc, /sys or a
    read-only mount, where creating anything still fails.
    """
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(prefix=".probe-", dir=directory))
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UsageError(f"--out: cannot create {str(out)!r} ({reason})") from None


def _safe_name(name: str) -> str:
    """A scenario name usable as one path component (names come from user TOML files)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "custom"


# --------------------------------------------------------------------------- sweep
def _sweep(args: argparse.Namespace) -> int:
    """Validate spec, options and directory, then run the sweep and report."""
    from tokenmarket.runs.executors import default_workers, make_executor
    from tokenmarket.runs.processes import sigterm_as_interrupt
    from tokenmarket.runs.store import SweepStore
    from tokenmarket.runs.sweep import check_size, load_spec, run_sweep

    kind = _check_sweep_options(args)
    sweep = load_spec(args.spec)
    if args.until_halfwidth is not None:
        return _sweep_adaptive(args, kind, sweep)
    if args.max_reps is not None:
        raise UsageError("--max-reps: only with --until-halfwidth X")
    out = args.out if args.out is not None else RESULTS_ROOT / _safe_name(sweep.name)
    _check_out(out)
    if not args.resume:
        parallel = 1 if kind == "serial" else args.workers or default_workers()
        if (large := check_size(sweep, parallel, confirmed=args.yes)) is not None:
            print(large)
    executor = make_executor(
        kind,
        args.workers,
        args.scheduler,
        key_prefix=f"{_safe_name(sweep.name)}-{sweep.spec_hash()[:8]}",
    )
    points, replications = sweep.design.n_points, sweep.spec.replications
    print(
        f"sweep {sweep.name}: {sweep.n_runs} runs ({points} points x {replications} "
        f"replication{'s' * (replications != 1)}) on {executor.description} -> {out}"
    )
    try:
        with sigterm_as_interrupt():  # SIGTERM stops the workers and keeps the store, as Ctrl-C
            result = run_sweep(sweep, out, executor, resume=args.resume)
    except KeyboardInterrupt:
        if not (out / "manifest.json").exists():
            print("interrupted: nothing written", file=sys.stderr)
        else:
            stored = sum(1 for _ in SweepStore(out).done_ids())
            print(
                f"interrupted: {stored} of {sweep.n_runs} runs stored in {out}; continue with "
                f"`tokenmarket sweep {args.spec} --out {out} --resume`",
                file=sys.stderr,
            )
        return EXIT_INTERRUPTED
    rate = result.ran / result.seconds * 60 if result.seconds > 0 else 0.0
    print(
        f"{result.done} of {result.total} runs done, {len(result.failed)} failed "
        f"(ran {result.ran} in {result.seconds:.1f} s, {rate:.0f} runs/min)"
    )
    for failure in result.failed[:5]:
        print(
            f"  failed run {failure['run_id']} (seed {failure['seed']}, "
            f"{failure['parameters']}): {failure['error']}"
        )
    if len(result.failed) > 5:
        print(f"  ... and {len(result.failed) - 5} more: see {out / 'manifest.json'}")
    if result.failed:
        print(f"run the failed runs again with: tokenmarket sweep {args.spec} --out {out} --resume")
    print(
        f"wrote {out}/: manifest.json runs/ summary.parquet"
        + (" timeseries/" if sweep.spec.outputs.timeseries else "")
    )
    print(f"next: tokenmarket analyze {out}")
    return EXIT_FAILED_RUNS if result.failed else 0


def _check_sweep_options(args: argparse.Namespace) -> str:
    """The executor to use, after checking the options that go together."""
    kind = args.executor or ("dask" if args.scheduler else "processes")
    if args.scheduler is not None and kind != "dask":
        raise UsageError(f"--scheduler: a scheduler address needs --executor dask (got {kind})")
    if args.scheduler is not None and not re.fullmatch(r"[a-z]+://\S+:\d+", args.scheduler):
        raise UsageError(
            f"--scheduler: expected an address like tcp://HOST:8786 (got {args.scheduler!r})"
        )
    if args.workers is not None:
        if args.workers < 1:
            raise UsageError(f"--workers: must be an integer >= 1 (got {args.workers})")
        if kind == "serial":
            raise UsageError("--workers: the serial executor runs one run at a time; drop it")
        if args.scheduler is not None:
            raise UsageError("--workers: a running Dask cluster has its own workers; drop it")
    return kind


def _check_outcome(name: str) -> None:
    from tokenmarket.runs.analysis import MARKET_OUTCOMES, STRATEGY_OUTCOMES

    known = [*STRATEGY_OUTCOMES, *MARKET_OUTCOMES]
    if name not in known:
        raise UsageError(f"--outcome: unknown outcome {name!r}; one of {', '.join(known)}")


def _check_halfwidth(option: str, value: float) -> None:
    if not value > 0:
        raise UsageError(f"{option}: must be a number > 0 (got {value})")


def _sweep_adaptive(args: argparse.Namespace, kind: str, sweep: Sweep) -> int:
    """`sweep --until-halfwidth X --max-reps N`: seeds added where the CI is still too wide."""
    from tokenmarket.runs.executors import make_executor
    from tokenmarket.runs.sweep import adaptive_sweep, run_adaptive

    _check_halfwidth("--until-halfwidth", args.until_halfwidth)
    _check_outcome(args.outcome)
    least = max(2, sweep.spec.replications)
    if args.max_reps is None or args.max_reps < least:
        raise UsageError(
            f"--max-reps: --until-halfwidth needs --max-reps N with N >= {least} (the spec's "
            f"replications, at least 2; got {args.max_reps})"
        )
    out = args.out if args.out is not None else RESULTS_ROOT / _safe_name(sweep.name)
    _check_out(out)
    full = adaptive_sweep(sweep, args.max_reps)
    executor = make_executor(
        kind, args.workers, args.scheduler, key_prefix=f"{_safe_name(sweep.name)}-adaptive"
    )
    print(
        f"sweep {sweep.name}: {sweep.design.n_points} points, {least} to {args.max_reps} "
        f"replications each until the 95% CI of {args.outcome} is <= +-{args.until_halfwidth:g}"
        f" on {executor.description} -> {out}"
    )
    try:
        result = run_adaptive(
            sweep,
            out,
            executor,
            halfwidth=args.until_halfwidth,
            max_reps=args.max_reps,
            outcome=args.outcome,
            resume=args.resume,
        )
    except KeyboardInterrupt:
        print(
            f"interrupted: continue with `tokenmarket sweep {args.spec} --out {out} "
            f"--until-halfwidth {args.until_halfwidth:g} --max-reps {args.max_reps} --resume`",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    points = result.points
    print(
        f"{int(points['replications'].sum())} of {full.n_runs} possible runs in "
        f"{result.rounds} rounds; {int(points['done'].sum())} of {len(points)} points within "
        f"+-{args.until_halfwidth:g}"
        + ("" if points["done"].all() else f" (the others reached --max-reps {args.max_reps})")
    )
    print(f"next: tokenmarket analyze {out} --halfwidth {args.until_halfwidth:g}")
    return EXIT_FAILED_RUNS if result.last.failed else 0


# --------------------------------------------------------------------------- analyze
def _analyze(args: argparse.Namespace) -> int:
    """Write the analysis of a sweep and print its main table."""
    if not args.dir.is_dir():
        raise UsageError(f"DIR: {str(args.dir)!r} is not a directory written by `sweep`")
    from tokenmarket.runs.analysis import AnalysisError, analyze, indices_lines, paired_lines

    if args.halfwidth is not None:
        _check_halfwidth("--halfwidth", args.halfwidth)
        _check_outcome(args.outcome)
    try:
        report = analyze(args.dir, halfwidth=args.halfwidth, focal=args.focal)
    except AnalysisError as err:
        raise UsageError(str(err)) from None
    if report.indices is not None and not report.indices.empty:
        print(indices_lines(report.indices, report.sampler))
    elif report.paired is not None and report.focal is not None:
        print(paired_lines(report.paired, report.focal))
    elif report.strategies is not None:
        print(share_table(report.strategies))
    if args.halfwidth is not None and report.strategies is not None:
        print(plan_table(report, args.outcome, args.halfwidth))
    for note in report.notes:
        print(f"note: {note}")
    if report.written:
        folder = report.written[0].parent
        print(f"\nwrote {folder}/: " + " ".join(p.name for p in report.written))
    return 0


def _discover(args: argparse.Namespace) -> int:
    """Print the PRIM and tree boxes of a condition on an outcome; write table and figure."""
    if not args.dir.is_dir():
        raise UsageError(f"SWEEP_DIR: {str(args.dir)!r} is not a directory written by `sweep`")
    if args.min_density is not None and not 0 < args.min_density <= 1:
        raise UsageError(f"--min-density: must be in (0, 1] (got {args.min_density})")
    try:
        from tokenmarket.runs.discover import boxes_lines, discover
    except ModuleNotFoundError as err:
        raise UsageError(
            f"discover: needs {err.name}; install it with pip install 'tokenmarket[discover]'"
        ) from None
    from tokenmarket.runs.analysis import AnalysisError

    try:
        density = {} if args.min_density is None else {"min_density": args.min_density}
        boxes, report = discover(args.dir, args.outcome, args.condition, **density)
    except AnalysisError as err:
        raise UsageError(str(err)) from None
    for note in report.notes:
        print(f"note: {note}")
    print(boxes_lines(boxes))
    if report.written:
        print(f"\nwrote {report.written[0].parent}/: " + " ".join(p.name for p in report.written))
    return 0


def _validate(args: argparse.Namespace) -> int:
    """Print the pattern table and the cost-view comparison; exit 1 if a recorded pass misses."""
    if args.seeds < 2:
        raise UsageError(f"--seeds: must be an integer >= 2 for an interval (got {args.seeds})")
    import pandas as pd

    from tokenmarket.runs.validate import cost_views, validate

    table = validate(seeds=args.seeds)
    shown = table.assign(
        target=table["low"].map("{:g}".format) + "-" + table["high"].map("{:g}".format),
        model=table["mean"].map("{:.3f}".format)
        + " ["
        + table["ci_low"].map("{:.3f}".format)
        + ", "
        + table["ci_high"].map("{:.3f}".format)
        + "]",
        verdict=table["met"].map({True: "met", False: "MISSED"}),
    )
    with pd.option_context("display.max_colwidth", 70, "display.width", 200):
        print(f"going_global against real-market patterns, {args.seeds} seeds (95% t-interval):")
        print(shown[["pattern", "target", "model", "verdict"]].to_string(index=False))
        print("\nSources:")
        for row in table.itertuples():
            print(f"  {row.pattern}: {row.source}")
        print("\nCost views, months 13-24 (mean over seeds), by provider home region:")
        print(cost_views(seeds=min(args.seeds, 5)).round(3).to_string(index=False))
    regressed = table[table["recorded_pass"] & ~table["met"]]
    return 1 if len(regressed) else 0


def _app(args: argparse.Namespace) -> int:
    """Serve the classroom app in the foreground."""
    if not 0 < args.port < 65536:
        raise UsageError(f"--port: must be from 1 to 65535 (got {args.port})")
    from tokenmarket.runs.app import serve
    from tokenmarket.runs.processes import sigterm_as_interrupt

    with sigterm_as_interrupt():  # SIGTERM stops the server child as Ctrl-C does
        return serve(args.host, args.port)


def share_table(strategies: pd.DataFrame, limit: int = 30) -> str:
    """Final token share by strategy per design point, 'mean [95% interval]'.

    The interval of a share is not symmetric near 0 or 1 (`analysis.bounded_interval`).
    """
    rows = strategies[strategies["metric"] == "token_share"]
    keys = list(rows.columns[: list(rows.columns).index("strategy")])
    cell = rows["mean"].map("{:.3f}".format) + [
        "" if lo != lo else f" [{lo:.3f}, {hi:.3f}]"
        for lo, hi in zip(rows["ci_low"], rows["ci_high"], strict=True)
    ]
    table = rows.assign(cell=cell).pivot(index=keys, columns="strategy", values="cell")
    more = f"\n... {len(table) - limit} more points in the CSV" if len(table) > limit else ""
    n = int(rows["n"].max())
    title = f"Final token share by strategy, mean [95% interval] over {n} replications:"
    return f"{title}\n{table.head(limit).to_string()}{more}"


def plan_table(report: AnalysisReport, outcome: str, halfwidth: float, limit: int = 30) -> str:
    """Per point (and strategy) of `outcome`: n, mean, CI half-width, replications needed."""
    table = report.strategies if outcome in set(report.strategies["metric"]) else report.market
    rows = table[table["metric"] == outcome].drop(columns=["metric", "sd", "ci_low", "ci_high"])
    more = f"\n... {len(rows) - limit} more rows in the CSV" if len(rows) > limit else ""
    title = f"{outcome}: 95% CI half-width and replications needed for +-{halfwidth:g}:"
    body = rows.head(limit).to_string(index=False, float_format="{:.4g}".format)
    return f"{title}\n{body}{more}"


# --------------------------------------------------------------------------- calvano
MAX_Q_ENTRIES = 50_000_000
"""Largest Q table (firms x states x actions) a session may need: 400 MB of float64."""


def _add_calvano(sub: argparse._SubParsersAction) -> None:
    calvano = sub.add_parser(
        "calvano",
        help="replicate Calvano et al. (2020): Q-learning firms in a repeated logit-Bertrand game",
        description="Run learning sessions of the repeated logit-Bertrand game of Calvano, "
        "Calzolari, Denicolò & Pastorello (2020, AER) and print the profit gain Delta "
        "(0: static Nash, 1: joint monopoly). Defaults are the paper's baseline.",
    )
    add = calvano.add_argument
    add("--sessions", type=int, default=1000, metavar="N", help="sessions (default: 1000)")
    add("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    add("--firms", type=int, default=2, metavar="n", help="number of firms (default: 2)")
    add("--costs", default="1", metavar="c1,c2,...", help="marginal cost per firm, or one for all")
    add("--alpha", type=float, default=0.15, help="learning rate (default: 0.15)")
    add(
        "--beta",
        type=float,
        default=4e-6,
        help="exploration decay, eps = exp(-beta t) (default: 4e-6)",
    )
    add("--delta", type=float, default=0.95, help="discount factor (default: 0.95)")
    add("--grid", type=int, default=15, metavar="m", help="price grid points (default: 15)")
    add("--xi", type=float, default=0.1, help="grid reach beyond Nash and monopoly (default: 0.1)")
    add(
        "--max-periods",
        type=int,
        default=1_000_000_000,
        metavar="T",
        help="stop an unconverged session after T periods (default: 10^9, the paper's)",
    )
    add(
        "--executor",
        choices=EXECUTORS,
        metavar="{serial,processes,dask}",
        help="where sessions run (default: processes; dask with --scheduler)",
    )
    add("--workers", type=int, metavar="N", help="worker processes (default: all cores)")
    add("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (implies dask)")
    add("--json", action="store_true", help="also print the summary as one JSON line, last")
    calvano.set_defaults(handler=_calvano)


def _calvano(args: argparse.Namespace) -> int:
    """Check the options, run the sessions, print the table (and the JSON line)."""
    import json

    from tqdm import tqdm

    from tokenmarket.runs import calvano
    from tokenmarket.runs.executors import make_executor

    game = _calvano_game(args)
    kind = _check_sweep_options(args)
    executor = make_executor(kind, args.workers, args.scheduler, f"calvano-{args.seed}")
    tasks = calvano.sessions(
        game, args.sessions, args.seed, args.alpha, args.beta, args.max_periods
    )
    with tqdm(total=args.sessions, unit="session", disable=None) as bar:
        results = calvano.run_experiment(tasks, executor, on_done=lambda _: bar.update())
    stats = calvano.summary(results, calvano.setup(game))
    print(calvano.report(stats, game, args.alpha, args.beta))
    if args.json:
        print(json.dumps(stats))
    return 0


def _calvano_game(args: argparse.Namespace) -> Game:
    """The game of the options, after checking each against what the model allows."""
    from tokenmarket.runs.calvano import Game

    checks = [
        ("--sessions", args.sessions >= 1, "an integer >= 1"),
        ("--seed", args.seed >= 0, "an integer >= 0"),
        ("--firms", args.firms >= 2, "an integer >= 2"),
        ("--alpha", 0 < args.alpha <= 1, "a learning rate in (0, 1]"),
        ("--beta", 0 < args.beta < float("inf"), "a decay rate > 0"),
        ("--delta", 0 <= args.delta < 1, "a discount factor in [0, 1)"),
        ("--grid", args.grid >= 2, "an integer >= 2"),
        ("--xi", 0 <= args.xi < float("inf"), "a number >= 0"),
        ("--max-periods", args.max_periods >= 1, "an integer >= 1"),
    ]
    for option, ok, allowed in checks:
        if not ok:
            value = getattr(args, option[2:].replace("-", "_"))
            raise UsageError(f"{option}: must be {allowed} (got {value})")
    entries = args.firms * args.grid ** (args.firms + 1)
    if entries > MAX_Q_ENTRIES:
        raise UsageError(
            f"--firms/--grid: {args.firms} firms on {args.grid} prices need a Q table of "
            f"{entries:,} entries; at most {MAX_Q_ENTRIES:,} are allowed"
        )
    game = Game(n_firms=args.firms)
    try:
        costs = tuple(float(c) for c in args.costs.split(","))
    except ValueError:
        costs = ()
    valid = all(0 <= c < game.quality for c in costs)
    if not costs or not valid or len(costs) not in (1, args.firms):
        raise UsageError(
            f"--costs: expected 1 or {args.firms} comma-separated costs, each >= 0 and below "
            f"the goods' quality a = {game.quality:g} (got {args.costs!r})"
        )
    return Game(args.firms, costs, delta=args.delta, grid_points=args.grid, xi=args.xi)


# --------------------------------------------------------------------------- explain
def _add_explain(sub: argparse._SubParsersAction) -> None:
    from tokenmarket.runs.explain import OUTCOMES

    explain = sub.add_parser(
        "explain",
        help="split an outcome into the three rationales (energy, industrial, globalization)",
        description="Decompose an outcome between the scenario and a counterfactual in which "
        "China's factors sit at the other regions' levels, by Owen/Shapley values over the "
        "three rationales and their factors, on common seeds, with 95%% t-intervals.",
    )
    add = explain.add_argument
    add(
        "--scenario",
        default=DEFAULT_SCENARIO,
        metavar="NAME|PATH",
        help=f"a built-in name or a TOML file (default: {DEFAULT_SCENARIO})",
    )
    add(
        "--outcome",
        default="share_abroad",
        metavar="NAME",
        help="; ".join(f"{k}: {v.meaning}" for k, v in OUTCOMES.items())
        + " (default: share_abroad)",
    )
    add("--months", default="13-36", metavar="A-B", help="window of months (default: 13-36)")
    add("--seeds", type=int, default=5, metavar="N", help="seeds, the same for every run (5)")
    add(
        "--developers",
        type=int,
        default=5000,
        metavar="N",
        help="developer agents per run (default: 5000)",
    )
    add(
        "--set",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="set a knob of the scenario first (repeatable), e.g. cost_view=operating",
    )
    add(
        "--executor",
        choices=EXECUTORS,
        metavar="{serial,processes,dask}",
        help="where runs execute (default: processes; dask with --scheduler)",
    )
    add("--workers", type=int, metavar="N", help="worker processes (default: all cores)")
    add("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (implies dask)")
    add("--figure", type=Path, metavar="PNG", help="also write the waterfall figure here")
    add("--json", action="store_true", help="also print the result as one JSON line, last")
    explain.set_defaults(handler=_explain)


def _explain(args: argparse.Namespace) -> int:
    """Check the options, run every coalition on every seed, print the decomposition."""
    from tqdm import tqdm

    from tokenmarket.runs import explain
    from tokenmarket.runs.executors import make_executor

    months = _months_option(args.months)
    if args.outcome not in explain.OUTCOMES:
        raise UsageError(
            f"--outcome: must be one of {', '.join(explain.OUTCOMES)} (got {args.outcome!r})"
        )
    if args.seeds < 2:
        raise UsageError(f"--seeds: must be an integer >= 2 for an interval (got {args.seeds})")
    if args.developers < 1:
        raise UsageError(f"--developers: must be an integer >= 1 (got {args.developers})")
    if args.figure is not None and args.figure.suffix.lower() != ".png":
        raise UsageError(f"--figure: must be a .png file (got {str(args.figure)!r})")
    if args.figure is not None:
        _check_out(args.figure.parent)
    kind = _check_sweep_options(args)
    settings: dict[str, object] = {}
    if args.set:
        from tokenmarket.model.scenario import knobs_of

        settings = _settings(args.set, knobs_of(args.scenario))
    plan = explain.plan(
        args.scenario, args.outcome, months, args.seeds, args.developers, **settings
    )
    executor = make_executor(kind, args.workers, args.scheduler, "explain")
    print(
        f"explain {args.outcome} on {args.scenario}, months {months[0]}-{months[1]}: "
        f"{len(plan.tasks)} runs ({len(plan.tasks) // args.seeds} coalitions x {args.seeds} "
        f"seeds, {args.developers:,} developers) on {executor.description}",
        file=sys.stderr,
    )
    with tqdm(total=len(plan.tasks), unit="run", disable=None) as bar:
        result = explain.execute(plan, executor, on_done=bar.update)
    print(explain.report(result))
    if args.figure is not None:
        from tokenmarket.runs.plots import waterfall_figure

        buffer = io.BytesIO()
        waterfall_figure(result).savefig(buffer, format="png", dpi=120)
        _write_outputs(args.figure.parent, {args.figure.name: _bytes_writer(buffer.getvalue())})
        print(f"wrote {args.figure}")
    if args.json:
        print(json.dumps(result.to_json()))
    return 0


def _months_option(text: str) -> tuple[int, int]:
    """`A-B` with 1 <= A <= B, as a pair of months."""
    found = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not found or not 1 <= int(found[1]) <= int(found[2]):
        raise UsageError(f"--months: expected A-B with 1 <= A <= B, e.g. 13-36 (got {text!r})")
    return int(found[1]), int(found[2])


# --------------------------------------------------------------------------- writing
Writer = Callable[[Path], None]


def _parquet_writer(frame: pd.DataFrame) -> Writer:
    return lambda path: frame.to_parquet(path, index=False)


def _bytes_writer(data: bytes) -> Writer:
    return lambda path: path.write_bytes(data)


def _figure_png(
    spec: Scenario, providers: pd.DataFrame, segments: pd.DataFrame
) -> tuple[bytes, bytes]:
    """The market-share and segment-share figures as PNG bytes, drawn before any file is touched."""
    from tokenmarket.runs.plots import (  # seaborn: lazy
        event_dates,
        market_share_figure,
        segment_share_figure,
    )

    shares = market_share_figure(providers, event_dates(spec, providers))
    pngs = []
    for figure in (shares, segment_share_figure(segments, providers)):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=120)
        pngs.append(buffer.getvalue())
    return pngs[0], pngs[1]


def _write_outputs(out: Path, files: dict[str, Writer]) -> None:
    """Write every file under a temporary name, then move all into place.

    If anything fails (or Ctrl-C) before the moves, the temporaries are removed, and so is
    the directory when this call created it: nothing is left half-written.
    """
    created = [p for p in (out, *out.parents) if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    try:
        for name, write in files.items():
            staged[name] = staging_path(out / name)  # plain create: umask applies
            write(staged[name])
        for name, tmp in staged.items():
            sync_into_place(tmp, out / name)
    except BaseException:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        for directory in created:  # deepest first
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise


# --------------------------------------------------------------------------- summary
def _fmt(spec: str) -> Callable[[object], str]:
    """A to_string formatter that prints missing values (pd.NA, NaN) as 'n/a'."""
    import pandas as pd

    return lambda value: "n/a" if pd.isna(value) else format(value, spec)


def summary(
    name: str,
    seed: int,
    n_developers: int,
    providers: pd.DataFrame,
    market: pd.DataFrame,
    flows: pd.DataFrame,
    turnover: pd.DataFrame | None = None,
) -> str:
    """A readable account of the final month: providers, concentration, flows by home.

    With a `turnover` frame (`TokenMarket.turnover_frame`), the run's entries and exits too.
    """
    import pandas as pd

    from tokenmarket.model.metrics import bought_abroad_by_region, cross_border_by_home

    last = int(market["step"].max())
    final = providers[providers["step"] == last].set_index("provider")
    table = pd.DataFrame(
        {
            "region": final["region"],
            "strategy": final["strategy"],
            "share %": final["token_share"] * 100.0,
            "price USD/Mtok": final["price_usd_per_mtok"].astype(float),
            "profit USD/month": final["profit_usd"],
            "NPV USD": final["npv_usd"],
            "util %": final["utilization"].astype(float) * 100.0,
            "unit cost USD/Mtok": final["unit_cost_usd_per_mtok"].astype(float),
            "active": final["active"]
            .map({True: "yes", False: "exited"})
            .where(providers.groupby("provider")["active"].any(), "never entered"),
        }
    )
    money, pct, price = _fmt(",.0f"), _fmt(".1f"), _fmt(".3f")
    formatters = {
        "share %": pct,
        "price USD/Mtok": price,
        "profit USD/month": money,
        "NPV USD": money,
        "util %": pct,
        "unit cost USD/Mtok": price,
    }
    row = market[market["step"] == last].iloc[0]
    homes = cross_border_by_home(flows[flows["step"] == last])
    homes = homes[homes.index.isin(final["region"])]  # regions that host a provider
    buyers = bought_abroad_by_region(flows[flows["step"] == last])
    lines = [
        f"scenario {name}, seed {seed}, {n_developers:,} developers, {last} months",
        "",
        f"Providers at month {last}:",
        table.to_string(formatters=formatters, index_names=False),
        f"  share %: of all tokens served worldwide in month {last}; util %: of the provider's",
        "  capacity; profit: that month's; NPV: discounted profits of the whole run",
        "",
        f"Market at month {last}:",
        f"  HHI (0-1)                      {row['hhi']:.3f}",
        f"  outside option share of demand {row['outside_share'] * 100:.1f} %",
        "    (tokens developers wanted but bought from no API: the outside option is doing",
        "    without, or running a model of their own)",
        f"  tokens served across borders   {row['cross_border_share'] * 100:.1f} %",
        f"    of which export, from home   {row['cross_border_export_share'] * 100:.1f} %",
        f"    investment, sites abroad     {row['cross_border_investment_share'] * 100:.1f} %",
        f"  active providers               {int(row['active_providers'])}",
        "",
        "Share of the tokens each home region's providers served that went abroad:",
        *(f"  {home:<6} {_fmt('.1%')(share)}" for home, share in homes.items()),
        "Share of the tokens each region's developers bought from providers homed abroad:",
        *(f"  {region:<6} {_fmt('.1%')(share)}" for region, share in buyers.items()),
    ]
    if turnover is not None:
        lines += ["", "Entries and exits (month: provider):"]
        for event, rows in turnover.groupby("event", sort=True):
            told = ", ".join(f"{r.step}: {r.provider}" for r in rows.itertuples())
            lines.append(f"  {event:<7} {told}")
        if turnover.empty:
            lines.append("  none")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
