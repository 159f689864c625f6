"""Where scenarios come from: built-in names, TOML files, and flat overrides (knobs).

A scenario is validated once, here, at the edge: every later stage may trust it. Bad input
raises `ScenarioError` with one line per problem, each naming the field and what is allowed.
The schema is `model/schema.py`, the knobs `model/parameters.py`, the synthetic generator
`model/synthetic.py`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tokenmarket.model import parameters
from tokenmarket.model.errors import ScenarioError, describe_errors, read_toml
from tokenmarket.model.schema import Scenario
from tokenmarket.model.synthetic import synthetic_data

__all__ = [
    "Scenario",
    "ScenarioError",
    "builtin_names",
    "describe_builtins",
    "knobs_of",
    "load_scenario",
]


def _validate(data: Mapping[str, Any], source: str) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(describe_errors(err, Scenario))
        raise ScenarioError(f"invalid scenario ({source}): {problems}") from None


def builtin_names() -> list[str]:
    """Names of the built-in scenarios, `synthetic` included."""
    files = resources.files("tokenmarket.model.scenarios").iterdir()
    return sorted([f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml")])


def describe_builtins() -> dict[str, str]:
    """One line per built-in scenario, for `tokenmarket scenarios`."""
    return {name: _read_builtin(name).get("description", "") for name in builtin_names()}


def _read_builtin(name: str) -> dict[str, Any]:
    text = resources.files("tokenmarket.model.scenarios").joinpath(f"{name}.toml").read_text()
    return tomllib.loads(text)


def _synthetic_sizes(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The generator's sizes: the file's, replaced by checked overrides (popped)."""
    sizes = dict(data.pop("synthetic"))
    for parameter in parameters.SYNTHETIC_PARAMETERS:
        if parameter.pattern in overrides:
            name = parameter.pattern
            sizes[name] = parameter.check(name, overrides.pop(name))
    return sizes


def load_scenario(source: str | Path | Scenario, **overrides: Any) -> Scenario:
    """Resolve a built-in name, a TOML path or a `Scenario`, then apply flat overrides.

    The `synthetic` built-in is a generator, not a fixed market: its file holds the default
    sizes, and `n_providers`, `n_regions`, `n_developers` and `synthetic_seed` redraw it.
    """
    return _load(source, overrides)[0]


def knobs_of(source: str | Path | Scenario) -> dict[str, parameters.Knob]:
    """Every knob of a scenario, by name, with its default there (`tokenmarket knobs`)."""
    scenario, sizes = _load(source, {})
    return parameters.knobs(scenario, synthetic=sizes)


def _load(
    source: str | Path | Scenario, overrides: dict[str, Any]
) -> tuple[Scenario, dict[str, Any] | None]:
    overrides, sizes = dict(overrides), None
    if isinstance(source, Scenario):
        scenario = source
    elif isinstance(source, str) and source in builtin_names():
        data = _read_builtin(source)
        if "synthetic" in data:
            sizes = _synthetic_sizes(data, overrides)
            developers = overrides.pop("n_developers", data.get("n_developers"))
            sizes["n_developers"] = parameters.PARAMETERS[0].check("n_developers", developers)
            data = synthetic_data(data, **sizes)
        scenario = _validate(data, source=source)
    else:
        path = Path(source)
        if path.suffix != ".toml" and not path.exists():
            raise ScenarioError(
                f"scenario: {str(source)!r} is neither a built-in ({', '.join(builtin_names())}) "
                "nor a .toml file"
            )
        scenario = _validate(read_toml(path, "scenario", ScenarioError), source=str(path))
    synthetic_only = {p.pattern for p in parameters.SYNTHETIC_PARAMETERS} & set(overrides)
    if synthetic_only:
        raise ScenarioError(
            f"{sorted(synthetic_only)[0]}: only the 'synthetic' scenario takes this parameter"
        )
    name = scenario.name
    scenario = parameters.apply(
        scenario, overrides, lambda d: _validate(d, f"overrides of {name!r}")
    )
    return scenario, sizes
