"""Analysis of stored sweeps: bounded intervals, paired comparisons by provider, sensitivity
output, scenario discovery and custom outcomes."""

import contextlib
import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tomli_w

from tokenmarket.model.market import MARKET_COLUMNS, TokenMarket
from tokenmarket.runs import analysis, cli

# A short classroom market whose cheap-power provider plays two strategies on shared seeds.
PAIRED: dict[str, Any] = {
    "name": "paired",
    "scenario": "classroom",
    "steps": 6,
    "replications": 3,
    "seed": 5,
    "common_random_numbers": True,
    "fixed": {"n_developers": 200},
    "parameters": {
        "electricity_CN": [0.03, 0.12],
        "switching_cost": [0.5, 3.0],
        "strategy_cn_lowcost": ["low_price", "differentiation"],
    },
    "outputs": {"timeseries": True},
}


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def sweep(folder: Path, spec: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spec.toml"
    path.write_text(tomli_w.dumps(spec))
    out = folder / "out"
    code, _, err = run_cli(["sweep", str(path), "--out", str(out), "--executor", "serial"])
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def paired(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sweep(tmp_path_factory.mktemp("paired"), PAIRED)


# --------------------------------------------------------------------------- bounded intervals
def test_bounded_interval_stays_in_bounds_where_the_t_interval_does_not() -> None:
    shares = np.array([0.0, 0.0, 0.02, 0.4])  # a provider that mostly exits: a skewed share
    t_low, _ = analysis.t_interval(shares)
    assert t_low < 0  # the problem: a share's t-interval below 0
    low, high = analysis.bounded_interval(shares.mean(), shares.std(ddof=1), shares.size)
    assert 0.0 < low < shares.mean() < high < 1.0


def test_bounded_interval_is_the_t_interval_far_from_the_bounds() -> None:
    x = np.r_[np.full(5, 0.49), np.full(5, 0.51)]  # narrow, around 1/2: logit nearly linear
    t_low, t_high = analysis.t_interval(x)
    low, high = analysis.bounded_interval(x.mean(), x.std(ddof=1), x.size)
    assert (low, high) == pytest.approx((t_low, t_high), abs=1e-5)


def test_bounded_interval_covers_a_skewed_share_about_as_promised() -> None:
    """Coverage near the nominal 95% for shares from Beta(2, 30) (mean 1/16), 8 runs each.

    The t-interval has about the same coverage but crosses 0 in a share of the samples;
    the bounded one never does.
    """
    rng = np.random.default_rng(0)
    truth = 2 / 32
    x = rng.beta(2, 30, size=(4000, 8))
    low, high = analysis.bounded_interval(x.mean(axis=1), x.std(axis=1, ddof=1), 8)
    coverage = np.mean((low <= truth) & (truth <= high))
    assert 0.92 <= coverage <= 0.98
    assert (low >= 0).all() and (high <= 1).all()


def test_point_table_keeps_shares_in_bounds_and_other_metrics_symmetric() -> None:
    runs = pd.DataFrame(
        {
            "point": [0, 0, 0],
            "token_share": [0.0, 0.0, 0.3],
            "profit_usd": [-10.0, 0.0, 40.0],
        }
    )
    table = analysis.point_table(runs, ["point"], ["token_share", "profit_usd"]).set_index("metric")
    assert table.loc["token_share", "ci_low"] >= 0.0
    profit = table.loc["profit_usd"]
    assert profit["mean"] - profit["ci_low"] == pytest.approx(profit["ci_high"] - profit["mean"])


# --------------------------------------------------------------------------- paired comparisons
def test_paired_differences_are_the_focal_providers_arms_run_by_run(paired: Path) -> None:
    code, stdout, err = run_cli(["analyze", str(paired)])  # focal by default: one knob varied
    assert code == 0, err
    assert "Paired differences for cn_lowcost" in stdout
    folder = paired / "analysis"
    assert {
        "paired_cn_lowcost.csv",
        "paired_cn_lowcost_points.csv",
        "paired_cn_lowcost_token_share.png",
        "heatmap_cn_lowcost_token_share.png",
        "timeseries_token_share.png",
    } <= {p.name for p in folder.iterdir()}
    points = pd.read_csv(folder / "paired_cn_lowcost_points.csv")
    shares = points[points["metric"] == "token_share"].set_index(
        ["electricity_CN", "switching_cost"]
    )
    # direct: the provider's own share, differentiation minus low_price, pair by pair
    summary = pd.read_parquet(paired / "summary.parquet")
    own = summary[summary["provider"] == "cn_lowcost"].set_index(
        ["electricity_CN", "switching_cost", "replication", "strategy_cn_lowcost"]
    )["token_share"]
    direct = (own.xs("differentiation", level=-1) - own.xs("low_price", level=-1)).groupby(
        level=["electricity_CN", "switching_cost"]
    )
    pd.testing.assert_series_equal(
        shares["mean"].sort_index(), direct.mean().sort_index(), check_names=False
    )
    assert (shares["n"] == PAIRED["replications"]).all()
    assert (shares["ci_low"] <= shares["mean"]).all() and (
        shares["mean"] <= shares["ci_high"]
    ).all()
    # the pairs share a seed: every pair is one replication of both arms
    assert summary.groupby("replication")["seed"].nunique().eq(1).all()
    assert "Final token share by strategy" not in stdout  # labels pool different companies


def test_heatmaps_are_drawn_per_arm_never_averaged_over_the_strategy(paired: Path) -> None:
    data = analysis.load_sweep(paired)
    runs = analysis.focal_runs(data.summary, data.parameters, "cn_lowcost")
    table = analysis.point_table(runs, ["point", *data.parameters], ["token_share"])
    fig = analysis.heatmap_figure(
        table, "electricity_CN", "switching_cost", strategy_col="strategy_cn_lowcost"
    )
    titles = sorted(ax.get_title() for ax in fig.axes if ax.get_title())
    assert titles == [
        "strategy_cn_lowcost = differentiation",
        "strategy_cn_lowcost = low_price",
    ]
    assert "averaged over" not in fig.get_suptitle()


def test_identical_arms_on_common_seeds_differ_by_exactly_zero(tmp_path: Path) -> None:
    same = {**PAIRED, "parameters": {"strategy_cn_lowcost": ["low_price", "low_price"]}}
    out = sweep(tmp_path, {**same, "replications": 2})
    data = analysis.load_sweep(out)
    runs = analysis.focal_runs(data.summary, data.parameters, "cn_lowcost")
    knob = "strategy_cn_lowcost"
    differences = analysis.paired_differences(
        runs.assign(**{knob: np.where(runs["point"] == 0, "a", "b")}),
        data.parameters,
        knob,
        ["a", "b"],
    )
    assert (differences["difference"].dropna() == 0.0).all()


@pytest.mark.parametrize(
    ("focal", "message"),
    [("nobody", "no provider 'nobody'"), ("us_frontier", "does not vary us_frontier's strategy")],
)
def test_a_focal_provider_that_cannot_be_compared_is_refused(
    paired: Path, focal: str, message: str
) -> None:
    providers = set(pd.read_parquet(paired / "summary.parquet")["provider"])
    assert focal == "nobody" or focal in providers  # the premise
    code, stdout, err = run_cli(["analyze", str(paired), "--focal", focal])
    assert code == 2 and stdout == ""
    assert err.startswith("error: --focal:") and message in err and err.count("\n") == 1


def test_a_focal_comparison_needs_two_replications(tmp_path: Path) -> None:
    out = sweep(tmp_path, {**PAIRED, "replications": 1, "steps": 2})
    code, _, err = run_cli(["analyze", str(out), "--focal", "cn_lowcost"])
    assert code == 2
    assert "at least 2 replications" in err and "16 runs" in err
    assert not (out / "analysis").exists()


# --------------------------------------------------------------------------- sensitivity output
SOBOL: dict[str, Any] = {
    "name": "sobol",
    "scenario": "classroom",
    "steps": 4,
    "seed": 7,
    "common_random_numbers": True,
    "sampler": "sobol",
    "samples": 8,
    "fixed": {"n_developers": 150},
    "ranges": {
        "switching_cost": {"low": 0.5, "high": 4.0},
        "homogenization": {"low": 0.01, "high": 0.2},
    },
}


@pytest.mark.parametrize(
    ("sampler", "samples", "needed"),
    [("sobol", 4, "base sample N >= 8"), ("morris", 2, "trajectories >= 4")],
)
def test_a_design_too_small_for_its_method_is_refused_with_the_runs_it_needs(
    sampler: str, samples: int, needed: str, tmp_path: Path
) -> None:
    spec = {**SOBOL, "sampler": sampler, "samples": samples, "replications": 3}
    path = tmp_path / "spec.toml"
    path.write_text(tomli_w.dumps(spec))
    out = tmp_path / "out"
    code, stdout, err = run_cli(["sweep", str(path), "--out", str(out), "--executor", "serial"])
    assert code == 2 and stdout == "" and not out.exists()
    assert err.startswith("error:") and err.count("\n") == 1
    # sobol: 8 x (2 ranges + 2) x 3 replications; morris: 4 x (2 + 1) x 3
    runs = 8 * 4 * 3 if sampler == "sobol" else 4 * 3 * 3
    assert needed in err and f"{runs} runs" in err


def test_sobol_output_prints_indices_with_intervals_and_flags_wide_ones(tmp_path: Path) -> None:
    out = sweep(tmp_path, SOBOL)
    code, stdout, err = run_cli(["analyze", str(out)])
    assert code == 0, err
    assert "Sobol indices" in stdout and "over 1 replications" not in stdout
    indices = pd.read_csv(out / "analysis" / "sobol_indices.csv")
    for index in ("S1", "ST"):
        wide = indices[f"{index}_conf"] > indices[index].abs()
        assert (indices[f"{index}_wide"] == wide).all()
    # one console line per outcome and parameter, a `?` exactly where an interval is wide
    lines = [line for line in stdout.splitlines() if line.startswith("    ")]
    assert len(lines) == len(indices)
    flagged = sum(line.count("?") for line in lines)
    assert flagged == int(indices["S1_wide"].sum() + indices["ST_wide"].sum())
    fig = analysis.sensitivity_figure(indices, "sobol")
    panel = fig.axes[0]
    outcome = panel.get_title()
    n_bars = 2 * (indices["outcome"] == outcome).sum()
    assert len(panel.containers) - 2 == n_bars  # the two bar groups, then one error bar per bar


# --------------------------------------------------------------------------- scenario discovery
def test_prim_finds_a_planted_rule() -> None:
    """Runs are cases exactly when a < 0.3, b > 0.6 and the strategy is low_price; c is noise.

    PRIM must restrict a, b and the strategy (not c), near the planted thresholds, with high
    coverage and density; so must the tree's best leaf.
    """
    from tokenmarket.runs import discover

    rng = np.random.default_rng(1)
    n = 2000
    x = pd.DataFrame(
        {
            "a": rng.random(n),
            "b": rng.random(n),
            "c": rng.random(n),
            "strategy_p": rng.choice(["low_price", "differentiation"], n),
        }
    )
    cases = ((x["a"] < 0.3) & (x["b"] > 0.6) & (x["strategy_p"] == "low_price")).to_numpy()
    box = discover.prim_boxes(x, cases)[0]
    assert box.coverage >= 0.8 and box.density >= 0.8
    limits = box.limits.set_index("parameter")
    assert set(limits.index) == {"a", "b", "strategy_p"}
    assert limits.loc["a", "high"] == pytest.approx(0.3, abs=0.05)
    assert limits.loc["b", "low"] == pytest.approx(0.6, abs=0.05)
    assert limits.loc["strategy_p", "values"] == "low_price"
    tree = discover.tree_boxes(x, cases)[0]
    assert tree.coverage >= 0.8 and tree.density >= 0.8
    conditions = tree.rule.split(" and ")
    assert {c.split()[0].split("=")[0] for c in conditions} == {"a", "b", "strategy_p"}


def test_discover_prints_boxes_and_writes_table_and_figure(paired: Path) -> None:
    outcome = "token_share@cn_lowcost"
    table = pd.read_parquet(paired / "summary.parquet").query("provider == 'cn_lowcost'")
    threshold = float(table["token_share"].median())
    code, stdout, err = run_cli(
        ["discover", str(paired), "--outcome", outcome, "--condition", f">= {threshold}"]
    )
    assert code == 0, err
    cases = int((table["token_share"] >= threshold).sum())
    assert f"{cases} of {len(table)} runs have {outcome}" in stdout
    boxes = pd.read_csv(paired / "analysis" / "discover_token_share_cn_lowcost.csv")
    assert set(boxes["method"]) <= {"prim", "tree"} and len(boxes)
    assert boxes["coverage"].between(0, 1).all() and boxes["density"].between(0, 1).all()
    for row in boxes.itertuples():
        assert f"coverage {row.coverage:.2f}, density {row.density:.2f}" in stdout


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--outcome", "nothing", "--condition", "> 0"], "--outcome"),
        (["--outcome", "hhi", "--condition", "big"], "--condition"),
        (["--outcome", "hhi", "--condition", "> 2"], "--condition"),  # no run: nothing to find
        (["--outcome", "hhi", "--condition", "> 0", "--min-density", "0"], "--min-density"),
    ],
)
def test_discover_refuses_bad_input_in_one_line(paired: Path, argv: list[str], field: str) -> None:
    before = sorted(p.name for p in (paired / "analysis").glob("discover_hhi*"))
    code, stdout, err = run_cli(["discover", str(paired), *argv])
    assert code == 2 and stdout == ""
    assert err.startswith(f"error: {field}:") and err.count("\n") == 1
    assert sorted(p.name for p in (paired / "analysis").glob("discover_hhi*")) == before


# --------------------------------------------------------------------------- custom outcomes
REPORTER = """
def provider_count(model):
    return len(model.provider_list)
"""

OUTCOMES = {
    "cn_served_final": "sum(served_mtok) in providers where provider == 'cn_lowcost' and step == 4",
    "peak_hhi": "max(hhi) in market",
    "cn_abroad": "sum(served_mtok) in flows where home_region == 'CN' and cross_border",
    "months_concentrated": "count(hhi) in market where hhi > 0.3",
    "gross_margin": "mean(revenue_usd - electricity_usd - opex_usd) in providers where step > 2",
    "providers": "tm_test_reporters:provider_count",
}


@pytest.fixture
def reporters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "tm_test_reporters.py").write_text(REPORTER)
    monkeypatch.syspath_prepend(str(folder))


def test_custom_outcomes_are_stored_per_run_and_match_the_frames(
    tmp_path: Path, reporters: None
) -> None:
    spec = {
        **PAIRED,
        "steps": 4,
        "replications": 2,
        "parameters": {"switching_cost": [0.5, 3.0]},
        "outputs": {"timeseries": True},
        "outcomes": OUTCOMES,
    }
    out = sweep(tmp_path / "s", spec)
    summary = pd.read_parquet(out / "summary.parquet")
    months = pd.concat(pd.read_parquet(f) for f in sorted((out / "timeseries").glob("*.parquet")))
    runs = summary.drop_duplicates("run_id").set_index("run_id")
    # each outcome, recomputed by hand from the stored monthly frames
    cn = months.query("provider == 'cn_lowcost' and step == 4").groupby("run_id")["served_mtok"]
    market = months.drop_duplicates(["run_id", "step"]).groupby("run_id")["market_hhi"]
    later = months.query("step > 2").assign(
        margin=lambda t: t["revenue_usd"] - t["electricity_usd"] - t["opex_usd"]
    )
    np.testing.assert_allclose(runs["outcome_cn_served_final"], cn.sum().loc[runs.index])
    np.testing.assert_allclose(runs["outcome_peak_hhi"], market.max().loc[runs.index])
    np.testing.assert_array_equal(
        runs["outcome_months_concentrated"],
        market.apply(lambda h: (h > 0.3).sum()).loc[runs.index],
    )
    np.testing.assert_allclose(
        runs["outcome_gross_margin"], later.groupby("run_id")["margin"].mean().loc[runs.index]
    )
    assert (runs["outcome_providers"] == summary.groupby("run_id")["provider"].nunique()).all()
    # flows are not stored by a sweep: the first run again, by hand, gives the same number
    first = runs.iloc[0]
    model = TokenMarket(
        "classroom",
        rng=int(first["seed"]),
        n_developers=200,
        switching_cost=first["switching_cost"],
    )
    model.run_for(4)
    flows = model.flow_frame()
    abroad = flows[(flows["home_region"] == "CN") & flows["cross_border"]]["served_mtok"].sum()
    assert first["outcome_cn_abroad"] == abroad
    # every row of a run carries its run's value, as market_<name> columns do
    assert (summary.groupby("run_id")["outcome_peak_hhi"].nunique() == 1).all()
    code, _, err = run_cli(["analyze", str(out)])
    assert code == 0, err
    table = pd.read_csv(out / "analysis" / "outcome_points.csv")
    assert set(table["metric"]) == set(OUTCOMES)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sum(served) in flows", "'served' is not a column of flows"),
        ("sum(hhi) in prices", "unknown frame 'prices'"),
        ("sum(hhi.sum()) in market", "found Call"),
        ("sum(hhi) in market where __import__('os')", "found Call"),
        ("sum(hhi) in market where @x > 1", "not a valid expression"),
        ("median(hhi) in market", "expected 'AGG(EXPR) in FRAME"),
        ("no_such_package_xyz:f", "cannot import no_such_package_xyz:f"),
    ],
)
def test_a_bad_custom_outcome_is_refused_before_anything_runs(
    text: str, message: str, tmp_path: Path
) -> None:
    spec = {**PAIRED, "outcomes": {"mine": text}}
    path = tmp_path / "spec.toml"
    path.write_text(tomli_w.dumps(spec))
    out = tmp_path / "out"
    code, stdout, err = run_cli(["sweep", str(path), "--out", str(out), "--executor", "serial"])
    assert code == 2 and stdout == "" and not out.exists()
    assert err.startswith("error:") and "outcomes.mine" in err and message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("name", ["hhi", "switching_cost", "Bad-Name"])
def test_a_custom_outcome_may_not_shadow_a_built_in_or_a_parameter(name: str) -> None:
    from tokenmarket.runs.sweep import SpecError, parse_spec

    with pytest.raises(SpecError, match=f"outcomes.{name}"):
        parse_spec({**PAIRED, "outcomes": {name: "max(hhi) in market"}})


def test_every_cross_border_share_is_a_market_outcome_kept_in_its_bounds() -> None:
    """Export and investment (sites abroad) next to the total: all three are analysed, as
    fractions whose intervals stay in [0, 1]."""
    cross = [c for c in MARKET_COLUMNS if c.startswith("cross_border")]
    assert len(cross) >= 3 and set(cross) <= set(analysis.MARKET_OUTCOMES)
    fractions = [n for n, label in analysis.MARKET_OUTCOMES.items() if "(fraction)" in label]
    assert set(cross) <= set(fractions)
    assert all(analysis.BOUNDS[n] == (0.0, 1.0) for n in fractions)


def test_a_sweep_stored_before_an_outcome_existed_still_analyses(paired: Path, tmp_path) -> None:
    """A store without a market outcome's column (an older version's sweep) analyses, with
    that outcome missing and every other outcome as it was."""
    old = tmp_path / "old"
    shutil.copytree(paired, old, ignore=shutil.ignore_patterns(analysis.ANALYSIS_DIR))
    summary = pd.read_parquet(old / "summary.parquet")
    summary.drop(columns=["market_cross_border_investment_share"]).to_parquet(
        old / "summary.parquet"
    )
    new, before = analysis.load_sweep(old), analysis.load_sweep(paired)
    runs = analysis.market_runs(new.summary, new.parameters)
    assert runs["cross_border_investment_share"].isna().all()
    kept = runs.drop(columns="cross_border_investment_share")
    expected = analysis.market_runs(before.summary, before.parameters)[kept.columns]
    pd.testing.assert_frame_equal(kept, expected)
    code, _, err = run_cli(["analyze", str(old)])
    assert code == 0, err
