"""Hostile and extreme input: nothing non-finite or mistyped gets in, and legal input runs.

Mutations of a scenario file (inf, nan, booleans, numeric strings, absurd sizes) must each be
refused by `tokenmarket run` with one `error:` line naming the field, status 2 and nothing
written; the same for keyword overrides. Scenarios drawn anywhere inside the documented legal
ranges must run to the end with every output finite or a documented missing value.
"""

import math
from typing import Any

import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenmarket import Scenario, ScenarioError, TokenMarket, load_scenario
from tokenmarket.model.market import MISSING_WHEN_UNDEFINED
from tokenmarket.model.schema import FLOOR
from tokenmarket.runs import cli

NUMERIC_FIELDS = (
    "steps",
    "n_developers",
    "regions.0.electricity_usd_per_kwh",
    "regions.1.demand_growth_per_month",
    "segments.0.demand_median_mtok_per_month",
    "segments.0.demand_sigma",
    "segments.1.price_weight",
    "segments.1.switching_cost_median",
    "segments.0.outside_utility",
    "providers.0.price_usd_per_mtok",
    "providers.0.pue",
    "providers.1.energy_kwh_per_mtok",
    "providers.1.cash_usd",
    "providers.2.amortization_months",
    "providers.2.strategy_params.margin",
    "market.mu",
    "market.home_bias_utils",
    "latency_ms.CN.US",
)
HOSTILE = (math.inf, -math.inf, math.nan, True, "1")
ABSURD = {
    "market.mu": 1e-300,
    "segments.0.demand_sigma": 1e6,
    "providers.2.amortization_months": 10**8,
    "n_developers": 3.0,
    "providers.0.price_usd_per_mtok": 1e300,
    "providers.2.gpu_price_usd": 1e-304,  # sub-normal magnitudes: below the floor
    "regions.0.electricity_usd_per_kwh": 5e-324,
    "segments.0.demand_median_mtok_per_month": 1e-310,
}
MUTATIONS = [(f, v) for f in NUMERIC_FIELDS for v in HOSTILE] + list(ABSURD.items())


def mutated(path: str, value: Any) -> dict[str, Any]:
    data = load_scenario("classroom").model_dump(exclude_none=True)
    data["providers"][2]["strategy_params"] = {"margin": 0.1}  # cn_lowcost plays low_price
    *parents, last = path.split(".")
    node: Any = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(last) if isinstance(node, list) else last] = value
    return data


def test_there_are_at_least_fifty_mutations():
    assert len(MUTATIONS) >= 50


@pytest.mark.parametrize(("path", "value"), MUTATIONS, ids=[f"{p}={v!r}" for p, v in MUTATIONS])
def test_a_mutated_scenario_file_is_refused_cleanly(path, value, tmp_path, capsys):
    scenario = tmp_path / "bad.toml"
    scenario.write_text(tomli_w.dumps(mutated(path, value)))
    out = tmp_path / "out"
    code = cli.main(["run", "--scenario", str(scenario), "--steps", "2", "--out", str(out)])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("error:"), captured.err
    assert path in lines[0]
    if isinstance(value, float) and not math.isfinite(value):
        assert f"{path}: must be finite" in lines[0]
    assert captured.out == "" and not out.exists()


KNOBS = (
    "electricity_CN",
    "pue_EU",
    "switching_cost",
    "n_developers",
    "param_cn_lowcost_margin",
    "access_CN_US",
    "steps",
)
BAD_OVERRIDES = [(k, v) for k in KNOBS for v in (*HOSTILE, None)]


@pytest.mark.parametrize(("knob", "value"), BAD_OVERRIDES)
def test_a_bad_keyword_override_is_refused_naming_the_knob(knob, value):
    with pytest.raises(ScenarioError, match=rf"^{knob}: must be"):
        TokenMarket("classroom", rng=0, **{knob: value})


BAD_SETS = [
    ("electricity_CN=nan", "electricity_CN: must be finite"),
    ("electricity_CN=inf", "electricity_CN: must be finite"),
    ("electricity_CN=cheap", "electricity_CN: must be a number"),
    ("n_developers=1e3", "n_developers: must be an integer"),
    ("cost_view=cheapest", "cost_view: must be one of"),
    ("electricity_MARS=0.1", "electricity_MARS: unknown parameter"),
    ("electricity_CN", "expected KNOB=VALUE"),
]


@pytest.mark.parametrize(("setting", "message"), BAD_SETS)
def test_a_bad_set_is_one_error_line(setting, message, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["run", "--scenario", "classroom", "--set", setting, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.strip().splitlines() == [captured.err.strip()]
    assert captured.err.startswith(f"error: --set: {message}")
    assert not out.exists()


# ------------------------------------------------------------------ legal ranges run finite
def _legal(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def _free_or(high: float) -> st.SearchStrategy[float]:
    """0, or from the floor: a price or cost that may be free."""
    return st.one_of(st.just(0.0), _legal(FLOOR, high))


LEGAL = {
    "market.mu": _legal(0.01, 100.0),
    "market.home_bias_utils": _legal(-100.0, 100.0),
    "market.demand_elasticity": _legal(0.0, 10.0),
    "market.congestion_ms_per_unserved": _legal(0.0, 1e5),
    "market.rnd_effectiveness": _legal(0.0, 100.0),
    "segments.0.demand_sigma": _legal(0.0, 3.0),
    "segments.0.price_weight": _legal(0.0, 100.0),
    "segments.1.outside_utility": _legal(-100.0, 100.0),
    "segments.1.switching_cost_median": _legal(0.0, 100.0),
    "segments.1.switching_cost_sigma": _legal(0.0, 3.0),
    "segments.0.quality_weight": _legal(0.0, 10.0),
    "providers.0.amortization_months": st.integers(1, 1200),
    "segments.0.demand_median_mtok_per_month": _legal(FLOOR, 1e6),
    "providers.0.price_usd_per_mtok": _legal(FLOOR, 10_000.0),
    "providers.0.capacity_mtok": _legal(FLOOR, 1e15),
    "providers.0.opex_usd_per_gpu_month": _free_or(1e6),
    "providers.1.pue": _legal(1.0, 5.0),
    "providers.1.cash_usd": _legal(-1e15, 1e15),
    "providers.1.gpu_kw": _legal(FLOOR, 100.0),
    "providers.2.energy_kwh_per_mtok": _legal(FLOOR, 1000.0),
    "providers.2.gpu_price_usd": _free_or(1e7),
    "regions.0.electricity_usd_per_kwh": _legal(FLOOR, 10.0),
    "regions.0.carbon_usd_per_kwh": _free_or(10.0),
    "regions.1.demand_growth_per_month": _legal(-0.5, 1.0),
    "market.tier_switching_cost_share": _legal(0.0, 1.0),
    "segments.0.tokens_per_task": _legal(1.0, 1e8),
    "segments.1.tokens_per_task_growth_per_month": _legal(-0.5, 1.0),
    "market.rnd_scale": _legal(FLOOR, 100.0),
}
"""Fields drawn inside their documented legal ranges (model/schema.py)."""


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.fixed_dictionaries({}, optional=LEGAL), st.integers(0, 2**32))
def test_any_legal_scenario_runs_with_finite_outputs(changes, seed):
    data = load_scenario("classroom").model_dump(exclude_none=True)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value
    data["n_developers"] = 120
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        model = TokenMarket(Scenario.model_validate(data), rng=seed)
        model.run_for(8)
    for frame in (model.provider_frame(), model.market_frame()):
        numeric = frame.select_dtypes("number")
        missing = numeric.isna()
        assert not missing.drop(columns=[*MISSING_WHEN_UNDEFINED], errors="ignore").any().any()
        values = numeric.astype(float).to_numpy()
        assert np.isfinite(values[~missing.to_numpy()]).all(), changes


def test_a_price_below_the_floor_is_refused_naming_the_range(tmp_path, capsys) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(tomli_w.dumps(mutated("providers.2.gpu_price_usd", 1e-304)))
    assert cli.main(["run", "--scenario", str(scenario), "--out", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ")
    assert line.endswith(
        "providers.2.gpu_price_usd: must be 0 or from 1e-06 to 1e+07 USD (got 1e-304)"
    )


def test_less_than_one_token_served_has_no_unit_cost() -> None:
    # A legal state: demand that shrank for years can leave a sub-normal volume served.
    model = TokenMarket("classroom", rng=0, n_developers=120)
    model.run_for(2)
    provider = model.providers[0]
    provider.served_mtok = 5e-324
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        assert math.isnan(provider.unit_cost_usd_per_mtok)
    provider.served_mtok = FLOOR
    assert math.isfinite(provider.unit_cost_usd_per_mtok)
