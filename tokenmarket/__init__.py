"""TokenMarket: an agent-based model of the global market for LLM API tokens.

The names a notebook needs, one import away:

    from tokenmarket import TokenMarket, Scenario, load_scenario, knobs_of, market_share_figure
    from tokenmarket import load_spec, run_sweep, make_executor, load_sweep, analyze
    from tokenmarket import explain, waterfall_figure

The code lives in the subpackages `tokenmarket.model`, `tokenmarket.agents` and
`tokenmarket.runs` (the repository's model/, agents/ and runs/ folders). Names are imported
on first use, so `tokenmarket --help` does not pay for pandas and Mesa.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

_HOMES = {
    "TokenMarket": "tokenmarket.model.market",
    "Scenario": "tokenmarket.model.scenario",
    "ScenarioError": "tokenmarket.model.scenario",
    "load_scenario": "tokenmarket.model.scenario",
    "knobs_of": "tokenmarket.model.scenario",
    "load_spec": "tokenmarket.runs.sweep",
    "build_sweep": "tokenmarket.runs.sweep",
    "run_sweep": "tokenmarket.runs.sweep",
    "make_executor": "tokenmarket.runs.executors",
    "builtin_specs": "tokenmarket.runs.sweep",
    "load_sweep": "tokenmarket.runs.analysis",
    "analyze": "tokenmarket.runs.analysis",
    "point_table": "tokenmarket.runs.analysis",
    "sensitivity": "tokenmarket.runs.analysis",
    "market_share_figure": "tokenmarket.runs.plots",
    "explain": "tokenmarket.runs.explain",
    "waterfall_figure": "tokenmarket.runs.plots",
}
"""Public name -> the module that defines it."""

__all__ = [
    "Scenario",
    "ScenarioError",
    "TokenMarket",
    "analyze",
    "build_sweep",
    "builtin_specs",
    "explain",
    "knobs_of",
    "load_scenario",
    "load_spec",
    "load_sweep",
    "make_executor",
    "market_share_figure",
    "point_table",
    "run_sweep",
    "sensitivity",
    "waterfall_figure",
]

if TYPE_CHECKING:
    from tokenmarket.model.market import TokenMarket
    from tokenmarket.model.scenario import Scenario, ScenarioError, knobs_of, load_scenario
    from tokenmarket.runs.analysis import analyze, load_sweep, point_table, sensitivity
    from tokenmarket.runs.executors import make_executor
    from tokenmarket.runs.explain import explain
    from tokenmarket.runs.plots import market_share_figure, waterfall_figure
    from tokenmarket.runs.sweep import build_sweep, builtin_specs, load_spec, run_sweep


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'tokenmarket' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
