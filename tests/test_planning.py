"""Planning the number of runs: replications for a half-width, and adaptive replication."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_sweep import SMALL, assert_refused, read_sweep, run_cli, write_spec

from tokenmarket.runs.analysis import replications_needed, t_half_width

ADAPTIVE = {**SMALL, "parameters": {"switching_cost": [0.5, 3.0]}}


@given(sd=st.floats(0.0, 1e3), halfwidth=st.floats(1e-3, 10.0))
def test_replications_needed_is_the_smallest_count_that_reaches_the_half_width(sd, halfwidth):
    n = replications_needed([sd], halfwidth)[0]
    assert n >= 2
    assert t_half_width(sd, n) <= halfwidth
    assert n == 2 or t_half_width(sd, n - 1) > halfwidth


def test_replications_needed_is_missing_where_the_sd_is():
    assert math.isnan(replications_needed([math.nan], 0.1)[0])


def test_analyze_reports_half_widths_and_replications_needed(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, ADAPTIVE)
    out = tmp_path / "out"
    assert run_cli(["sweep", str(spec), "--out", str(out), "--executor", "serial"])[0] == 0
    code, stdout, err = run_cli(["analyze", str(out), "--halfwidth", "0.01", "--outcome", "hhi"])
    assert code == 0, err
    assert "replications needed for +-0.01" in stdout
    market = pd.read_csv(out / "analysis" / "market_points.csv")
    rows = market[market["metric"] == "hhi"]
    assert np.allclose(rows["half_width"], (rows["ci_high"] - rows["ci_low"]) / 2)
    assert (rows["replications_needed"] == replications_needed(rows["sd"], 0.01)).all()


def test_adaptive_sweep_adds_seeds_only_where_the_interval_is_too_wide(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, ADAPTIVE)
    out = tmp_path / "adaptive"
    options = ["--until-halfwidth", "0.03", "--max-reps", "6", "--outcome", "token_share"]
    code, _, err = run_cli(
        ["sweep", str(spec), "--out", str(out), "--executor", "serial", *options]
    )
    assert code == 0, err
    stored = read_sweep(out).summary.drop_duplicates("run_id")
    reps = stored.groupby("point")["replication"].agg(["count", "max"])
    assert (reps["count"] == reps["max"] + 1).all()  # replications 0..k-1, none skipped
    assert (reps["count"] >= 2).all() and (reps["count"] <= 6).all()
    shares = read_sweep(out).summary.groupby(["point", "replication", "strategy"])
    runs = shares["token_share"].sum().reset_index()
    for point, k in reps["count"].items():
        spread = runs[runs["point"] == point].groupby("strategy")["token_share"]
        widest = float(t_half_width(spread.std(), spread.count()).max())
        assert widest <= 0.03 or k == 6  # within the half-width, or out of seeds

    # The same seeds as a plain sweep of 6 replications: bit-identical runs.
    plain = tmp_path / "plain"
    full = write_spec(tmp_path / "full", {**ADAPTIVE, "replications": 6})
    assert run_cli(["sweep", str(full), "--out", str(plain), "--executor", "serial"])[0] == 0
    every = read_sweep(plain).summary
    same = every[every["run_id"].isin(stored["run_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(read_sweep(out).summary, same, check_exact=True)

    # Resumed when finished: nothing more to run, nothing changed.
    code, _, err = run_cli(
        ["sweep", str(spec), "--out", str(out), "--executor", "serial", *options, "--resume"]
    )
    assert code == 0, err
    assert "0 get more seeds" in err
    pd.testing.assert_frame_equal(read_sweep(out).summary, same, check_exact=True)


BAD_PLANS = {
    "half-width not positive": (["--until-halfwidth", "0", "--max-reps", "4"], "--until"),
    "no max-reps": (["--until-halfwidth", "0.1"], "--max-reps"),
    "max-reps below replications": (["--until-halfwidth", "0.1", "--max-reps", "1"], "--max"),
    "max-reps alone": (["--max-reps", "4"], "--max-reps"),
    "unknown outcome": (
        ["--until-halfwidth", "0.1", "--max-reps", "4", "--outcome", "joy"],
        "--outcome",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PLANS))
def test_bad_plan_is_refused(case: str, tmp_path: Path) -> None:
    options, field = BAD_PLANS[case]
    spec = write_spec(tmp_path, ADAPTIVE)
    out = tmp_path / "out"
    code, _, err = run_cli(["sweep", str(spec), "--out", str(out), *options])
    assert_refused(code, err, field, out)
