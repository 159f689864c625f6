"""Which of the seed article's three rationales carries an outcome: a Shapley decomposition.

The outcome (default: the share of Chinese-home providers' tokens served abroad over months
13-36) is compared between the scenario and a counterfactual in which each factor is set to
the other regions' level (or to a neutral reference). A factor is a set of knobs
(`model/parameters.py`) with their counterfactual values; its scenario value is the scenario
as written. Factors are grouped into the article's rationales: `energy` (power price, PUE,
utilization; with a compute market, GPU efficiency), `industrial` (access abroad,
open-weights reach, home bias; with a compute market, domestic accelerators and domestic
models on domestic compute; with sites, investment abroad) and
`globalization` (homogenization, demand growth).

The change is split by the Owen value (Owen 1977, "Values of games with a priori unions"):
the groups play the Shapley game among themselves (Shapley 1953, "A value for n-person
games"), and each group's value is split among its factors by the Shapley value within the
group, the other groups entering as whole blocks. It is efficient (factor values sum to
v(all) - v(none)), a group's factors sum to the group's Shapley value in the game of groups,
and symmetric players get equal shares. It is exact: every coalition it needs is run (with
at most one group split, 8 + 3 x 4 x (2^k - 2) runs per seed for three groups of k).

Every coalition is run on the same seeds (common random numbers), the decomposition is
computed seed by seed, and each contribution is reported as the mean over seeds with a 95%
t-interval; efficiency holds seed by seed, so the means add up too.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tokenmarket.model.errors import ScenarioError
from tokenmarket.model.metrics import cross_border_by_home
from tokenmarket.model.scenario import knobs_of, load_scenario
from tokenmarket.model.schema import Scenario
from tokenmarket.runs.analysis import t_interval
from tokenmarket.runs.executors import Executor, SerialExecutor

GROUPS = ("energy", "industrial", "globalization")
"""The seed article's three rationales, in the order they are reported."""
HOME = "CN"
"""The provider home region whose going global is explained."""
REFERENCE_HOMOGENIZATION = 0.05
"""kappa of the counterfactual: MODEL.md's starting value (slow diffusion), against the
scenario's fast open-weights diffusion."""
MATURE_DEMAND_GROWTH = 0.02
"""Monthly demand growth of the counterfactual: going_global's own rate once adoption
matures (its demand_growth shocks of month 37), i.e. no demand-driven boom."""

type Coalition = frozenset[str]
"""Names of the factors held at their scenario values; the others are counterfactual."""


# ------------------------------------------------------------------ the values
def _weight(size: int, players: int) -> float:
    """Shapley weight |S|! (n - |S| - 1)! / n! of a coalition of `size` others."""
    return math.factorial(size) * math.factorial(players - size - 1) / math.factorial(players)


def _subsets(items: Sequence[str]) -> Iterator[tuple[str, ...]]:
    return itertools.chain.from_iterable(
        itertools.combinations(items, r) for r in range(len(items) + 1)
    )


def shapley_values(players: Sequence[str], value: Callable[[Coalition], float]) -> dict[str, float]:
    """Exact Shapley values of a game with few players (Shapley 1953)."""
    n = len(players)
    values = {}
    for i in players:
        others = [p for p in players if p != i]
        values[i] = math.fsum(
            _weight(len(s), n) * (value(frozenset((*s, i))) - value(frozenset(s)))
            for s in _subsets(others)
        )
    return values


def owen_values(
    groups: Mapping[str, Sequence[str]], value: Callable[[Coalition], float]
) -> dict[str, float]:
    """Exact Owen values (Owen 1977) of the players in `groups` (a partition of them).

    For player i of group k: the Shapley value of i within k, in the game where the other
    groups join as whole blocks with Shapley weights over groups.
    """
    names = list(groups)
    values = {}
    for k in names:
        members = list(groups[k])
        for i in members:
            total = []
            for q in _subsets([g for g in names if g != k]):
                block = frozenset(p for g in q for p in groups[g])
                outer = _weight(len(q), len(names))
                for t in _subsets([p for p in members if p != i]):
                    inner = _weight(len(t), len(members))
                    gain = value(block | {*t, i}) - value(block | set(t))
                    total.append(outer * inner * gain)
            values[i] = math.fsum(total)
    return values


def owen_coalitions(groups: Mapping[str, Sequence[str]]) -> list[Coalition]:
    """Every coalition the Owen value reads: whole groups, plus any part of one group."""
    names = list(groups)
    needed: set[Coalition] = set()
    for k in names:
        for q in _subsets([g for g in names if g != k]):
            block = frozenset(p for g in q for p in groups[g])
            needed.update(block | set(t) for t in _subsets(list(groups[k])))
    return sorted(needed, key=lambda c: (len(c), sorted(c)))


# ------------------------------------------------------------------ factors
@dataclass(frozen=True)
class Factor:
    """A reason for the outcome: knobs and the values they take in the counterfactual."""

    name: str
    group: str
    counterfactual: Mapping[str, Any]
    """Knob -> value when the factor is switched to the counterfactual."""


def _homed_elsewhere(scenario: Scenario, home: str) -> list:
    return [p for p in scenario.all_providers if p.home != home]


def default_factors(scenario: Scenario, home: str = HOME) -> list[Factor]:
    """The going_global factors of the three rationales, with `home` set to the others' level.

    Energy: `home`'s grid price to the mean power price of the providers homed elsewhere
    (its contracts keep their ratio to the grid); its PUE to their mean PUE; its providers'
    target utilization to their mean. Industrial: access of every foreign region to `home`
    to that region's mean access to the other foreign homes; no open-weights reach
    advantage; no home bias. Globalization: slow homogenization (MODEL.md's start value)
    and mature demand growth (the scenario's own post-boom rate), abroad and at home apart:
    a boom abroad draws tokens out, a boom at home keeps them in.
    """
    names = scenario.region_names
    if home not in names:
        raise ScenarioError(f"home: {home!r} is not a region of {scenario.name} ({names})")
    others = _homed_elsewhere(scenario, home)
    ours = [p for p in scenario.all_providers if p.home == home]
    if not others or not ours:
        raise ScenarioError(f"home: {home} and other regions must each home a provider")
    grid = dict(zip(names, (r.electricity_usd_per_kwh for r in scenario.regions), strict=True))
    power = np.mean([p.electricity_usd_per_kwh or grid[p.home] for p in others])
    utilization = np.mean([_target_utilization(p) for p in others])
    matrix = scenario.access_matrix()
    homes = sorted({p.home for p in others})
    access = {}
    for r, region in enumerate(names):
        foreign = [names.index(h) for h in homes if h != region]
        if region != home and foreign:
            access[f"access_{region}_{home}"] = float(matrix[r, foreign].mean())
    return [
        Factor("power price", "energy", {f"electricity_{home}": float(power)}),
        Factor("PUE", "energy", {f"pue_{home}": float(np.mean([p.pue for p in others]))}),
        Factor(
            "utilization target",
            "energy",
            {f"param_{p.name}_target_utilization": float(utilization) for p in ours},
        ),
        *_compute_factors(scenario, home),
        *_site_factors(scenario, home),
        Factor("access abroad", "industrial", access),
        Factor("open-weights reach", "industrial", {"open_weights_awareness": 1.0}),
        Factor("home bias", "industrial", {"home_bias": 0.0}),
        Factor("homogenization", "globalization", {"homogenization": REFERENCE_HOMOGENIZATION}),
        Factor(
            "demand growth abroad",
            "globalization",
            {f"demand_growth_{r}": MATURE_DEMAND_GROWTH for r in names if r != home},
        ),
        Factor(
            f"demand growth in {home}",
            "globalization",
            {f"demand_growth_{home}": MATURE_DEMAND_GROWTH},
        ),
    ]


def _compute_factors(scenario: Scenario, home: str) -> list[Factor]:
    """With a compute market: the GPUs `home` may buy, and its own accelerators' efficiency.

    Energy: `GPU efficiency`, export controls on `home` off, so it buys the frontier GPU as
    the other regions do (energy and capex per token at their level). Industrial: `domestic
    accelerators`, the GPUs designed in `home` as efficient as the reference GPU, the
    others' own industry; `domestic models on domestic compute`, models ported to the
    software stacks of those GPUs from the start (no foreign-platform gap), as models built
    on them would be. None exists without a compute market, controls or a gap.
    """
    controlled = f"export_controls_{home}" in knobs_of(scenario)
    domestic = {f"throughput_{g.name}": 1.0 for g in scenario.gpus[1:] if g.maker == home}
    gaps = {s.name: s.foreign_efficiency for s in scenario.platforms}
    stacks = sorted({g.platform for g in scenario.gpus if g.maker == home and g.platform in gaps})
    ported = {f"platform_efficiency_{s}": 1.0 for s in stacks if gaps[s] < 1.0}
    out = []
    if controlled:
        out.append(Factor("GPU efficiency", "energy", {f"export_controls_{home}": "off"}))
    if domestic:
        out.append(Factor("domestic accelerators", "industrial", domestic))
    if ported:
        out.append(Factor("domestic models on domestic compute", "industrial", ported))
    return out


def _site_factors(scenario: Scenario, home: str) -> list[Factor]:
    """With sites abroad: `investment abroad`, `home`'s firms serve from home only.

    Industrial, not energy or globalization: a firm's site abroad is outward direct
    investment, the instrument of the "going out" industrial policy behind the Chinese
    clouds' regions abroad (docs/calibration.md, cal B.12), and it buys the host's power,
    not home's. Its counterfactual is a neutral reference, no sites abroad, not the other
    regions' level (US firms build abroad too): the factor reads what building abroad adds.
    """
    if f"sites_{home}" not in knobs_of(scenario):
        return []
    return [Factor("investment abroad", "industrial", {f"sites_{home}": "off"})]


def by_group(factors: Sequence[Factor]) -> list[Factor]:
    """One factor per group, all its knobs together: the group Shapley values in 2^groups runs.

    The groups' contributions equal those of the full decomposition (the Owen value sums to
    the Shapley value of the game of groups); only the split within groups is lost.
    """
    merged: dict[str, dict[str, Any]] = {}
    for f in factors:
        merged.setdefault(f.group, {}).update(f.counterfactual)
    return [Factor(group, group, knobs) for group, knobs in merged.items()]


def _target_utilization(provider: Any) -> float:
    from tokenmarket.agents.strategies import registry

    return registry.parse_params(provider.strategy, provider.strategy_params).target_utilization


# ------------------------------------------------------------------ outcomes
def _home_flows(flows: pd.DataFrame, home: str) -> pd.DataFrame:
    return flows[flows["home_region"] == home]


def _invested_share(ours: pd.DataFrame) -> float:
    """Of a home's tokens (its `_home_flows`), the share served abroad from its sites abroad."""
    return float(ours.loc[ours["cross_border"], "invested_mtok"].sum() / ours["served_mtok"].sum())


@dataclass(frozen=True)
class Outcome:
    """A measured outcome: what it means, its axis label, and its value over the window."""

    meaning: str
    axis: str
    """Axis label, with the unit (the value is a share; plots show it in %)."""
    value: Callable[[pd.DataFrame, str], float]
    """Value of a flow_frame restricted to the window's months, for a home region."""


OUTCOMES: dict[str, Outcome] = {
    "share_abroad": Outcome(
        "share of the home region's providers' tokens served abroad",
        "home providers' tokens served abroad (%)",
        lambda flows, home: float(cross_border_by_home(flows).get(home, np.nan)),
    ),
    "share_abroad_invested": Outcome(
        "share of the home region's providers' tokens served abroad from their sites abroad",
        "home providers' tokens served abroad from sites abroad (%)",
        lambda flows, home: _invested_share(_home_flows(flows, home)),
    ),
    "world_share": Outcome(
        "home region's providers' share of all tokens served",
        "home providers' share of tokens served (%)",
        lambda flows, home: float(
            _home_flows(flows, home)["served_mtok"].sum() / flows["served_mtok"].sum()
        ),
    ),
    "cross_border": Outcome(
        "share of all tokens served across a border",
        "tokens served across a border (%)",
        lambda flows, home: float(
            flows.loc[flows["cross_border"], "served_mtok"].sum() / flows["served_mtok"].sum()
        ),
    ),
}
"""The outcomes by name. Shares are token-weighted over the window (the window's tokens, not a
mean of monthly ratios)."""


# ------------------------------------------------------------------ runs
@dataclass(frozen=True)
class Task:
    """One coalition on one seed: the scenario with the other factors counterfactual."""

    coalition: Coalition
    seed: int
    scenario: Scenario
    overrides: Mapping[str, Any]
    months: tuple[int, int]
    outcome: str
    home: str

    @property
    def run_id(self) -> str:
        """Names the task on a Dask dashboard."""
        return f"{'+'.join(sorted(self.coalition)) or 'none'}-{self.seed}".replace(" ", "_")


def run_task(task: Task) -> float:
    """The outcome of one coalition and seed over the window's months."""
    from tokenmarket.model.market import TokenMarket

    model = TokenMarket(task.scenario, rng=task.seed, **task.overrides)
    for _ in range(task.months[1]):
        model.step()
    flows = model.flow_frame()
    return OUTCOMES[task.outcome].value(flows[flows["step"].between(*task.months)], task.home)


def tasks(
    scenario: Scenario,
    factors: Sequence[Factor],
    seeds: Sequence[int],
    months: tuple[int, int],
    outcome: str,
    home: str = HOME,
) -> list[Task]:
    """Every coalition the Owen value needs, on every seed (the same seeds for each)."""
    groups = _grouped(factors)
    out = []
    for coalition in owen_coalitions(groups):
        overrides: dict[str, Any] = {}
        for f in factors:
            if f.name not in coalition:
                overrides |= f.counterfactual
        out.extend(
            Task(coalition, seed, scenario, overrides, months, outcome, home) for seed in seeds
        )
    return out


def _grouped(factors: Sequence[Factor]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for f in factors:
        groups.setdefault(f.group, []).append(f.name)
    return groups


@dataclass(frozen=True)
class Explanation:
    """A decomposition: the change, each group's and factor's contribution, per seed too."""

    outcome: str
    scenario_value: float
    counterfactual_value: float
    total_change: float
    groups: pd.DataFrame
    """group, contribution, ci_low, ci_high (mean and 95% t-interval over seeds)."""
    factors: pd.DataFrame
    """group, factor, contribution, ci_low, ci_high, counterfactual (knob -> value)."""
    per_seed: pd.DataFrame
    """seed, group, factor, contribution: the Owen value computed on each seed alone."""

    def to_json(self) -> dict[str, Any]:
        """`outcome`, `total_change`, the two end values, and `groups` with their factors."""
        groups = []
        for row in self.groups.itertuples():
            mine = self.factors[self.factors["group"] == row.group]
            groups.append(
                {
                    "group": row.group,
                    "contribution": row.contribution,
                    "ci_low": row.ci_low,
                    "ci_high": row.ci_high,
                    "factors": [
                        {
                            "factor": f.factor,
                            "contribution": f.contribution,
                            "ci_low": f.ci_low,
                            "ci_high": f.ci_high,
                            "counterfactual": dict(f.counterfactual),
                        }
                        for f in mine.itertuples()
                    ],
                }
            )
        return {
            "outcome": self.outcome,
            "scenario_value": self.scenario_value,
            "counterfactual_value": self.counterfactual_value,
            "total_change": self.total_change,
            "groups": groups,
        }


def decompose(
    results: Mapping[tuple[Coalition, int], float],
    factors: Sequence[Factor],
    seeds: Sequence[int],
    outcome: str,
) -> Explanation:
    """The Owen decomposition on each seed, then means and t-intervals over seeds."""
    groups = _grouped(factors)
    everyone = frozenset(f.name for f in factors)
    rows = []
    ends = []
    for seed in seeds:
        values = owen_values(groups, lambda c, s=seed: results[(c, s)])
        ends.append((results[(everyone, seed)], results[(frozenset(), seed)]))
        rows.extend(
            {"seed": seed, "group": f.group, "factor": f.name, "contribution": values[f.name]}
            for f in factors
        )
    per_seed = pd.DataFrame(rows)

    def summarize(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        out = []
        for key, part in frame.groupby(keys, sort=False):
            low, high = t_interval(part["contribution"])
            labels = dict(zip(keys, key, strict=True))
            mean = part["contribution"].mean()
            out.append(labels | {"contribution": mean, "ci_low": low, "ci_high": high})
        return pd.DataFrame(out)

    seed_groups = per_seed.groupby(["seed", "group"], sort=False, as_index=False)["contribution"]
    group_table = summarize(seed_groups.agg(math.fsum), ["group"])
    factor_table = summarize(per_seed, ["group", "factor"])
    knobs = {f.name: dict(f.counterfactual) for f in factors}
    factor_table["counterfactual"] = factor_table["factor"].map(knobs)
    scenario_value, counterfactual_value = (float(np.mean(v)) for v in zip(*ends, strict=True))
    return Explanation(
        outcome,
        scenario_value,
        counterfactual_value,
        float(np.mean([a - b for a, b in ends])),
        group_table,
        factor_table,
        per_seed,
    )


@dataclass(frozen=True)
class Plan:
    """What a decomposition runs: the scenario, its factors, the seeds and every task."""

    scenario: Scenario
    factors: list[Factor]
    seeds: list[int]
    outcome: str
    tasks: list[Task]


def plan(
    scenario: str | Scenario = "going_global",
    outcome: str = "share_abroad",
    months: tuple[int, int] = (13, 36),
    seeds: int = 5,
    developers: int | None = 5000,
    factors: Sequence[Factor] | None = None,
    **knobs: Any,
) -> Plan:
    """Check the inputs and list the runs; a bad value is a ScenarioError, before any run.

    `knobs` set the scenario first (e.g. `cost_view="operating"`); `developers` sets
    `n_developers` (None: the scenario's). `factors`: default `default_factors`.
    """
    if outcome not in OUTCOMES:
        raise ScenarioError(f"outcome: must be one of {list(OUTCOMES)} (got {outcome!r})")
    if seeds < 2:
        raise ScenarioError(f"seeds: must be an integer >= 2 for an interval (got {seeds})")
    if not 1 <= months[0] <= months[1]:
        raise ScenarioError(f"months: must be A-B with 1 <= A <= B (got {months[0]}-{months[1]})")
    base = dict(knobs) | ({} if developers is None else {"n_developers": developers})
    spec = load_scenario(scenario, **base)
    chosen = list(factors) if factors is not None else default_factors(spec)
    names = [f.name for f in chosen]
    if not chosen or len(set(names)) < len(names):
        raise ScenarioError(f"factors: need one or more, each named once (got {names})")
    for f in chosen:
        load_scenario(spec, **f.counterfactual)  # a bad factor fails here, before any run
    seed_list = list(range(seeds))
    return Plan(spec, chosen, seed_list, outcome, tasks(spec, chosen, seed_list, months, outcome))


def execute(
    todo: Plan, executor: Executor | None = None, on_done: Callable[[], Any] | None = None
) -> Explanation:
    """Run the plan's tasks on `executor` (default: this process) and decompose."""
    results: dict[tuple[Coalition, int], float] = {}
    with executor or SerialExecutor() as running:
        for done in running.run(run_task, todo.tasks):
            if not done.ok:
                raise RuntimeError(f"run {done.task.run_id} failed: {done.error}")
            results[(done.task.coalition, done.task.seed)] = done.value
            if on_done is not None:
                on_done()
    return decompose(results, todo.factors, todo.seeds, todo.outcome)


def explain(
    scenario: str | Scenario = "going_global",
    outcome: str = "share_abroad",
    months: tuple[int, int] = (13, 36),
    seeds: int = 5,
    developers: int | None = 5000,
    executor: Executor | None = None,
    factors: Sequence[Factor] | None = None,
    **knobs: Any,
) -> Explanation:
    """Decompose `outcome` between `scenario` and its counterfactual into the three rationales.

    The arguments are `plan`'s; the runs go to `executor` (default: this process).
    """
    return execute(plan(scenario, outcome, months, seeds, developers, factors, **knobs), executor)


def report(result: Explanation) -> str:
    """The decomposition as a table: each group, its factors indented, 95% intervals."""
    meaning = OUTCOMES[result.outcome].meaning
    width = max(24, *(len(name) + 2 for name in result.factors["factor"]))
    lines = [
        f"{result.outcome} ({meaning}), mean over {result.per_seed['seed'].nunique()} seeds:",
        f"  scenario {result.scenario_value:.4f}, counterfactual "
        f"{result.counterfactual_value:.4f}, change {result.total_change:+.4f}",
        "",
        f"  {'contribution (95% CI)':>{width + 22}}",
    ]
    for g in result.groups.itertuples():
        lines.append(f"  {g.group:<{width + 2}}{_cell(g.contribution, g.ci_low, g.ci_high)}")
        for f in result.factors[result.factors["group"] == g.group].itertuples():
            lines.append(f"    {f.factor:<{width}}{_cell(f.contribution, f.ci_low, f.ci_high)}")
    lines.append(f"  {'total':<{width + 2}}{result.total_change:+.4f}")
    return "\n".join(lines)


def _cell(mean: float, low: float, high: float) -> str:
    return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"


def count_runs(factors: Iterable[Factor], seeds: int) -> int:
    """Model runs a decomposition needs: the Owen coalitions times the seeds."""
    return len(owen_coalitions(_grouped(list(factors)))) * seeds
