"""The `tokenmarket` command: outputs, determinism, and the bad-input rule (status 2, one
`error:` line naming the field, no traceback, nothing written)."""

import contextlib
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import tomli_w
from matplotlib.figure import Figure

from tokenmarket.model.market import FRAME_KEYS, PRODUCT_COLUMNS, PROVIDER_COLUMNS, TokenMarket
from tokenmarket.model.metrics import cross_border_by_home
from tokenmarket.model.scenario import load_scenario
from tokenmarket.runs import cli
from tokenmarket.runs.plots import market_share_figure

STEPS, DEVELOPERS = 3, 300
FAST = ["--scenario", "classroom", "--steps", str(STEPS), "--developers", str(DEVELOPERS)]
OUTPUTS = {
    "providers.parquet",
    "market.parquet",
    "flows.parquet",
    "segments.parquet",
    "products.parquet",
    "sites.parquet",
    "site_flows.parquet",
    "market_share.png",
    "segment_share.png",
    "scenario.toml",
}
PROVIDER_KEYS = [*FRAME_KEYS, "provider", "region", "strategy", *PROVIDER_COLUMNS]
MARKET_KEYS = [
    "step",
    "hhi",
    "mean_price_usd_per_mtok",
    "total_served_mtok",
    "outside_share",
    "consumer_surplus",
    "cross_border_share",
    "active_providers",
    "energy_kwh",
]
SEGMENT_KEYS = [
    *FRAME_KEYS,
    "segment",
    "provider",
    "demand_mtok",
    "served_mtok",
    "spend_usd",
    "token_share",
]
PRODUCT_KEYS = [
    *FRAME_KEYS,
    "provider",
    "tier",
    *PRODUCT_COLUMNS,
    "tokens_per_task",
    "cost_per_task_usd",
    "token_share",
]
FLOW_KEYS = [
    *FRAME_KEYS,
    "developer_region",
    "home_region",
    "served_mtok",
    "cross_border",
    "invested_mtok",
]
TOKENMARKET = Path(sys.executable).parent / "tokenmarket"


def run_quietly(argv: list[str]) -> tuple[int, str, str]:
    """`main(argv)` with stdout and stderr captured (for module-scoped fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def read_frames(out: Path) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_parquet(out / f"{name}.parquet")
        for name in ("providers", "market", "flows", "segments", "products")
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("run") / "classroom"
    code, stdout, stderr = run_quietly(["run", *FAST, "--seed", "7", "--out", str(out)])
    assert code == 0, stderr
    return out, stdout


# --------------------------------------------------------------------------- happy path
def test_entry_point_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "e2e"
    done = subprocess.run(
        [str(TOKENMARKET), "run", *FAST, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == OUTPUTS
    assert "us_frontier" in done.stdout


def test_entry_point_bad_input_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(TOKENMARKET), "run", "--scenario", "classroom", "--steps", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: --steps: must be a whole number of months >= 1 (got 0)"
    ]
    assert not (tmp_path / "results").exists()


def test_run_writes_exactly_the_five_outputs(run_dir: tuple[Path, str]) -> None:
    out, _ = run_dir
    assert {p.name for p in out.iterdir()} == OUTPUTS  # no temporaries left behind
    assert (out / "market_share.png").read_bytes().startswith(b"\x89PNG")


def test_run_summary_explains_its_shares_and_npv_and_says_what_next(
    run_dir: tuple[Path, str],
) -> None:
    out, stdout = run_dir
    rate = load_scenario("classroom").market.discount_rate_per_year
    assert "of all tokens served worldwide" in stdout
    assert "outside option is" in stdout
    assert f"discounted at {rate:.0%} a year" in stdout
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("next: ") and str(out) in last


def test_frames_have_the_documented_columns(run_dir: tuple[Path, str]) -> None:
    frames = read_frames(run_dir[0])
    assert list(frames["providers"].columns) == PROVIDER_KEYS
    assert set(MARKET_KEYS) <= set(frames["market"].columns)
    assert list(frames["flows"].columns) == FLOW_KEYS
    assert sorted(frames["market"]["step"]) == list(range(1, STEPS + 1))
    assert len(frames["providers"]) == STEPS * 4
    assert len(frames["flows"]) == STEPS * 3 * 3
    assert list(frames["segments"].columns) == SEGMENT_KEYS
    assert list(frames["products"].columns) == PRODUCT_KEYS
    assert len(frames["products"]) == STEPS * 4  # classroom: four providers of one model


def test_scenario_toml_reloads_to_the_run_spec(run_dir: tuple[Path, str]) -> None:
    spec = TokenMarket("classroom", rng=7, n_developers=DEVELOPERS).spec
    assert load_scenario(run_dir[0] / "scenario.toml") == spec


def test_same_seed_gives_identical_frames(run_dir: tuple[Path, str], tmp_path: Path) -> None:
    first = read_frames(run_dir[0])
    again = tmp_path / "again"
    assert run_quietly(["run", *FAST, "--seed", "7", "--out", str(again)])[0] == 0
    for name, frame in read_frames(again).items():
        pd.testing.assert_frame_equal(frame, first[name])


def test_another_seed_gives_another_run(run_dir: tuple[Path, str], tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert run_quietly(["run", *FAST, "--seed", "8", "--out", str(other)])[0] == 0
    a = read_frames(run_dir[0])["providers"]["served_mtok"]
    b = read_frames(other)["providers"]["served_mtok"]
    assert not a.equals(b)


def test_summary_reports_the_final_month(run_dir: tuple[Path, str]) -> None:
    _, stdout = run_dir
    assert f"Providers at month {STEPS}" in stdout
    for name in ("us_frontier", "us_budget", "cn_lowcost", "eu_follower"):
        assert name in stdout
    for words in ("HHI", "outside option", "home region's providers", "USD/Mtok"):
        assert words in stdout
    for home in ("CN", "US", "EU"):
        assert any(line.split()[:1] == [home] for line in stdout.splitlines())


def test_default_out_is_results_scenario_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "--scenario", "classroom", "--steps", "1", "--developers", "50"]) == 0
    assert {p.name for p in (tmp_path / "results" / "classroom").iterdir()} == OUTPUTS


def test_run_overwrites_an_existing_out_dir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "scenario.toml").write_text("stale")
    (out / "notes.txt").write_text("mine")
    assert run_quietly(["run", *FAST, "--out", str(out)])[0] == 0
    assert {p.name for p in out.iterdir()} == {*OUTPUTS, "notes.txt"}
    assert load_scenario(out / "scenario.toml").name == "classroom"


def test_cross_border_by_home() -> None:
    flows = pd.DataFrame(
        {
            "step": [1] * 4 + [2] * 4,
            "developer_region": ["A", "B", "A", "B"] * 2,
            "home_region": ["A", "A", "B", "B"] * 2,
            "served_mtok": [3.0, 1.0, 0.0, 0.0, 1.0, 1.0, 2.0, 6.0],
        }
    ).assign(cross_border=lambda f: f["developer_region"] != f["home_region"])
    assert cross_border_by_home(flows[flows["step"] == 2]).to_dict() == {"A": 0.5, "B": 0.25}
    at_one = cross_border_by_home(flows[flows["step"] == 1])
    assert at_one["A"] == 0.25
    assert pd.isna(at_one["B"])  # nothing served from B: undefined, not 0


def test_market_share_figure(run_dir: tuple[Path, str]) -> None:
    providers = read_frames(run_dir[0])["providers"]
    fig = market_share_figure(providers)
    assert isinstance(fig, Figure)
    share_ax, price_ax = fig.axes
    assert price_ax.get_yscale() == "log"
    assert share_ax.get_shared_x_axes().joined(share_ax, price_ax)
    assert "%" in share_ax.get_ylabel()
    assert "USD per million tokens" in price_ax.get_ylabel()
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert "us_frontier (US, differentiation)" in labels
    assert len(labels) == 4
    styles = {line.get_linestyle() for line in price_ax.get_lines() if line.get_xdata().size}
    assert len(styles) > 1  # told apart without colour


# --------------------------------------------------------------------------- scenarios
def test_scenarios_lists_the_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert {"classroom", "going_global", "logit_duopoly", "synthetic"} <= set(names)
    assert all(len(line.split()) > 1 for line in lines)  # each with its description


# --------------------------------------------------------------------------- bad input
def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting a dotted path (list indices as integers) of the scenario data."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


BAD_SCENARIOS = {
    "unknown top-level key": (_set("colour", "red"), "colour"),
    "unknown provider key": (_set("providers.0.colour", "red"), "providers.0.colour"),
    "price of wrong type": (
        _set("providers.1.price_usd_per_mtok", "cheap"),
        "providers.1.price_usd_per_mtok",
    ),
    "negative price": (_set("providers.1.price_usd_per_mtok", -1.0), "price_usd_per_mtok"),
    "negative capacity": (_set("providers.2.capacity_mtok", -10.0), "providers.2.capacity_mtok"),
    "pue below 1": (_set("providers.0.pue", 0.9), "providers.0.pue"),
    "review probability above 1": (
        _set("segments.0.review_probability", 1.5),
        "segments.0.review_probability",
    ),
    "access above 1": (_set("access", {"CN": {"US": 2.0}}), "access.CN.US"),
    "latency missing a row": (_drop("latency_ms.EU"), "latency_ms"),
    "latency missing a column": (_drop("latency_ms.CN.EU"), "latency_ms.CN"),
    "unknown home region": (_set("providers.0.home", "MARS"), "providers.0.home"),
    "unknown strategy": (_set("providers.0.strategy", "magic"), "providers.0.strategy"),
    "unknown strategy parameter": (
        _set("providers.0.strategy_params", {"wings": 1.0}),
        "providers.0.strategy_params.wings",
    ),
}


def assert_refused(
    code: int, stderr: str, field: str, out: Path, capsys_out: str | None = None
) -> None:
    """Status 2, one `error:` line naming the field, no traceback, nothing written."""
    assert code == 2
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:")
    assert field in lines[0]
    assert "Traceback" not in stderr
    assert not out.exists()
    if capsys_out is not None:
        assert capsys_out == ""


@pytest.mark.parametrize("case", list(BAD_SCENARIOS))
def test_bad_scenario_file_is_refused(
    case: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mutate, field = BAD_SCENARIOS[case]
    data = load_scenario("classroom").model_dump(exclude_none=True)
    mutate(data)
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(data))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    code = cli.main(["run", "--scenario", str(path), "--steps", "3", "--out", str(out)])
    captured = capsys.readouterr()
    assert_refused(code, captured.err, field, out, captured.out)
    assert not (tmp_path / "results").exists()


BAD_ARGUMENTS = {
    "missing file": (["--scenario", "{tmp}/nowhere.toml"], "scenario"),
    "malformed toml": (["--scenario", "{tmp}/malformed.toml"], "scenario"),
    "unknown built-in": (["--scenario", "goin_global"], "scenario"),
    "zero steps": (["--scenario", "classroom", "--steps", "0"], "--steps"),
    "negative developers": (["--scenario", "classroom", "--developers", "-5"], "--developers"),
    "too many developers": (["--scenario", "classroom", "--developers", "9999999"], "n_developers"),
    "negative seed": (["--scenario", "classroom", "--seed", "-1"], "--seed"),
    "steps not a number": (["--scenario", "classroom", "--steps", "ten"], "--steps"),
}


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_argument_is_refused(
    case: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args, field = BAD_ARGUMENTS[case]
    (tmp_path / "malformed.toml").write_text('name = "x"\nsteps = [1,\n')
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = ["run", *(a.format(tmp=tmp_path) for a in args), "--out", str(out)]
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert_refused(code, captured.err, field, out, captured.out)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("target", ["afile", "afile/sub"])
def test_out_under_an_existing_file_is_refused(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("not a directory")
    code = cli.main(["run", *FAST, "--out", str(tmp_path / target)])
    captured = capsys.readouterr()
    assert_refused(code, captured.err, "--out", tmp_path / "afile" / "sub", captured.out)
    assert (tmp_path / "afile").read_text() == "not a directory"


# --------------------------------------------------------------------------- interruption
def test_ctrl_c_exits_130_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = iter(range(100))

    def step(self: TokenMarket) -> None:
        if next(calls) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(TokenMarket, "step", step)
    out = tmp_path / "deep" / "out"
    assert cli.main(["run", *FAST, "--out", str(out)]) == 130
    captured = capsys.readouterr()
    assert "interrupted" in captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "deep").exists()


def test_failure_while_writing_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pd.DataFrame.to_parquet

    def flaky(self: pd.DataFrame, path: Path, **kwargs: Any) -> None:
        if "cross_border" in self.columns:  # the flows frame: after providers and market
            raise OSError("disk full")
        real(self, path, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", flaky)
    out = tmp_path / "new" / "out"
    with pytest.raises(OSError, match="disk full"):
        run_quietly(["run", *FAST, "--out", str(out)])
    assert not (tmp_path / "new").exists()


def test_validate_prints_each_pattern_with_its_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["validate", "--seeds", "2"])
    out = capsys.readouterr().out
    patterns = [
        line.split()[0] for line in out.splitlines() if line.rstrip().endswith(("met", "MISSED"))
    ]
    assert patterns[:2] == ["cn_share_start_2024", "cn_share_2025"]
    assert "Cost views" in out
    assert status in (0, 1)


@pytest.mark.parametrize(
    ("argv", "field"),
    [(["validate", "--seeds", "1"], "--seeds"), (["app", "--port", "70000"], "--port")],
)
def test_validate_and_app_options_are_checked(
    argv: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and field in err and "Traceback" not in err
