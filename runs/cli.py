"""The `tokenmarket` command: run a scenario and write its results, or list the built-ins.

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
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from tokenmarket.model.scenario import ScenarioError, describe_builtins

if TYPE_CHECKING:
    import pandas as pd

# pandas, mesa (via the model) and seaborn are imported where a run needs them, so that
# `tokenmarket scenarios`, `--help` and input errors answer in a fraction of a second.

DEFAULT_SCENARIO = "going_global"
RESULTS_ROOT = Path("results")
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A value the user gave that cannot be used; the message names the field."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one `error:` line (the house format), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line: `run` and `scenarios`."""
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
    run.set_defaults(handler=_run)
    scenarios = sub.add_parser(
        "scenarios", help="list the built-in scenarios", description="List the built-in scenarios."
    )
    scenarios.set_defaults(handler=_scenarios)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn user errors into one line and status 2."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already printed by the parser
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    try:
        return args.handler(args)
    except (UsageError, ScenarioError) as err:
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


# --------------------------------------------------------------------------- run
def _run(args: argparse.Namespace) -> int:
    """Validate, build, run, then write the outputs and print the summary."""
    from tqdm import tqdm

    from tokenmarket.model.market import TokenMarket

    _check_options(args)
    if args.out is not None:
        _check_out(args.out)
    overrides = {} if args.developers is None else {"n_developers": args.developers}
    model = TokenMarket(args.scenario, rng=args.seed, **overrides)
    out = args.out if args.out is not None else RESULTS_ROOT / _safe_name(model.spec.name)
    _check_out(out)
    steps = args.steps if args.steps is not None else model.spec.steps

    for _ in tqdm(range(steps), desc=model.spec.name, unit="month", disable=None):
        model.step()

    providers, market, flows = model.provider_frame(), model.market_frame(), model.flow_frame()
    figure = _figure_png(providers)
    report = summary(model.spec.name, args.seed, model.spec.n_developers, providers, market, flows)
    _write_outputs(
        out,
        {
            "providers.parquet": _parquet_writer(providers),
            "market.parquet": _parquet_writer(market),
            "flows.parquet": _parquet_writer(flows),
            "market_share.png": _bytes_writer(figure),
            "scenario.toml": _bytes_writer(model.spec.to_toml().encode()),
        },
    )
    print(report)
    print(
        f"\nwrote {out}/: providers.parquet market.parquet flows.parquet "
        "market_share.png scenario.toml"
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


def _safe_name(name: str) -> str:
    """A scenario name usable as one path component (names come from user TOML files)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "custom"


# --------------------------------------------------------------------------- writing
Writer = Callable[[Path], None]


def _parquet_writer(frame: pd.DataFrame) -> Writer:
    return lambda path: frame.to_parquet(path, index=False)


def _bytes_writer(data: bytes) -> Writer:
    return lambda path: path.write_bytes(data)


def _figure_png(providers: pd.DataFrame) -> bytes:
    """The market-share figure as PNG bytes, drawn before any file is touched."""
    from tokenmarket.runs.plots import market_share_figure  # seaborn: only when plotting

    buffer = io.BytesIO()
    market_share_figure(providers).savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


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
            staged[name] = out / f".{name}.{os.getpid()}.tmp"  # plain create: umask applies
            write(staged[name])
        for name, tmp in staged.items():
            os.replace(tmp, out / name)
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


def cross_border_by_home(flows: pd.DataFrame, step: int) -> pd.Series:
    """Share of tokens served across borders, per provider home region, at one month."""
    month = flows[flows["step"] == step]
    served = month.groupby("home_region", sort=False)["served_mtok"].sum()
    abroad = month[month["cross_border"]].groupby("home_region", sort=False)["served_mtok"].sum()
    return (abroad.reindex(served.index, fill_value=0.0) / served.where(served > 0)).rename(
        "cross_border_share"
    )


def summary(
    name: str,
    seed: int,
    n_developers: int,
    providers: pd.DataFrame,
    market: pd.DataFrame,
    flows: pd.DataFrame,
) -> str:
    """A readable account of the final month: providers, concentration, flows by home."""
    import pandas as pd

    last = int(market["step"].max())
    final = providers[providers["step"] == last].set_index("provider")
    table = pd.DataFrame(
        {
            "region": final["region"],
            "strategy": final["strategy"],
            "share %": final["token_share"] * 100.0,
            "price USD/Mtok": final["price_usd_per_mtok"],
            "profit USD/month": final["profit_usd"],
            "NPV USD": final["npv_usd"],
            "util %": final["utilization"] * 100.0,
            "unit cost USD/Mtok": final["unit_cost_usd_per_mtok"],
            "active": final["active"].map({True: "yes", False: "exited"}),
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
    homes = cross_border_by_home(flows, last)
    homes = homes[homes.index.isin(final["region"])]  # regions that host a provider
    lines = [
        f"scenario {name}, seed {seed}, {n_developers:,} developers, {last} months",
        "",
        f"Providers at month {last}:",
        table.to_string(formatters=formatters, index_names=False),
        "",
        f"Market at month {last}:",
        f"  HHI (0-1)                      {row['hhi']:.3f}",
        f"  outside option share of demand {row['outside_share'] * 100:.1f} %",
        f"  tokens served across borders   {row['cross_border_share'] * 100:.1f} %",
        f"  active providers               {int(row['active_providers'])}",
        "",
        "Share of tokens served across borders, by provider home region:",
        *(f"  {home:<6} {_fmt('.1%')(share)}" for home, share in homes.items()),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
