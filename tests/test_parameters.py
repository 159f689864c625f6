"""The knob registry: one declared, typed object per knob, read by every entry point."""

import json
import warnings
from collections import Counter

import mesa
import pytest

from tokenmarket import TokenMarket, knobs_of, load_scenario
from tokenmarket.model import parameters
from tokenmarket.model.scenario import builtin_names
from tokenmarket.runs import cli

REQUIRED = {"name", "unit", "kind", "default", "doc"}


@pytest.mark.parametrize("scenario", builtin_names())
def test_every_knob_default_lies_in_its_declared_domain(scenario):
    for knob in knobs_of(scenario).values():
        domain = knob.domain
        if knob.parameter.kind == "categorical":
            assert knob.default in domain["choices"], knob.name
        else:
            assert domain["low"] <= knob.default <= domain["high"], knob.name
            assert 0 < domain["step"] <= domain["high"] - domain["low"], knob.name


@pytest.mark.filterwarnings("ignore::tokenmarket.model.parameters.KnobWarning")
@pytest.mark.parametrize("scenario", ["classroom", "going_global"])
def test_the_whole_declared_range_of_every_knob_is_accepted_by_the_schema(scenario):
    """A knob's bounds must lie inside the schema's legal ranges, or a sweep would fail."""
    for knob in knobs_of(scenario).values():
        domain = knob.domain
        for value in domain.get("choices", [domain.get("low"), domain.get("high")]):
            load_scenario(scenario, **{knob.name: value})


def test_knobs_json_lists_units_bounds_and_strategy_params(capsys):
    assert cli.main(["knobs", "--scenario", "going_global", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(set(row) >= REQUIRED for row in rows)
    by_name = {row["name"]: row for row in rows}
    assert by_name["electricity_CN"]["unit"] == "USD/kWh"
    assert by_name["param_cn_green_hub_open_margin"]["unit"] == "share of full cost"
    assert by_name["strategy_cn_green_hub_open"]["default"] == "low_price"
    for row in rows:
        assert ("choices" in row) == (row["kind"] == "categorical")
        assert ("low" in row and "high" in row) == (row["kind"] != "categorical")
        assert row["unit"] or row["kind"] == "categorical" or row["name"] == "synthetic_seed"
    kinds = Counter(row["kind"] for row in rows)
    # price_utility, cost_view, export controls on CN, sites abroad of CN and US firms, one
    # strategy per provider: 7 incumbents, 4 potential entrants
    assert kinds["categorical"] == 2 + 1 + 2 + 7 + 4
    assert by_name["strategy_us_inference_cloud"]["default"] == "cost_plus"


def test_knobs_table_prints_one_line_per_knob(capsys):
    assert cli.main(["knobs", "--scenario", "classroom"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(knobs_of("classroom"))
    assert any(line.startswith("electricity_CN ") and "USD/kWh" in line for line in lines)


def test_a_strategy_knob_sets_the_strategys_own_parameter():
    spec = load_scenario("going_global", param_cn_green_hub_open_margin=0.4)
    provider = next(p for p in spec.providers if p.name == "cn_green_hub_open")
    assert provider.strategy_params["margin"] == 0.4


def test_switching_strategy_keeps_shared_params_and_reports_the_dropped():
    base = {"param_cn_lowcost_margin": 0.3, "param_cn_lowcost_target_utilization": 0.6}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = load_scenario("classroom", **base)
        switched = load_scenario(spec, strategy_cn_lowcost="cost_plus")
    provider = next(p for p in switched.providers if p.name == "cn_lowcost")
    assert provider.strategy == "cost_plus"
    assert provider.strategy_params == {"target_utilization": 0.6}
    messages = [str(w.message) for w in caught if issubclass(w.category, parameters.KnobWarning)]
    assert len(messages) == 1 and "margin" in messages[0] and "cn_lowcost" in messages[0]


def test_a_new_strategys_params_can_be_set_with_the_switch():
    spec = load_scenario("classroom", strategy_cn_lowcost="cost_plus", param_cn_lowcost_markup=1.5)
    provider = next(p for p in spec.providers if p.name == "cn_lowcost")
    assert provider.strategy_params == {"markup": 1.5}


def test_labels_carry_units():
    assert parameters.label("electricity_EU") == "EU electricity price (USD/kWh)"
    assert parameters.label("pue_CN") == "CN PUE (facility / IT power)"
    spec = load_scenario("going_global")
    assert parameters.label("param_us_budget_api_markup", spec).endswith("(share of full cost)")
    with pytest.raises(ValueError, match="unknown parameter"):
        parameters.label("param_us_budget_api_markup")


def test_batch_run_reads_the_registry_names():
    rows = mesa.batch_run(
        TokenMarket,
        parameters={
            "scenario": "classroom",
            "n_developers": 80,
            "param_cn_lowcost_margin": [0.05, 0.5],
        },
        rng=[1],
        max_steps=2,
        number_processes=1,
        display_progress=False,
    )
    assert {r["param_cn_lowcost_margin"] for r in rows} == {0.05, 0.5}


def test_run_set_applies_typed_knobs(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", "--scenario", "classroom", "--steps", "1", "--out", str(out)]
    settings = ["--set", "electricity_CN=0.09", "--set", "n_developers=90"]
    assert cli.main([*argv, *settings, "--set", "strategy_us_budget=follower"]) == 0
    capsys.readouterr()
    spec = load_scenario(out / "scenario.toml")
    assert spec.regions[0].electricity_usd_per_kwh == 0.09
    assert spec.n_developers == 90
    assert next(p for p in spec.providers if p.name == "us_budget").strategy == "follower"


def test_strategies_command_lists_params_and_classifier(capsys):
    assert cli.main(["strategies", "--json"]) == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert listed["low_price"]["classifier"]["uses_rival_prices"] is True
    assert listed["cost_plus"]["classifier"] == {
        "uses_rival_prices": False,
        "uses_demand_estimates": False,
        "stochastic": False,
        "learns": False,
    }
    margin = next(p for p in listed["low_price"]["params"] if p["name"] == "margin")
    assert margin["low"] <= margin["default"] <= margin["high"]
