"""The Calvano et al. (2020) replication: the static game against the paper's numbers, the
Q-learning kernel against its definition, learning that can be checked, determinism across
executors, and the `tokenmarket calvano` command's input rule and JSON."""

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenmarket.model import qlearning, theory
from tokenmarket.runs import calvano, cli
from tokenmarket.runs.executors import ProcessExecutor

BASELINE = calvano.Game()
FAST_BETA = 1e-4  # exploration over ~2e5 periods: a session in ~0.1 s, same economics
# The 15-point grid for xi = 0.1 (calibration-sources A.1, from the paper's definition).
PAPER_GRID = [
    1.4277, 1.4665, 1.5052, 1.5440, 1.5827, 1.6215, 1.6602, 1.6990,
    1.7377, 1.7764, 1.8152, 1.8539, 1.8927, 1.9314, 1.9702,
]  # fmt: skip


@pytest.fixture(scope="module")
def fast_sessions() -> list[calvano.SessionResult]:
    """Twelve baseline duopoly sessions with fast-decaying exploration."""
    return calvano.run_experiment(calvano.sessions(BASELINE, 12, seed=3, beta=FAST_BETA))


# --------------------------------------------------------------------------- static game
def test_benchmarks_are_the_papers() -> None:
    shared = calvano.setup(BASELINE)
    np.testing.assert_allclose(shared.nash_prices, 1.47293, atol=5e-6)
    np.testing.assert_allclose(shared.monopoly_prices, 1.92498, atol=5e-6)
    np.testing.assert_allclose(shared.nash_profits, 0.22293, atol=5e-6)
    np.testing.assert_allclose(shared.monopoly_profits, 0.33749, atol=5e-6)
    three = calvano.setup(calvano.Game(n_firms=3))
    np.testing.assert_allclose(three.nash_prices, 1.37016, atol=5e-6)
    np.testing.assert_allclose(three.monopoly_prices, 2.0, atol=5e-6)


def test_grid_is_the_papers() -> None:
    grid = calvano.setup(BASELINE).grid
    assert grid.shape == (2, 15)
    np.testing.assert_allclose(grid[0], PAPER_GRID, atol=5e-5)
    np.testing.assert_array_equal(grid[0], grid[1])


def test_asymmetric_grids_span_each_firms_benchmarks() -> None:
    shared = calvano.setup(calvano.Game(costs=(1.0, 0.875)))
    span = shared.monopoly_prices - shared.nash_prices
    np.testing.assert_allclose(shared.grid[:, 0], shared.nash_prices - 0.1 * span)
    np.testing.assert_allclose(shared.grid[:, -1], shared.monopoly_prices + 0.1 * span)
    assert shared.nash_prices[1] < shared.nash_prices[0]  # the low-cost firm prices lower


def test_profit_table_is_logit_profit_at_each_profile() -> None:
    game = calvano.Game(n_firms=3, costs=(1.0, 0.9, 0.8), grid_points=4)
    shared = calvano.setup(game)
    for actions in itertools.product(range(4), repeat=3):
        prices = shared.grid[[0, 1, 2], list(actions)]
        weights = np.exp((game.quality - prices) / game.mu)
        shares = weights / (weights.sum() + np.exp(game.outside_quality / game.mu))
        state = qlearning.profile_index(actions, 4)
        np.testing.assert_allclose(shared.profits[state], (prices - [1.0, 0.9, 0.8]) * shares)
        np.testing.assert_allclose(shared.prices(state), prices)


def test_initial_q_is_profit_against_uniform_rivals_discounted() -> None:
    m, n, delta = 3, 3, 0.9
    profits = np.random.default_rng(0).random((m**n, n))
    q = qlearning.initial_q(profits, m, delta)
    assert q.shape == (n, m**n, m)
    for firm, own in itertools.product(range(n), range(m)):
        total = 0.0
        for rivals in itertools.product(range(m), repeat=n - 1):
            actions = [*rivals[:firm], own, *rivals[firm:]]
            total += profits[qlearning.profile_index(actions, m), firm]
        expected = total / ((1 - delta) * m ** (n - 1))
        np.testing.assert_allclose(q[firm, :, own], expected)  # the same in every state


# --------------------------------------------------------------------------- kernel
@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 3), st.floats(-5, 5), st.floats(0.01, 1)),
        min_size=1,
        max_size=60,
    )
)
def test_update_q_keeps_greedy_the_argmax(updates: list[tuple[int, int, float, float]]) -> None:
    q = np.zeros((1, 3, 4))
    greedy = qlearning.greedy_actions(q)
    for state, action, target, alpha in updates:
        before = greedy.copy()
        expected = (1 - alpha) * q[0, state, action] + alpha * target
        changed = qlearning.update_q(q, greedy, 0, state, action, target, alpha)
        assert q[0, state, action] == expected
        np.testing.assert_array_equal(greedy, np.argmax(q, axis=2))
        assert changed == (not np.array_equal(before, greedy))


def test_limit_cycle_follows_the_strategies() -> None:
    m = 3
    index = {a: qlearning.profile_index(a, m) for a in itertools.product(range(m), repeat=2)}
    strategy = np.zeros((2, m * m), dtype=np.int64)  # everyone plays (0, 0) ...
    strategy[:, index[(0, 0)]] = 2  # ... except after (0, 0): then (2, 2), which leads back
    assert qlearning.limit_cycle(strategy, index[(1, 0)], m) == [index[(0, 0)], index[(2, 2)]]
    assert qlearning.limit_cycle(np.ones_like(strategy), index[(2, 0)], m) == [index[(1, 1)]]


def test_a_lone_learner_finds_the_best_grid_price_in_every_state() -> None:
    # One firm, Q from zero: the greedy policy must become the static optimum on the grid,
    # whatever last period's price (payoffs do not depend on the state).
    grid = np.linspace(1.2, 2.4, 9)
    shares = theory.logit_shares(grid[:, None], 2.0, 0.25)[:, 0]
    profits = ((grid - 1.0) * shares)[:, None]
    q = np.zeros((1, 9, 9))
    greedy = qlearning.greedy_actions(q)
    periods, _, converged = qlearning.learn(
        q, greedy, profits, 0.15, 1e-4, 0.5, 100_000, 5_000_000, np.random.default_rng(7)
    )
    assert converged and periods < 5_000_000
    np.testing.assert_array_equal(greedy[0], np.argmax(profits[:, 0]))


def test_duopoly_learns_prices_well_above_nash(fast_sessions) -> None:
    gains = np.array([r.profit_gain for r in fast_sessions])
    assert all(r.converged for r in fast_sessions)
    half_width = 2 * gains.std(ddof=1) / np.sqrt(len(gains))
    assert gains.mean() - half_width > 0.4  # the paper: about 0.85 at beta = 4e-6
    shared = calvano.setup(BASELINE)
    for result in fast_sessions:
        assert result.cycle_prices.shape == (result.cycle_length, 2)
        assert np.isin(result.cycle_prices, shared.grid[0]).all()


def test_a_deviation_is_punished(fast_sessions) -> None:
    shared = calvano.setup(BASELINE)
    responses = calvano.impulse_responses(fast_sessions, shared, periods=15)
    assert set(responses["period"]) == set(range(16))
    for result in fast_sessions:
        start = result.cycle[-1]
        path = calvano.impulse_response(shared, result.strategy, start, deviator=0)
        rival = result.strategy[1, start]
        assert path[1, 1] == shared.grid[1, rival]  # the rival plays its strategy in period 1
        deviation = qlearning.profile_index(
            [np.searchsorted(shared.grid[0], path[1, 0]), rival], 15
        )
        best = max(shared.profits[qlearning.profile_index([a, rival], 15), 0] for a in range(15))
        assert shared.profits[deviation, 0] == best  # the deviator's static best response
    # Calvano et al. (2020, Fig. 4): the rival cuts its price the period after the deviation.
    rival = responses[responses["firm"] == 1].groupby("period")["price"].mean()
    assert rival[2] < rival[0]


# --------------------------------------------------------------------------- determinism
def test_same_seed_same_sessions_serial_and_on_two_workers() -> None:
    tasks = calvano.sessions(BASELINE, 4, seed=11, beta=FAST_BETA)
    serial = calvano.run_experiment(tasks)
    again = calvano.run_experiment(tasks)
    pooled = calvano.run_experiment(tasks, ProcessExecutor(2))
    for one, two, three in zip(serial, again, pooled, strict=True):
        assert one.periods == two.periods == three.periods
        assert one.cycle == two.cycle == three.cycle
        assert one.profit_gain == two.profit_gain == three.profit_gain
        np.testing.assert_array_equal(one.strategy, three.strategy)
    other = calvano.run_experiment(calvano.sessions(BASELINE, 4, seed=12, beta=FAST_BETA))
    assert [r.periods for r in other] != [r.periods for r in serial]


def test_the_block_size_of_drawn_uniforms_does_not_change_a_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Uniforms are read in a fixed order (period, firm, draw), so cutting the stream into
    # blocks of another size, even one that does not divide the periods, changes nothing.
    session = calvano.sessions(BASELINE, 1, seed=5, beta=FAST_BETA)[0]
    whole = calvano.run_session(session)
    monkeypatch.setattr(qlearning, "BLOCK_PERIODS", 9_973)
    cut = calvano.run_session(session)
    assert (cut.periods, cut.cycle) == (whole.periods, whole.cycle)
    np.testing.assert_array_equal(cut.strategy, whole.strategy)


def test_a_sessions_stream_is_its_child_of_the_experiment_seed() -> None:
    # So sessions are independent streams, and session i is the same in a run of any size.
    children = np.random.SeedSequence(21).spawn(5)
    for index in (0, 4):
        session = calvano.sessions(BASELINE, index + 1, seed=21)[index]
        expected = np.random.default_rng(children[index]).random(8)
        np.testing.assert_array_equal(session.generator().random(8), expected)


# --------------------------------------------------------------------------- CLI
BAD_OPTIONS = [
    (["--sessions", "0"], "--sessions"),
    (["--seed", "-1"], "--seed"),
    (["--firms", "1"], "--firms"),
    (["--firms", "6"], "--firms/--grid"),
    (["--costs", "1,0.9,0.8"], "--costs"),
    (["--costs", "1,x"], "--costs"),
    (["--costs", "2.5"], "--costs"),
    (["--alpha", "1.5"], "--alpha"),
    (["--alpha", "nan"], "--alpha"),
    (["--beta", "0"], "--beta"),
    (["--delta", "1"], "--delta"),
    (["--grid", "1"], "--grid"),
    (["--xi", "-0.1"], "--xi"),
    (["--max-periods", "0"], "--max-periods"),
    (["--workers", "0"], "--workers"),
    (["--executor", "threads"], "--executor"),
]


@pytest.mark.parametrize(("argv", "field"), BAD_OPTIONS)
def test_bad_options_are_one_error_line(argv: list[str], field: str, capsys) -> None:
    code = cli.main(["calvano", *argv])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and field in lines[0]


def test_json_summary_is_the_last_line(capsys) -> None:
    argv = ["calvano", "--sessions", "3", "--beta", "1e-3", "--executor", "serial", "--json"]
    code = cli.main([*argv, "--costs", "1,0.9", "--max-periods", "50000"])
    out, err = capsys.readouterr()
    assert code == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["sessions"] == 3
    for key in ("delta_mean", "delta_sd", "converged_share", "periods_mean", "mean_price"):
        assert isinstance(stats[key], float)
    assert 0 <= stats["converged_share"] <= 1
    assert stats["nash_prices"][1] < stats["nash_prices"][0]  # firm 2 has the lower cost
    assert stats["nash_price"] < stats["monopoly_price"]
    assert sum(stats["cycle_length_shares"].values()) == pytest.approx(1.0)
    assert "profit gain Delta" in out
