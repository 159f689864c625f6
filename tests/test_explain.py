"""`tokenmarket explain`: the Owen/Shapley decomposition, on games with known values and on
the model."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import load_scenario
from tokenmarket.runs import cli
from tokenmarket.runs.explain import (
    Factor,
    count_runs,
    default_factors,
    explain,
    owen_coalitions,
    owen_values,
    run_task,
    shapley_values,
    tasks,
)

GROUPS = {"a": ["a1", "a2", "a3"], "b": ["b1", "b2"], "c": ["c1"]}
PLAYERS = [p for members in GROUPS.values() for p in members]
GROUP_OF = {p: g for g, members in GROUPS.items() for p in members}


def _dividend_game(seed: int) -> dict[frozenset[str], float]:
    """Random Harsanyi dividends: a few coalitions T with a weight c_T each."""
    rng = np.random.default_rng(seed)
    coalitions = [frozenset(c) for r in (1, 2, 3) for c in itertools.combinations(PLAYERS, r)]
    chosen = rng.choice(len(coalitions), size=8, replace=False)
    return {coalitions[i]: float(rng.normal()) for i in chosen}


def _value(dividends: dict[frozenset[str], float]):
    """v(S) = sum of c_T over T inside S: a sum of unanimity games."""
    return lambda s: math.fsum(c for t, c in dividends.items() if t <= s)


@pytest.mark.parametrize("seed", range(5))
def test_shapley_splits_each_dividend_equally(seed):
    """Shapley (1953): each unanimity game u_T gives c_T / |T| to each member of T."""
    dividends = _dividend_game(seed)
    values = shapley_values(PLAYERS, _value(dividends))
    for p in PLAYERS:
        expected = sum(c / len(t) for t, c in dividends.items() if p in t)
        assert values[p] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_owen_splits_each_dividend_between_groups_then_within(seed):
    """Owen (1977): u_T gives c_T / (groups meeting T) to each such group, shared equally by
    its members in T; so a pair across groups splits like Shapley, a triple need not."""
    dividends = _dividend_game(seed)
    values = owen_values(GROUPS, _value(dividends))
    for p in PLAYERS:
        expected = 0.0
        for t, c in dividends.items():
            if p in t:
                met = {GROUP_OF[q] for q in t}
                inside = sum(GROUP_OF[q] == GROUP_OF[p] for q in t)
                expected += c / len(met) / inside
        assert values[p] == pytest.approx(expected, abs=1e-12)


def test_additive_plus_interaction_is_split_as_expected():
    """v = 1 a1 + 2 b1 + 3 a1 b1 (across groups) + 4 a2 a3 (within): 2.5, 3.5, 2, 2, 0."""

    def v(s):
        return 1 * ("a1" in s) + 2 * ("b1" in s) + 3 * ({"a1", "b1"} <= s) + 4 * ({"a2", "a3"} <= s)

    values = owen_values(GROUPS, v)
    expected = {"a1": 2.5, "a2": 2.0, "a3": 2.0, "b1": 3.5, "b2": 0.0, "c1": 0.0}
    assert values == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_efficiency_symmetry_and_null_players(seed):
    dividends = _dividend_game(seed)
    # b2 is made symmetric to b1 (same dividends with b1 and b2 swapped), c1 a null player
    sym = {}
    for t, c in dividends.items():
        if "c1" in t:
            continue
        for u in (t, frozenset({"b1": "b2", "b2": "b1"}.get(q, q) for q in t)):
            sym[u] = sym.get(u, 0.0) + c
    v = _value(sym)
    everyone = frozenset(PLAYERS)
    for values in (owen_values(GROUPS, v), shapley_values(PLAYERS, v)):
        assert math.fsum(values.values()) == pytest.approx(v(everyone) - v(frozenset()), abs=1e-12)
        assert values["b1"] == pytest.approx(values["b2"], abs=1e-12)
        assert values["c1"] == pytest.approx(0.0, abs=1e-12)


def test_the_owen_value_reads_only_the_planned_coalitions():
    read = set()

    def v(s):
        read.add(s)
        return float(len(s) ** 2)

    owen_values(GROUPS, v)
    assert read == set(owen_coalitions(GROUPS))
    # whole-group unions (2^3) plus, for each group, any proper non-empty part of it with any
    # union of the other groups: 8 + 4 (2^3 - 2) + 4 (2^2 - 2) + 4 (2^1 - 2)
    assert len(read) == 8 + 4 * 6 + 4 * 2 + 0


SMALL = {"developers": 300, "months": (2, 5), "seeds": 2}


def _small_factors(scenario):
    """One factor per rationale (8 coalitions), from the default set."""
    chosen = {"power price", "access abroad", "homogenization"}
    return [f for f in default_factors(scenario) if f.name in chosen]


def test_on_the_model_contributions_add_up_to_the_change():
    spec = load_scenario("going_global", n_developers=SMALL["developers"])
    result = explain(spec, factors=_small_factors(spec), **SMALL)
    assert math.isclose(result.factors["contribution"].sum(), result.total_change, abs_tol=1e-12)
    assert math.isclose(result.groups["contribution"].sum(), result.total_change, abs_tol=1e-12)
    # the grand coalition is the scenario itself: its value is a plain run's
    model = TokenMarket(spec, rng=0)
    for _ in range(5):
        model.step()
    flows = model.flow_frame()
    window = flows[flows["step"].between(2, 5)]
    cn = window[window["home_region"] == "CN"]
    plain = cn.loc[cn["cross_border"], "served_mtok"].sum() / cn["served_mtok"].sum()
    scenario_runs = [
        t
        for t in tasks(spec, _small_factors(spec), [0, 1], (2, 5), "share_abroad")
        if len(t.coalition) == 3
    ]
    assert run_task(scenario_runs[0]) == pytest.approx(plain, rel=1e-12)  # same sums, other order
    assert scenario_runs[0].overrides == {}


def test_each_seed_decomposes_its_own_change():
    spec = load_scenario("going_global", n_developers=SMALL["developers"])
    factors = _small_factors(spec)
    result = explain(spec, factors=factors, **SMALL)
    todo = tasks(spec, factors, [0, 1], (2, 5), "share_abroad")
    ends = {(len(t.coalition), t.seed): run_task(t) for t in todo if len(t.coalition) in (0, 3)}
    for seed, part in result.per_seed.groupby("seed"):
        assert math.isclose(
            part["contribution"].sum(), ends[(3, seed)] - ends[(0, seed)], abs_tol=1e-12
        )


def test_default_factors_move_china_to_the_others_level():
    spec = load_scenario("going_global")
    factors = {f.name: f for f in default_factors(spec)}
    assert {f.group for f in factors.values()} == {"energy", "industrial", "globalization"}
    grid = {r.name: r.electricity_usd_per_kwh for r in spec.regions}
    prices = [p.electricity_usd_per_kwh or grid[p.home] for p in spec.all_providers]
    others = [x for x, p in zip(prices, spec.all_providers, strict=True) if p.home != "CN"]
    power = factors["power price"].counterfactual["electricity_CN"]
    assert min(others) < power < max(others)
    assert power > grid["CN"]
    # every foreign region may reach the other foreign homes fully in going_global
    assert set(factors["access abroad"].counterfactual.values()) == {1.0}
    # with the compute market and sites: energy has four factors, industrial six (domestic
    # models on domestic compute: CANN's gap closed; investment abroad: CN's sites go),
    # globalization three
    assert factors["GPU efficiency"].counterfactual == {"export_controls_CN": "off"}
    assert factors["domestic accelerators"].counterfactual == {"throughput_ascend_910c": 1.0}
    ported = factors["domestic models on domestic compute"].counterfactual
    assert ported == {"platform_efficiency_cann": 1.0}
    assert factors["investment abroad"].counterfactual == {"sites_CN": "off"}
    assert count_runs(default_factors(spec), 5) == (8 + 4 * 14 + 4 * 62 + 4 * 6) * 5


def test_a_factor_with_an_unknown_knob_fails_before_any_run():
    bad = [Factor("nonsense", "energy", {"no_such_knob": 1.0})]
    with pytest.raises(Exception, match="no_such_knob"):
        explain("going_global", factors=bad, **SMALL)


def test_cli_json_is_the_last_line(capsys):
    code = cli.main(
        [
            "explain",
            "--developers", "200",
            "--months", "1-3",
            "--seeds", "2",
            "--executor", "serial",
            "--json",
        ]
    )  # fmt: skip
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    data = json.loads(last)
    assert data["outcome"] == "share_abroad"
    assert [g["group"] for g in data["groups"]] == ["energy", "industrial", "globalization"]
    total = math.fsum(f["contribution"] for g in data["groups"] for f in g["factors"])
    assert math.isclose(total, data["total_change"], abs_tol=1e-12)
    for group in data["groups"]:
        assert group["ci_low"] <= group["contribution"] <= group["ci_high"]
        assert math.isclose(
            math.fsum(f["contribution"] for f in group["factors"]),
            group["contribution"],
            abs_tol=1e-12,
        )


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--months", "36-13"], "--months"),
        (["--months", "x"], "--months"),
        (["--months", "0-3"], "--months"),
        (["--seeds", "1"], "--seeds"),
        (["--developers", "0"], "--developers"),
        (["--outcome", "nope"], "--outcome"),
        (["--set", "cost_view=cheap"], "cost_view"),
        (["--set", "no_knob=1"], "no_knob"),
        (["--scenario", "nowhere"], "nowhere"),
        (["--workers", "0"], "--workers"),
        (["--figure", "out.txt"], "--figure"),
    ],
)
def test_bad_input_is_one_error_line(argv, field, capsys):
    code = cli.main(["explain", "--executor", "processes", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error:") and field in err[0]


def test_the_waterfall_closes_on_the_scenario():
    """The factor bars climb from the counterfactual bar to the scenario bar (efficiency)."""
    from tokenmarket.runs.explain import decompose
    from tokenmarket.runs.plots import waterfall_figure

    factors = [Factor(p, GROUP_OF[p], {}) for p in PLAYERS]
    v = _value(_dividend_game(0))
    results = {(c, s): v(c) + 0.1 * s * len(c) for c in owen_coalitions(GROUPS) for s in (0, 1, 2)}
    result = decompose(results, factors, [0, 1, 2], "share_abroad")
    bars = waterfall_figure(result).axes[0].patches
    assert len(bars) == len(PLAYERS) + 2
    first, steps, last = bars[0], bars[1:-1], bars[-1]
    assert first.get_height() == pytest.approx(result.counterfactual_value * 100)
    assert last.get_height() == pytest.approx(result.scenario_value * 100)
    top = steps[-1].get_y() + steps[-1].get_height()
    assert top == pytest.approx(last.get_height(), abs=1e-9)
