"""The Calvano, Calzolari, Denicolò & Pastorello (2020, AER 110(10)) experiment.

n firms sell differentiated goods with logit demand and an outside good; each period they
set prices from a grid of m points on [p^N - xi (p^M - p^N), p^M + xi (p^M - p^N)], p^N the
static Bertrand-Nash and p^M the joint-monopoly prices (``model.theory``). Each firm is a
Q-learner (``model.qlearning``) whose state is last period's price profile. A session runs
until the greedy strategies have not changed for 100,000 periods; its outcome is the cycle
those strategies then repeat, scored by the profit gain

    Delta = (pi_bar - pi^N) / (pi^M - pi^N),

0 at the static Nash profit and 1 at the joint-monopoly profit. With asymmetric costs the
profits are summed over firms (the joint-profit scale), and each firm's grid is spanned by
its own p^N_i and p^M_i. The paper's baseline is the default of every knob here.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tokenmarket.model import qlearning, theory
from tokenmarket.model.qlearning import FloatArray, IntArray
from tokenmarket.runs.executors import Executor, SerialExecutor

ALPHA = 0.15
"""Learning rate of the paper's representative experiment."""
BETA = 4e-6
"""Exploration decay (eps_t = exp(-beta t)) of the paper's representative experiment."""


@dataclass(frozen=True, slots=True)
class Game:
    """The stage game and the learners' horizon; defaults are the paper's baseline.

    Prices, costs and qualities are in one currency unit per unit of the good; demand has
    unit mass. ``costs`` holds one marginal cost per firm, or one for all.
    """

    n_firms: int = 2
    costs: tuple[float, ...] = (1.0,)
    quality: float = 2.0
    """a_i, the same for every firm (a_i - c_i = 1 in the baseline)."""
    outside_quality: float = 0.0
    """a_0 of the outside good."""
    mu: float = 0.25
    """Logit scale: horizontal differentiation."""
    delta: float = 0.95
    """Per-period discount factor of the learners."""
    grid_points: int = 15
    xi: float = 0.1
    """How far the grid reaches below p^N and above p^M, as a share of p^M - p^N."""

    def __post_init__(self) -> None:
        """Costs as a tuple of floats, so that a game is hashable (``setup`` caches by game)."""
        object.__setattr__(self, "costs", tuple(float(c) for c in np.atleast_1d(self.costs)))

    def firm_costs(self) -> FloatArray:
        """One marginal cost per firm."""
        return np.broadcast_to(np.asarray(self.costs, dtype=np.float64), (self.n_firms,)).copy()


@dataclass(frozen=True)
class Setup:
    """What every session of a game shares: benchmarks, grids and the profit table."""

    game: Game
    nash_prices: FloatArray
    monopoly_prices: FloatArray
    nash_profits: FloatArray
    monopoly_profits: FloatArray
    grid: FloatArray
    """(n_firms, m) prices, firm i's grid in row i."""
    profits: FloatArray
    """(m^n, n_firms) per-period profits at each profile (``model.qlearning`` indexing)."""

    def prices(self, state: int) -> FloatArray:
        """The price of each firm at a profile index."""
        n_firms, m = self.grid.shape
        return self.grid[np.arange(n_firms), qlearning.profile_actions(state, n_firms, m)]

    def profit_gain(self, profits: FloatArray) -> float:
        """Delta of per-firm profits: 0 at static Nash, 1 at joint monopoly (profits summed)."""
        nash, monopoly = self.nash_profits.sum(), self.monopoly_profits.sum()
        return float((np.sum(profits) - nash) / (monopoly - nash))


def price_grid(nash: FloatArray, monopoly: FloatArray, points: int, xi: float) -> FloatArray:
    """Each firm's m equally spaced prices on [p^N - xi (p^M - p^N), p^M + xi (p^M - p^N)]."""
    span = monopoly - nash
    return np.linspace(nash - xi * span, monopoly + xi * span, points, axis=1)


def stage_profits(game: Game, prices: FloatArray) -> FloatArray:
    """Per-period profits (p_i - c_i) q_i(p) at price profiles (firms on the last axis)."""
    shares = theory.logit_shares(prices, game.quality, game.mu, game.outside_quality)
    return (prices - game.firm_costs()) * shares


def profit_table(game: Game, grid: FloatArray) -> FloatArray:
    """Each firm's per-period profit at every profile of grid prices, (m^n, n_firms)."""
    n_firms, m = grid.shape
    actions = np.arange(m**n_firms)[:, None] // m ** np.arange(n_firms) % m
    return stage_profits(game, grid[np.arange(n_firms), actions])


@functools.lru_cache(maxsize=8)
def setup(game: Game) -> Setup:
    """Solve the static benchmarks and build grid and profit table (cached per process)."""
    args = (game.quality, game.firm_costs(), game.mu, game.outside_quality)
    nash = theory.logit_nash_prices(*args)
    monopoly = theory.joint_monopoly_prices(*args)
    grid = price_grid(nash, monopoly, game.grid_points, game.xi)
    return Setup(
        game, nash, monopoly, stage_profits(game, nash), stage_profits(game, monopoly), grid,
        profit_table(game, grid),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Session:
    """One learning session: a game, the learners' knobs and the session's own seed."""

    game: Game
    index: int
    seed: int
    """The experiment's seed: with ``index`` it fixes the session's draws (``generator``)."""
    alpha: float = ALPHA
    beta: float = BETA
    max_periods: int = qlearning.MAX_PERIODS
    stable_periods: int = qlearning.STABLE_PERIODS

    @property
    def run_id(self) -> str:
        """Names the session's task on a Dask dashboard."""
        return f"{self.index:06d}"

    def generator(self) -> np.random.Generator:
        """The session's own stream: child ``index`` of ``SeedSequence(seed)``.

        The same as ``SeedSequence(seed).spawn(n)[index]`` for any n > index, so sessions are
        independent streams, and one session's draws do not depend on how many run.
        """
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(self.index,)))


@dataclass(frozen=True)
class SessionResult:
    """A finished session: convergence, the limit cycle and its profit gain."""

    index: int
    converged: bool
    periods: int
    cycle: list[int]
    """The profiles (state indices) the greedy strategies repeat, in order of play."""
    cycle_prices: FloatArray
    """(cycle length, n_firms) prices along the cycle."""
    profit_gain: float
    strategy: IntArray = field(repr=False)
    """(n_firms, m^n) greedy action of each firm in each state: the learned strategies."""

    @property
    def cycle_length(self) -> int:
        """Periods in the limit cycle (1: constant prices)."""
        return len(self.cycle)


def sessions(
    game: Game,
    count: int,
    seed: int,
    alpha: float = ALPHA,
    beta: float = BETA,
    max_periods: int = qlearning.MAX_PERIODS,
) -> list[Session]:
    """The tasks of an experiment: ``count`` sessions of one game, seeded from ``seed``."""
    return [Session(game, index, seed, alpha, beta, max_periods) for index in range(count)]


def run_session(session: Session) -> SessionResult:
    """Learn from the paper's initial Q, then read off the greedy strategies' limit cycle."""
    shared = setup(session.game)
    m = session.game.grid_points
    q = qlearning.initial_q(shared.profits, m, session.game.delta)
    greedy = qlearning.greedy_actions(q)
    periods, state, converged = qlearning.learn(
        q, greedy, shared.profits, session.alpha, session.beta, session.game.delta,
        session.stable_periods, session.max_periods, session.generator(),
    )  # fmt: skip
    cycle = qlearning.limit_cycle(greedy, state, m)
    mean_profits = shared.profits[cycle].mean(axis=0)
    return SessionResult(
        session.index, bool(converged), int(periods), cycle,
        np.array([shared.prices(s) for s in cycle]), shared.profit_gain(mean_profits), greedy,
    )  # fmt: skip


def warm_up() -> None:
    """Compile the kernel here once (numba caches it on disk), before workers start."""
    run_session(Session(Game(), 0, 0, beta=1.0, max_periods=10))


def run_experiment(
    tasks: Iterable[Session],
    executor: Executor | None = None,
    on_done: Callable[[SessionResult], None] | None = None,
) -> list[SessionResult]:
    """Run the sessions on ``executor`` (default: this process), in index order.

    A session's result depends on its seed only, so any executor gives the same list.
    """
    warm_up()
    results = []
    with executor or SerialExecutor() as running:
        for done in running.run(run_session, tasks):
            if not done.ok:
                raise RuntimeError(f"session {done.task.index} failed: {done.error}")
            results.append(done.value)
            if on_done is not None:
                on_done(done.value)
    return sorted(results, key=lambda result: result.index)


def summary(results: list[SessionResult], shared: Setup) -> dict[str, object]:
    """Means and spreads over sessions, the benchmarks, and the shares of cycle lengths.

    Every session counts, converged or not (a session stopped at the cap is scored on the
    cycle of its greedy strategies then); ``converged_share`` says how many converged.
    """
    gains = np.array([r.profit_gain for r in results])
    prices = np.array([r.cycle_prices.mean(axis=0) for r in results])
    lengths = Counter(r.cycle_length for r in results)
    return {
        "sessions": len(results),
        "delta_mean": float(gains.mean()),
        "delta_sd": float(gains.std(ddof=1)) if len(results) > 1 else None,
        "converged_share": float(np.mean([r.converged for r in results])),
        "periods_mean": float(np.mean([r.periods for r in results])),
        "mean_price": float(prices.mean()),
        "mean_prices": prices.mean(axis=0).tolist(),
        "nash_price": float(shared.nash_prices.mean()),
        "nash_prices": shared.nash_prices.tolist(),
        "monopoly_price": float(shared.monopoly_prices.mean()),
        "monopoly_prices": shared.monopoly_prices.tolist(),
        "cycle_length_shares": {
            str(length): count / len(results) for length, count in sorted(lengths.items())
        },
    }


def static_best_response(shared: Setup, firm: int, state: int) -> int:
    """The grid index that maximizes ``firm``'s one-period profit, rivals as in ``state``."""
    m = shared.game.grid_points
    own = qlearning.profile_actions(state, shared.game.n_firms, m)[firm]
    base = state - own * m**firm
    return int(np.argmax(shared.profits[base + np.arange(m) * m**firm, firm]))


def impulse_response(
    shared: Setup, strategy: IntArray, state: int, deviator: int = 0, periods: int = 15
) -> FloatArray:
    """Prices (periods + 1, n_firms) after one forced deviation from profile ``state``.

    Period 0 is ``state`` itself (take it on the limit cycle). In period 1 the rivals play
    their strategies and ``deviator`` plays its static best response to their period-1
    prices; from period 2 on everyone follows the learned strategies again. Calvano et al.
    (2020, Section IV, Figure 4) find a price war that punishes the deviation, then a
    gradual return to the pre-deviation prices.
    """
    m = shared.game.grid_points
    weights = m ** np.arange(shared.game.n_firms)
    path = [state]
    actions = strategy[:, state].copy()
    actions[deviator] = static_best_response(shared, deviator, int(actions @ weights))
    path.append(int(actions @ weights))
    for _ in range(periods - 1):
        path.append(int(strategy[:, path[-1]] @ weights))
    return np.array([shared.prices(s) for s in path])


def impulse_responses(
    results: list[SessionResult], shared: Setup, periods: int = 15
) -> pd.DataFrame:
    """Tidy prices after a deviation of firm 0 from each session's last cycle profile.

    Columns: session, period (0 = before the deviation), firm, price (currency unit).
    """
    frames = []
    for result in results:
        prices = impulse_response(shared, result.strategy, result.cycle[-1], 0, periods)
        frame = pd.DataFrame(prices, columns=range(prices.shape[1])).rename_axis("period")
        frame = frame.reset_index().melt(id_vars="period", var_name="firm", value_name="price")
        frames.append(frame.assign(session=result.index))
    return pd.concat(frames, ignore_index=True)[["session", "period", "firm", "price"]]


def report(stats: dict, game: Game, alpha: float, beta: float) -> str:
    """The experiment's parameters and outcome as a short table (the CLI's output)."""
    costs = ", ".join(f"{c:g}" for c in game.firm_costs())
    lengths = stats["cycle_length_shares"]
    sd = "n/a" if stats["delta_sd"] is None else f"{stats['delta_sd']:.3f}"
    rows = [
        ("sessions", f"{stats['sessions']:,} (converged: {stats['converged_share']:.1%})"),
        ("periods per session", f"{stats['periods_mean']:,.0f} (mean)"),
        ("profit gain Delta", f"{stats['delta_mean']:.3f} (mean), {sd} (sd)"),
        ("mean price", f"{stats['mean_price']:.4f}"),
        ("Nash price", f"{stats['nash_price']:.4f}"),
        ("monopoly price", f"{stats['monopoly_price']:.4f}"),
        ("cycle length shares", ", ".join(f"{k}: {v:.1%}" for k, v in lengths.items())),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(
        [
            f"Calvano et al. (2020) Q-learning experiment: {game.n_firms} firms, costs "
            f"{costs}, alpha {alpha:g}, beta {beta:g}, delta {game.delta:g}, grid "
            f"{game.grid_points}, xi {game.xi:g}",
            *(f"  {label:<{width}}  {value}" for label, value in rows),
        ]
    )
