"""Strategies: the protocol a strategy implements, and the registry that finds them.

Write one by subclassing `Strategy` with a pydantic `Params` model (fields declared with
`param`: unit, bounds, meaning) and register it in your distribution's pyproject.toml:

    [project.entry-points."tokenmarket.strategies"]
    my_rule = "my_package.rules:MyRule"

The built-ins (`builtin.py`) are registered exactly that way.
"""

from tokenmarket.agents.strategies.base import (
    Classifier,
    Decision,
    Firm,
    MarketView,
    PostingParams,
    Strategy,
    StrategyParams,
    capacity_order,
    declared,
    param,
    post,
    redefault,
    scarcity_premium,
    smoothed,
)
from tokenmarket.agents.strategies.registry import (
    GROUP,
    describe,
    get,
    make,
    names,
    parse_params,
    register,
)

__all__ = [
    "GROUP",
    "Classifier",
    "Decision",
    "Firm",
    "MarketView",
    "PostingParams",
    "Strategy",
    "StrategyParams",
    "capacity_order",
    "declared",
    "describe",
    "get",
    "make",
    "names",
    "param",
    "parse_params",
    "post",
    "redefault",
    "register",
    "scarcity_premium",
    "smoothed",
]
