"""The choice kernel against the rule it samples, written the slow, literal way; persistent
tastes against their theory."""

import itertools

import numpy as np
import pytest

from tokenmarket.model import demand
from tokenmarket.model.demand import OUTSIDE, Population
from tokenmarket.model.random import Purpose, Streams

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


@pytest.mark.parametrize("missing", ["provider_of", "nest_keys"])
def test_a_nest_scale_below_one_without_the_line_structure_is_refused(missing):
    """nest_scale < 1 without the products' providers or the lines' keys would be a plain logit."""
    pop = population(OUTSIDE, 0.0, np.random.default_rng(7))
    weights = demand.ChoiceWeights.of(pop, V_INSIDE, V_OUTSIDE, pop.aware, 1.0)
    structure = {"provider_of": np.array([0, 0, 1, 2]), "nest_keys": [20, 21, 22]}
    del structure[missing]
    with pytest.raises(ValueError, match=f"nest_scale=0.5 < 1.*{missing}"):
        demand.choose(
            pop, np.arange(10), weights, Streams(3), 0, list(range(5)), nest_scale=0.5, **structure
        )


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


class TestPersistentTastes:
    """`demand.Tastes`: draws kept with probability rho a month, each month's law still logit."""

    @staticmethod
    def market(n: int, rng) -> tuple[Population, demand.ChoiceWeights]:
        """Everyone outside, every provider open, fixed utilities: nothing changes but tastes."""
        pop = population(OUTSIDE, 0.0, rng)
        pop.aware[:] = True
        pop = Population(**{f: getattr(pop, f)[:n] for f in Population.__dataclass_fields__})
        return pop, demand.ChoiceWeights.of(pop, V_INSIDE, V_OUTSIDE, pop.aware, 1.0)

    @staticmethod
    def months(pop, weights, tastes, months, switching_cost, **structure) -> list[np.ndarray]:
        """Everyone reviews at month 0 free of cost, then each month at `switching_cost`."""
        everyone, streams, keys = np.arange(pop.size), Streams(8), list(range(5))
        history = []
        for month in range(months + 1):
            cost = np.full(pop.size, 0.0 if month == 0 else switching_cost)
            pop.choice[:] = demand.choose(
                pop, everyone, weights, streams, month, keys, cost, tastes=tastes, **structure
            )
            history.append(pop.choice.copy())
        return history

    @pytest.mark.parametrize("nest_scale", [1.0, 0.5])
    def test_no_persistence_is_the_memoryless_kernel_bit_for_bit(self, nest_scale):
        structure = {
            "provider_of": np.array([0, 0, 1, 2]),
            "nest_scale": nest_scale,
            "nest_keys": [20, 21, 22],
        }
        runs = []
        for tastes in (None, demand.Tastes(0.0)):
            pop, weights = self.market(20_000, np.random.default_rng(5))
            runs.append(self.months(pop, weights, tastes, 4, 0.3, **structure))
        assert all(np.array_equal(a, b) for a, b in zip(*runs, strict=True))
        assert (runs[0][1] != runs[0][0]).mean() > 0.1  # tastes did move choices

    def test_full_persistence_moves_no_one_without_a_change_but_the_forced(self):
        pop, weights = self.market(20_000, np.random.default_rng(6))
        tastes = demand.Tastes(1.0)
        history = self.months(pop, weights, tastes, 3, 0.0)
        assert all(np.array_equal(h, history[0]) for h in history)  # even at no switching cost
        gone = demand.ChoiceWeights(weights.weights.copy(), weights.top, weights.mu)
        gone.weights[:, 1] = 0.0  # provider 1 withdrawn: its customers must move, no one else
        before = pop.choice.copy()
        after = demand.choose(
            pop, np.arange(pop.size), gone, Streams(8), 4, list(range(5)), tastes=tastes
        )
        assert not (after == 1).any() and (before == 1).any()
        assert np.array_equal(after[before != 1], before[before != 1])

    def test_every_months_frictionless_choice_is_logit(self):
        """Free choice with draws of mixed ages (renewed or not) keeps the logit shares.

        Half the developers review only at months 0 and 5, half every month: at month 5 their
        draws are of every age, and still each cell's shares are `probabilities()`.
        """
        n = N
        pop, weights = self.market(n, np.random.default_rng(7))
        tastes, streams, keys = demand.Tastes(0.7), Streams(9), list(range(5))
        free = np.zeros(n)
        pop.choice[:] = demand.choose(
            pop, np.arange(n), weights, streams, 0, keys, free, tastes=tastes
        )
        monthly = np.arange(0, n, 2)
        for month in range(1, 5):
            pop.choice[monthly] = demand.choose(
                pop, monthly, weights, streams, month, keys, free[monthly], tastes=tastes
            )
        new = demand.choose(pop, np.arange(n), weights, streams, 5, keys, free, tastes=tastes)
        kept = np.isclose(tastes.value[0], -np.log(streams.exponential(Purpose.TASTE, 0, n, 0)))
        assert 0.1 < kept.mean() < 0.5  # draws of month 0 are in force, and fresh ones too
        expected = weights.probabilities()
        for cell in (0, 1):
            mask = pop.cell == cell
            p = expected[mask][0]
            observed = np.array([(new[mask] == k).mean() for k in (0, 1, 2, 3, OUTSIDE)])
            assert np.all(np.abs(observed - p) < 5 * np.sqrt(p * (1 - p) / mask.sum()))

    @pytest.mark.parametrize("months", [1, 3])
    def test_a_draw_read_k_months_later_is_kept_with_probability_rho_to_the_k(self, months):
        n, rho = 100_000, 0.8
        tastes, streams, everyone = demand.Tastes(rho), Streams(10), np.arange(100_000)
        first = tastes.in_force(3, np.arange(n, dtype=float), streams, 2, n, everyone)
        later = tastes.in_force(3, np.full(n, -1.0), streams, 2 + months, n, everyone)
        again = tastes.in_force(3, np.full(n, -2.0), streams, 2 + months, n, everyone)
        kept = (later == first).mean()
        assert abs(kept - rho**months) < 5 * np.sqrt(rho**months * (1 - rho**months) / n)
        assert np.all((later == first) | (later == -1.0))
        assert np.array_equal(again, later)  # read twice in a month: the same draw

    def test_switching_falls_with_persistence_from_the_logit_rate_to_none(self):
        """Free monthly choice at fixed utilities: the share who change is 1 - sum p^2 with
        fresh draws (two independent logit choices), 0 with fixed ones, falling in between."""
        rates = []
        for rho in (0.0, 0.3, 0.6, 0.9, 1.0):
            pop, weights = self.market(50_000, np.random.default_rng(12))
            history = self.months(pop, weights, demand.Tastes(rho), 3, 0.0)
            rates.append(np.mean([(a != b).mean() for a, b in itertools.pairwise(history)]))
        p = weights.probabilities()
        memoryless = (1 - (p**2).sum(axis=1)).mean()
        sigma = np.sqrt(memoryless * (1 - memoryless) / (3 * 50_000))
        assert abs(rates[0] - memoryless) < 5 * sigma
        assert rates[-1] == 0.0
        assert all(a > b + 5 * sigma for a, b in itertools.pairwise(rates))
