"""The strategy registry: names -> strategy classes, found through entry points.

Strategies are plugins. A distribution declares them in the `tokenmarket.strategies`
entry-point group (`name = "package.module:Class"`), and the built-ins are declared the same
way in this project's pyproject.toml, so a third-party strategy can be named in a scenario
file, a sweep spec run by any executor (each worker finds it through its own environment)
and the app, exactly as a built-in. `register` adds one in this process only (a notebook).

This module imports no strategy and, of the model, only its error wording: scenario
validation and the model both read it, and a strategy module is imported when its name is
first used.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ValidationError

from tokenmarket.agents.strategies.base import Strategy, StrategyParams, declared
from tokenmarket.model.errors import describe_errors

GROUP = "tokenmarket.strategies"
"""The entry-point group strategies register in."""

_registered: dict[str, type[Strategy]] = {}


@cache
def _entry_points(path: tuple[str, ...]) -> dict[str, EntryPoint]:
    """Entry points of the group, found on `path` (cached per sys.path: a new site counts)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


@cache
def _load(entry: EntryPoint) -> type[Strategy]:
    return _checked(entry.name, entry.load())


def _checked(name: str, cls: Any) -> type[Strategy]:
    """A Strategy class whose every parameter declares a unit and closed bounds (its knob)."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValueError(f"strategy: {name!r} ({cls!r}) is not a Strategy subclass")
    for field, info in cls.Params.model_fields.items():
        declared = {a for m in info.metadata for a in ("ge", "le") if hasattr(m, a)}
        extra = info.json_schema_extra
        if declared != {"ge", "le"} or not (isinstance(extra, dict) and "unit" in extra):
            raise ValueError(
                f"strategy: {name!r} parameter {field!r} must be declared with "
                "`param(default, unit=..., doc=..., ge=..., le=...)`"
            )
    return cls


def register(name: str) -> Callable[[type[Strategy]], type[Strategy]]:
    """Class decorator: make a strategy available under `name` in this process only."""

    def add(cls: type[Strategy]) -> type[Strategy]:
        _registered[name] = _checked(name, cls)
        return cls

    return add


def names() -> list[str]:
    """Every available strategy name: installed ones sorted, then those of `register`."""
    installed = sorted(_entry_points(tuple(sys.path)))
    return installed + [n for n in _registered if n not in installed]


def get(name: str) -> type[Strategy]:
    """The class registered as `name`; a ValueError lists the known names."""
    if name in _registered:
        return _registered[name]
    installed = _entry_points(tuple(sys.path))
    if name not in installed:
        raise ValueError(f"strategy: unknown strategy {name!r}; one of {names()}")
    return _load(installed[name])


def parse_params(name: str, params: Mapping[str, Any] | None) -> StrategyParams:
    """Validated parameters of strategy `name`; a ValueError names each bad field."""
    model = get(name).Params
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as err:
        problems = [f"strategy_params.{line}" for line in describe_errors(err, model)]
        raise ValueError("; ".join(problems)) from None


def make(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """A new strategy object; a ValueError names the unknown strategy or parameter."""
    return get(name)(parse_params(name, params))


def describe(name: str) -> dict[str, Any]:
    """A strategy's doc line, classifier and parameters (unit, default, bounds, meaning)."""
    cls = get(name)
    return {
        "name": name,
        "doc": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        "classifier": {"learns": False, **cls.classifier},
        "params": [
            {"name": field, **declared(cls.Params, field)} for field in cls.Params.model_fields
        ],
    }
