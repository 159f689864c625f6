"""Tabular Q-learning for repeated pricing games, compiled with numba.

The learners of Calvano, Calzolari, Denicolò & Pastorello (2020, AER 110(10)): each firm
keeps a table Q[s, a] over states s (last period's price profile, memory k = 1) and its own
actions a (indices into a price grid), plays epsilon-greedy with eps_t = exp(-beta t), and
after each period updates the one cell it used,

    Q(s, a) <- (1 - alpha) Q(s, a) + alpha (profit + delta max_a' Q(s', a'))

(Watkins & Dayan 1992, Machine Learning 8). A session stops when no firm's greedy action
has changed in any state for ``stable_periods`` consecutive periods, or at ``max_periods``.

Conventions shared by every function here, so a strategy in the full market can reuse them:

- a price profile (a_0, ..., a_{n-1}) of grid indices is one integer s = sum_i a_i m^i,
  where m is the number of grid points; with memory 1 the state *is* last period's profile;
- ``q`` has shape (n_firms, m^n, m) and ``greedy`` (n_firms, m^n) holds argmax_a q[i, s, a],
  ties to the lowest index (``np.argmax``); ``update_q`` keeps the two in step, so the
  greedy action and max_a Q cost one lookup instead of a scan of m entries;
- ``profits`` has shape (m^n, n_firms): firm i's per-period profit at each profile.

``learn`` takes its randomness from a numpy ``Generator`` the caller derives from its seed:
the first state, then blocks of uniforms (two per firm and period: explore or not, which
price) that the compiled ``play`` consumes in order. No generator state lives in compiled
code, so a session is fixed by its Generator whatever process runs it, and the uncompiled
code (``NUMBA_DISABLE_JIT=1``) reads the very same numbers. Uniforms are consumed in a fixed
layout, so the block size does not change the result.
"""

import numba
import numpy as np
import numpy.typing as npt

type FloatArray = npt.NDArray[np.float64]
type IntArray = npt.NDArray[np.int64]

STABLE_PERIODS = 100_000
"""Calvano et al. (2020): converged when no greedy action changed for this many periods."""
MAX_PERIODS = 1_000_000_000
"""Calvano et al. (2020): a session that has not converged stops after this many periods."""


def initial_q(profits: FloatArray, n_actions: int, delta: float) -> FloatArray:
    """Q_0(s, a_i) = sum over rivals' actions of pi_i(a_i, a_-i) / ((1 - delta) m^(n-1)).

    The discounted profit of always playing a_i against rivals who randomize uniformly, the
    same in every state (Calvano et al. 2020, eq. 8). ``profits`` is (m^n, n) as above.
    """
    n_states, n_firms = profits.shape
    # profile index s = sum_i a_i m^i, so in C order the axis of firm i is n - 1 - i
    by_profile = profits.reshape((n_actions,) * n_firms + (n_firms,))
    q = np.empty((n_firms, n_states, n_actions))
    for firm in range(n_firms):
        own_axis = n_firms - 1 - firm
        rivals = tuple(axis for axis in range(n_firms) if axis != own_axis)
        q[firm] = by_profile[..., firm].mean(axis=rivals) / (1.0 - delta)
    return q


@numba.njit(cache=True)
def greedy_actions(q: FloatArray) -> IntArray:
    """argmax_a q[i, s, a] for every firm and state, ties to the lowest index."""
    n_firms, n_states, _ = q.shape
    greedy = np.empty((n_firms, n_states), dtype=np.int64)
    for firm in range(n_firms):
        for state in range(n_states):
            greedy[firm, state] = np.argmax(q[firm, state])
    return greedy


@numba.njit(cache=True)
def update_q(
    q: FloatArray,
    greedy: IntArray,
    firm: int,
    state: int,
    action: int,
    target: float,
    alpha: float,
) -> bool:
    """Move q[firm, state, action] a share ``alpha`` toward ``target``; True if greedy changed.

    ``target`` is profit + delta max_a' Q(s', a'), read before this update. ``greedy`` stays
    the argmax (lowest index on ties): a rise can only make ``action`` the new argmax; only a
    fall of the current argmax needs a scan of the row.
    """
    old = q[firm, state, action]
    new = (1.0 - alpha) * old + alpha * target
    q[firm, state, action] = new
    best = greedy[firm, state]
    if action == best:
        if new >= old:  # the best rose or stayed: still the best
            return False
        new_best = 0
        for other in range(1, q.shape[2]):
            if q[firm, state, other] > q[firm, state, new_best]:
                new_best = other
    elif new > q[firm, state, best] or (new == q[firm, state, best] and action < best):
        new_best = action
    else:
        return False
    greedy[firm, state] = new_best
    return new_best != best


BLOCK_PERIODS = 1 << 16
"""Periods of uniforms drawn at a time (2 MB for two firms): refills cost nothing measurable,
and a session that converges early leaves at most one block unread."""


def learn(
    q: FloatArray,
    greedy: IntArray,
    profits: FloatArray,
    alpha: float,
    beta: float,
    delta: float,
    stable_periods: int,
    max_periods: int,
    rng: np.random.Generator,
) -> tuple[int, int, bool]:
    """Play and learn until convergence or ``max_periods``; returns (periods, state, converged).

    ``q`` and ``greedy`` are updated in place (start from ``initial_q`` and
    ``greedy_actions(q)``). The first state is drawn uniformly from ``rng``; the periods are
    played by ``play`` on blocks of uniforms from ``rng``. The returned state is the last
    period's profile, from which the greedy strategies' limit cycle starts.
    """
    n_firms, n_states, _ = q.shape
    state = int(rng.integers(n_states))
    period = unchanged = 0
    while period < max_periods:
        uniforms = rng.random((min(BLOCK_PERIODS, max_periods - period), n_firms, 2))
        period, state, unchanged = play(
            q, greedy, profits, alpha, beta, delta, stable_periods, period, state, unchanged,
            uniforms,
        )  # fmt: skip
        if unchanged >= stable_periods:
            return period, state, True
    return max_periods, state, False


@numba.njit(cache=True)
def play(
    q: FloatArray,
    greedy: IntArray,
    profits: FloatArray,
    alpha: float,
    beta: float,
    delta: float,
    stable_periods: int,
    period: int,
    state: int,
    unchanged: int,
    uniforms: FloatArray,
) -> tuple[int, int, int]:
    """Play periods ``period``, ``period + 1``, ... on ``uniforms`` (periods, n_firms, 2).

    Each period every firm explores with probability exp(-beta t) (``uniforms[k, i, 0]``
    below it), choosing the price ``uniforms[k, i, 1]`` points to, and otherwise plays its
    greedy action; then each updates the cell it used. ``unchanged`` counts the periods
    since a greedy action last changed. Stops at the end of the block or when ``unchanged``
    reaches ``stable_periods``; returns (next period, state, unchanged).
    """
    n_firms, _, n_actions = q.shape
    actions = np.empty(n_firms, dtype=np.int64)
    for k in range(uniforms.shape[0]):
        epsilon = np.exp(-beta * (period + k))
        profile = 0
        weight = 1
        for firm in range(n_firms):
            if uniforms[k, firm, 0] < epsilon:
                action = int(uniforms[k, firm, 1] * n_actions)
            else:
                action = greedy[firm, state]
            actions[firm] = action
            profile += action * weight
            weight *= n_actions
        changed = False
        for firm in range(n_firms):
            future = q[firm, profile, greedy[firm, profile]]
            target = profits[profile, firm] + delta * future
            changed |= update_q(q, greedy, firm, state, actions[firm], target, alpha)
        state = profile
        unchanged = 0 if changed else unchanged + 1
        if unchanged >= stable_periods:
            return period + k + 1, state, unchanged
    return period + uniforms.shape[0], state, unchanged


def profile_index(actions: npt.ArrayLike, n_actions: int) -> int:
    """The state index sum_i a_i m^i of a profile of grid indices."""
    return int(np.dot(np.asarray(actions), n_actions ** np.arange(np.size(actions))))


def profile_actions(state: int, n_firms: int, n_actions: int) -> IntArray:
    """The grid indices (a_0, ..., a_{n-1}) of a state index; inverse of ``profile_index``."""
    return np.asarray(state // n_actions ** np.arange(n_firms) % n_actions, dtype=np.int64)


def limit_cycle(greedy: IntArray, state: int, n_actions: int) -> list[int]:
    """The profiles the greedy strategies repeat forever when play starts in ``state``.

    With memory 1 and no exploration, play is a deterministic map s -> (greedy[i, s])_i on a
    finite set, so it enters a cycle within m^n periods (Calvano et al. 2020, Section III).
    """
    n_firms = greedy.shape[0]
    weights = n_actions ** np.arange(n_firms)
    seen: dict[int, int] = {}
    path: list[int] = []
    while state not in seen:
        seen[state] = len(path)
        path.append(state)
        state = int(np.dot(greedy[:, state], weights))
    return path[seen[state] :]
