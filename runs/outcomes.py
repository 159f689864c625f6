"""Custom outcomes of a sweep: one number per run, named in the spec, stored like the built-ins.

A spec's `[outcomes]` table maps a name to either an expression over one of the run's tidy
frames or a reporter function from an installed package:

    [outcomes]
    cn_abroad_36 = "sum(served_mtok) in flows where home_region == 'CN' and cross_border
                    and step == 36"                     # (one line in the file)
    cn_margin = "mean(price_usd_per_mtok - unit_cost_usd_per_mtok) in providers
                 where provider == 'cn_lowcost'"
    cn_invested_36 = "sum(invested_mtok) in flows where home_region == 'CN' and cross_border
                      and step == 36"                   # served abroad from sites abroad
    my_index = "mypackage.reporters:concentration"      # called as f(model) -> float

Expressions are `AGG(EXPR) in FRAME [where CONDITION]`: AGG one of `AGGREGATES`, FRAME one of
`providers`, `market`, `flows`, `sites` (the frames of `TokenMarket.provider_frame()`, ...,
`site_frame()`), EXPR and
CONDITION pandas expressions (`DataFrame.eval`, `DataFrame.query`) restricted to the frame's
column names, numbers, strings, arithmetic, comparisons and and/or/not: no attributes, calls,
subscripts or `@` variables, so an expression cannot run code. A reporter function does run
its package's code, by design (as a Mesa reporter does): name only packages you trust.
Everything is checked when the spec is read; each value is stored in the summary as
`outcome_<name>`, on every row of its run, as the market's are stored as `market_<name>`.
"""

from __future__ import annotations

import ast
import importlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenmarket.model.market import TokenMarket

PREFIX = "outcome_"
"""Column prefix of a custom outcome in a sweep's summary."""

AGGREGATES = ("sum", "mean", "min", "max", "count")
"""How the rows an expression selects become one number (count: rows selected)."""

FRAMES = ("providers", "market", "flows", "sites")

_EXPRESSION = re.compile(
    rf"\s*(?P<agg>{'|'.join(AGGREGATES)})\s*\((?P<expr>.+?)\)\s+in\s+(?P<frame>\w+)"
    r"(?:\s+where\s+(?P<where>.+?))?\s*"
)
_REPORTER = re.compile(r"\s*(?P<module>[A-Za-z_][\w.]*):(?P<function>[A-Za-z_]\w*)\s*")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_ALLOWED_NODES = (
    ast.Expression,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.operator,
    ast.unaryop,
    ast.boolop,
    ast.cmpop,
)


@dataclass(frozen=True)
class Outcome:
    """One validated custom outcome: an expression over a frame, or a reporter function."""

    name: str
    text: str
    aggregate: str | None = None
    expression: str | None = None
    frame: str | None = None
    where: str | None = None
    reporter: Callable[[Any], float] | None = None

    def evaluate(self, model: TokenMarket, frames: Mapping[str, Any]) -> float:
        """The outcome's value for a finished run (NaN when no row is selected)."""
        if self.reporter is not None:
            return float(self.reporter(model))
        frame = frames[str(self.frame)]
        rows = frame.query(self.where, local_dict={}, global_dict={}) if self.where else frame
        if self.aggregate == "count":
            return float(len(rows))
        if rows.empty:
            return math.nan
        values = rows.eval(str(self.expression), local_dict={}, global_dict={})
        return float(getattr(values.astype(float), str(self.aggregate))())


def evaluate_all(outcomes: Mapping[str, str], model: TokenMarket) -> dict[str, float]:
    """Every custom outcome of a finished run, by summary column (`outcome_<name>`)."""
    parsed = parse_outcomes(outcomes)
    frames = (
        {
            "providers": model.provider_frame(),
            "market": model.market_frame(),
            "flows": model.flow_frame(),
            "sites": model.site_frame(),
        }
        if parsed
        else {}
    )
    return {PREFIX + o.name: o.evaluate(model, frames) for o in parsed}


def frame_columns() -> dict[str, list[str]]:
    """The columns of each frame an expression may name (the model's documented columns)."""
    from tokenmarket.model.market import (
        FRAME_KEYS,
        MARKET_COLUMNS,
        PROVIDER_COLUMNS,
        SITE_COLUMNS,
    )

    return {
        "providers": [*FRAME_KEYS, "provider", "region", "strategy", *PROVIDER_COLUMNS],
        "market": [*FRAME_KEYS, *MARKET_COLUMNS],
        "flows": [
            *FRAME_KEYS,
            "developer_region",
            "home_region",
            "served_mtok",
            "cross_border",
            "invested_mtok",
        ],
        "sites": [*FRAME_KEYS, "provider", "home_region", "site_region", *SITE_COLUMNS],
    }


def parse_outcomes(outcomes: Mapping[str, str], reserved: Iterable[str] = ()) -> list[Outcome]:
    """Validate a spec's `[outcomes]`; raise ValueError naming the outcome and the rule.

    A name may not be a built-in market outcome nor one of `reserved` (the spec's parameters),
    so that every outcome of a run has one meaning in the analysis tables.
    """
    if not outcomes:
        return []
    from tokenmarket.model.market import MARKET_COLUMNS

    parsed = []
    columns = frame_columns()
    reserved = {*MARKET_COLUMNS, *reserved}
    for name, text in outcomes.items():
        where = f"outcomes.{name}"
        if not _NAME.fullmatch(name) or name in reserved:
            raise ValueError(
                f"{where}: a name must be lower-case letters, digits and _ and not a built-in "
                "outcome"
            )
        parsed.append(_parse_one(name, text, where, columns))
    return parsed


def _parse_one(name: str, text: str, where: str, columns: dict[str, list[str]]) -> Outcome:
    if match := _EXPRESSION.fullmatch(text):
        frame = match["frame"]
        if frame not in FRAMES:
            raise ValueError(f"{where}: unknown frame {frame!r}; one of {', '.join(FRAMES)}")
        for part in (match["expr"], match["where"]):
            if part is not None:
                _check_expression(part, columns[frame], where, frame)
        return Outcome(name, text, match["agg"], match["expr"], frame, match["where"])
    if match := _REPORTER.fullmatch(text):
        return Outcome(name, text, reporter=_import(match["module"], match["function"], where))
    raise ValueError(
        f"{where}: expected 'AGG(EXPR) in FRAME [where CONDITION]' with AGG one of "
        f"{', '.join(AGGREGATES)} and FRAME one of {', '.join(FRAMES)}, or "
        f"'package.module:function' (got {text!r})"
    )


def _check_expression(text: str, allowed: list[str], where: str, frame: str) -> None:
    """Only column names, constants, arithmetic, comparisons and boolean logic."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"{where}: {text.strip()!r} is not a valid expression") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ValueError(
                f"{where}: {text.strip()!r} may use column names, numbers, strings, "
                f"arithmetic, comparisons and and/or/not only (found {type(node).__name__})"
            )
        if isinstance(node, ast.Name) and node.id not in allowed:
            raise ValueError(
                f"{where}: {node.id!r} is not a column of {frame}; one of {', '.join(allowed)}"
            )


def _import(module: str, function: str, where: str) -> Callable[[Any], float]:
    try:
        found = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"{where}: cannot import {module}:{function} ({err})") from None
    if not callable(found):
        raise ValueError(f"{where}: {module}:{function} is not a function")
    return found
