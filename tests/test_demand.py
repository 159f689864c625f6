"""The choice kernel against the rule it samples, written the slow, literal way."""

import numpy as np
import pytest

from tokenmarket.model import demand
from tokenmarket.model.demand import OUTSIDE, Population
from tokenmarket.model.random import Streams

N = 200_000
V_INSIDE = np.array([[1.0, 0.4, 1.3, -0.5], [0.2, 0.9, -1.0, 0.5]])  # two cells x four providers
V_OUTSIDE = np.array([0.7, 0.0])


def population(current: int, switching_cost: float, rng) -> Population:
    cell = rng.integers(0, 2, N)
    available = rng.random((N, 4)) < 0.7
    available[:, 0] = True
    return Population(
        region=cell,
        segment=np.zeros(N, dtype=int),
        cell=cell,
        base_demand_mtok=np.ones(N),
        switching_cost=np.full(N, switching_cost),
        review_probability=np.ones(N),
        aware=available,
        access_draw=np.zeros((N, 2)),
        access=np.ones((N, 4), dtype=bool),
        choice=np.full(N, current),
        must_review=np.zeros(N, dtype=bool),
        reference_task_price=np.ones(N),
        weight=np.ones(N),
    )


def literal_rule(pop: Population, mu: float, rng) -> np.ndarray:
    """A Gumbel shock on every option; move to the best alternative if it beats current + s."""
    utility = np.concatenate([V_INSIDE[pop.cell], V_OUTSIDE[pop.cell][:, None]], axis=1)
    utility = utility + rng.gumbel(0.0, mu, size=utility.shape)
    utility[:, :4][~pop.aware] = -np.inf
    column = np.where(pop.choice == OUTSIDE, 4, pop.choice)
    rows = np.arange(pop.size)
    current = utility[rows, column].copy()
    utility[rows, column] = -np.inf
    best = utility.argmax(axis=1)
    switch = utility[rows, best] > current + pop.switching_cost
    return np.where(switch, np.where(best == 4, OUTSIDE, best), pop.choice)


@pytest.mark.parametrize(
    ("current", "switching_cost", "mu"),
    [(OUTSIDE, 0.0, 1.0), (0, 0.0, 1.0), (2, 1.5, 1.0), (OUTSIDE, 0.8, 0.25), (1, 3.0, 0.5)],
)
def test_fast_kernel_samples_the_literal_rule(current, switching_cost, mu):
    rng = np.random.default_rng(11)
    pop = population(current, switching_cost, rng)
    weights = demand.ChoiceWeights.of(pop, V_INSIDE, V_OUTSIDE, pop.aware, mu)
    fast = demand.choose(pop, np.arange(N), weights, Streams(1), 0, list(range(5)))
    slow = literal_rule(pop, mu, np.random.default_rng(2))
    # Two independent samples of the same categorical law, per cell: frequencies agree
    # within sampling error (5 sigma of the difference of two proportions).
    for cell in (0, 1):
        mask = pop.cell == cell
        p_fast = np.array([(fast[mask] == k).mean() for k in (OUTSIDE, 0, 1, 2, 3)])
        p_slow = np.array([(slow[mask] == k).mean() for k in (OUTSIDE, 0, 1, 2, 3)])
        sigma = np.sqrt(2 * np.maximum(p_slow * (1 - p_slow), 1e-6) / mask.sum())
        assert np.all(np.abs(p_fast - p_slow) < 5 * sigma), (p_fast, p_slow)


def test_unavailable_current_provider_forces_a_move():
    rng = np.random.default_rng(3)
    pop = population(1, 10.0, rng)
    pop.aware[:, 1] = False
    weights = demand.ChoiceWeights.of(pop, V_INSIDE, V_OUTSIDE, pop.aware, 1.0)
    new = demand.choose(pop, np.arange(N), weights, Streams(3), 0, list(range(5)))
    assert not (new == 1).any()
    assert np.all(pop.aware[np.arange(N), np.where(new == OUTSIDE, 0, new)])


def test_logit_probabilities_and_log_sum_agree():
    rng = np.random.default_rng(4)
    pop = population(OUTSIDE, 0.0, rng)
    weights = demand.ChoiceWeights.of(pop, V_INSIDE, V_OUTSIDE, pop.aware, 0.5)
    probabilities = weights.probabilities()
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert np.all(probabilities[:, :4][~pop.aware] == 0)
    log_sum = weights.log_sum()
    # The outside option's probability is exp(V0 / mu) / exp(log-sum / mu).
    assert np.allclose(probabilities[:, 4], np.exp((V_OUTSIDE[pop.cell] - log_sum) / 0.5))
