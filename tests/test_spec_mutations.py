"""Sweep-spec mutations, non-finite numbers among them: each is refused cleanly (issue 16).

Cleanly: exit status 2, one `error:` line naming the field, no traceback, and nothing
written (the --out directory is never created). A mutation is one edit of a small valid
spec; the size guard's cases (a 999,000-run grid, 100,000 replications) are here too.
"""

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_sweep import run_cli, write_spec

NAN, INF = float("nan"), float("inf")

BASE: dict[str, Any] = {
    "name": "base",
    "scenario": "classroom",
    "steps": 3,
    "replications": 2,
    "seed": 1,
    "fixed": {"n_developers": 100},
    "parameters": {"switching_cost": [0.5, 3.0]},
    "outputs": {"timeseries": False},
}
SAMPLED: dict[str, Any] = {
    **{k: v for k, v in BASE.items() if k != "parameters"},
    "sampler": "lhs",
    "samples": 4,
    "ranges": {"switching_cost": {"low": 0.5, "high": 3.0}},
}


def top(key: str, value: Any) -> Callable[[dict], None]:
    return lambda spec: spec.__setitem__(key, value)


def inner(section: str, key: str, value: Any) -> Callable[[dict], None]:
    return lambda spec: spec.setdefault(section, {}).__setitem__(key, value)


def bound(key: str, value: Any) -> Callable[[dict], None]:
    return lambda spec: spec["ranges"]["switching_cost"].__setitem__(key, value)


def drop(key: str) -> Callable[[dict], None]:
    return lambda spec: spec.pop(key)


def huge_grid(spec: dict) -> None:
    """2 switching costs x 999 homogenizations x 500 population sizes, 1 replication."""
    spec["replications"] = 1
    spec["fixed"].pop("n_developers")
    spec["parameters"]["homogenization"] = [round(0.0002 * (k + 1), 4) for k in range(999)]
    spec["parameters"]["n_developers"] = list(range(100, 600))


# name -> (base spec, edit, text the error must contain: the field)
MUTATIONS: dict[str, tuple[dict, Callable[[dict], None], str]] = {
    "fixed nan": (
        BASE,
        inner("fixed", "switching_cost", NAN),
        "fixed.switching_cost: must be finite",
    ),
    "fixed inf": (
        BASE,
        inner("fixed", "homogenization", INF),
        "fixed.homogenization: must be finite",
    ),
    "fixed -inf": (
        BASE,
        inner("fixed", "demand_growth", -INF),
        "fixed.demand_growth: must be finite",
    ),
    "list nan": (
        BASE,
        inner("parameters", "switching_cost", [0.5, NAN]),
        "parameters.switching_cost.1: must be finite",
    ),
    "list inf": (
        BASE,
        inner("parameters", "switching_cost", [INF]),
        "parameters.switching_cost.0: must be finite",
    ),
    "list -inf": (
        BASE,
        inner("parameters", "homogenization", [-INF, 0.1]),
        "parameters.homogenization.0: must be finite",
    ),
    "range low nan": (SAMPLED, bound("low", NAN), "ranges.switching_cost.low: must be finite"),
    "range high inf": (SAMPLED, bound("high", INF), "ranges.switching_cost.high: must be finite"),
    "range low -inf": (SAMPLED, bound("low", -INF), "ranges.switching_cost.low: must be finite"),
    "range span overflows": (
        SAMPLED,
        lambda s: s["ranges"].__setitem__("homogenization", {"low": -1e308, "high": 1e308}),
        "high - low must be finite",
    ),
    "range low == high": (SAMPLED, bound("high", 0.5), "low must be < high"),
    "range log from 0": (
        SAMPLED,
        lambda s: s["ranges"]["switching_cost"].update(low=0.0, scale="log"),
        "log scale needs low > 0",
    ),
    "range low a string": (SAMPLED, bound("low", "0.5"), "ranges.switching_cost.low"),
    "range high a boolean": (SAMPLED, bound("high", True), "ranges.switching_cost.high"),
    "range integer a number": (SAMPLED, bound("integer", 1), "ranges.switching_cost.integer"),
    "steps a float": (BASE, top("steps", 3.0), "steps: must be an integer"),
    "steps a string": (BASE, top("steps", "3"), "steps: must be an integer"),
    "steps a boolean": (BASE, top("steps", True), "steps: must be an integer"),
    "steps zero": (BASE, top("steps", 0), "steps"),
    "replications a float": (BASE, top("replications", 2.0), "replications"),
    "replications a string": (BASE, top("replications", "2"), "replications"),
    "replications negative": (BASE, top("replications", -1), "replications"),
    "seed a float": (BASE, top("seed", 1.5), "seed"),
    "seed negative": (BASE, top("seed", -1), "seed"),
    "samples nan": (SAMPLED, top("samples", NAN), "samples"),
    "samples a float": (SAMPLED, top("samples", 4.0), "samples"),
    "levels a boolean": ({**SAMPLED, "sampler": "morris"}, top("levels", True), "levels"),
    "sobol samples not a power of 2": (
        {**SAMPLED, "sampler": "sobol"},
        top("samples", 3),
        "samples: sobol",
    ),
    "common_random_numbers a string": (
        BASE,
        top("common_random_numbers", "yes"),
        "common_random_numbers",
    ),
    "common_random_numbers a number": (
        BASE,
        top("common_random_numbers", 1),
        "common_random_numbers",
    ),
    "timeseries a number": (BASE, inner("outputs", "timeseries", 1), "outputs.timeseries"),
    "name a number": (BASE, top("name", 3), "name"),
    "scenario empty": (BASE, top("scenario", ""), "scenario"),
    "scenario missing": (BASE, drop("scenario"), "scenario"),
    "unknown key": (BASE, top("replication", 2), "replication: unknown key"),
    "list mixes kinds": (
        BASE,
        inner("parameters", "switching_cost", [0.5, "high"]),
        "parameters.switching_cost",
    ),
    "empty list": (BASE, inner("parameters", "switching_cost", []), "parameters.switching_cost"),
    "a 999,000-run grid": (BASE, huge_grid, "--yes: this sweep is large (999,000 runs"),
    "100,000 replications": (BASE, top("replications", 100_000), "--yes"),
}


def test_there_are_at_least_30_mutations_some_non_finite() -> None:
    assert len(MUTATIONS) >= 30
    assert sum("finite" in expected for *_, expected in MUTATIONS.values()) >= 10


@pytest.mark.parametrize("name", MUTATIONS)
def test_a_mutated_spec_is_refused_cleanly(name: str, tmp_path: Path) -> None:
    base, edit, expected = MUTATIONS[name]
    spec = copy.deepcopy(base)
    edit(spec)
    path = write_spec(tmp_path, spec)
    out = tmp_path / "out"
    code, stdout, err = run_cli(["sweep", str(path), "--out", str(out), "--executor", "serial"])
    assert code == 2, (stdout, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and stdout == ""
    assert expected in err, err
    assert not out.exists()


def test_a_large_sweep_starts_with_yes_after_showing_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tokenmarket.runs import sweep

    monkeypatch.setattr(sweep, "LARGE_SWEEP_RUNS", 3)  # BASE has 4 runs
    path = write_spec(tmp_path, BASE)
    argv = ["sweep", str(path), "--executor", "serial", "--out"]
    code, _, err = run_cli([*argv, str(tmp_path / "refused")])
    assert code == 2 and "--yes: this sweep is large (4 runs, about" in err
    assert not (tmp_path / "refused").exists()
    code, stdout, err = run_cli([*argv, str(tmp_path / "started"), "--yes"])
    assert code == 0, err
    assert stdout.startswith("large sweep: 4 runs, about ") and "4 of 4 runs done" in stdout
