"""Input errors, and the one way they are worded: `field.path: what is wrong (got value)`."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError


class ScenarioError(ValueError):
    """A scenario, override or file that cannot be used, with a message for a person."""


def read_toml(path: Path, what: str, error: type[ValueError]) -> dict[str, Any]:
    """A TOML file's table; a missing, unreadable or malformed file raises `error`, one line."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{what}: file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{what}: cannot read {str(path)!r}: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise error(f"{what}: {str(path)!r} is not valid TOML: {err}") from None


_MESSAGES = {
    "finite_number": "must be finite",
    "float_type": "must be a number",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
}
"""Strict types: a boolean is not a number and a numeric string not an integer."""


_UNION_BRANCHES = {"int", "float", "bool", "str"}
"""Location parts pydantic adds for each branch of a union (`int | float`): not fields."""


def describe_errors(err: ValidationError, root: type[BaseModel]) -> list[str]:
    """One line per problem, `field.path: what is wrong`; unknown keys list the allowed ones.

    A value refused by every branch of a union is one problem: "must be finite" when it is
    a number but not finite, else the first branch's complaint.
    """
    found: dict[str, tuple[str, str]] = {}
    for e in err.errors():
        where = ".".join(str(part) for part in e["loc"] if part not in _UNION_BRANCHES)
        kind = e["type"]
        value = e.get("input")
        if isinstance(value, float) and not math.isfinite(value):
            kind = "finite_number"  # inf for an integer, nan where a string belongs: not finite
        message = _MESSAGES.get(kind, e["msg"].removeprefix("Value error, "))
        if kind == "extra_forbidden":
            message = f"unknown key; allowed: {', '.join(_allowed_keys(root, e['loc']))}"
        elif isinstance(value, bool | int | float | str) and kind != "value_error":
            message += f" (got {value!r})"
        if where not in found or kind == "finite_number":
            found[where] = (kind, message)
    return [f"{where}: {message}" if where else message for where, (_, message) in found.items()]


def _allowed_keys(root: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """Field names of the table that holds the key at `loc`, walking down from `root`."""
    cls = root
    for part in loc[:-1]:
        if part not in cls.model_fields:
            continue  # a list index, or a dict key such as a parameter name
        candidates = _nested_types(cls.model_fields[str(part)].annotation)
        cls = next((c for c in candidates if issubclass(c, BaseModel)), cls)
    return list(cls.model_fields)


def _nested_types(annotation: Any) -> list[type]:
    """Every class inside an annotation: `list[Region]`, `dict[str, Range]`, `X | None`."""
    found = [annotation] if isinstance(annotation, type) else []
    return found + [t for arg in get_args(annotation) for t in _nested_types(arg)]
