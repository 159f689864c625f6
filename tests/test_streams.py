"""Named random streams keep runs paired; the population sample is exact to one agent.

That the market does not depend on the resolution is `tests/test_resolution.py`.
"""

import copy

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenmarket.model import demand
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.random import Purpose, Streams, key_of


def test_a_developers_draw_does_not_depend_on_who_else_draws():
    streams = Streams(5)
    full = streams.uniform(Purpose.TASTE, 3, 1000, 1)
    rows = np.array([7, 400, 999])
    assert np.array_equal(streams.uniform(Purpose.TASTE, 3, 1000, 1, rows=rows), full[rows])
    others = [
        streams.uniform(Purpose.TASTE, 4, 1000, 1),  # another month
        streams.uniform(Purpose.TASTE, 3, 1000, 2),  # another draw of the month
        streams.uniform(Purpose.REVIEW, 3, 1000),  # another purpose
        Streams(6).uniform(Purpose.TASTE, 3, 1000, 1),  # another seed
    ]
    for other in others:
        assert abs(np.corrcoef(full, other)[0, 1]) < 0.15


def test_an_extra_reviewer_leaves_the_others_choices_alone():
    model = TokenMarket("going_global", rng=4, n_developers=3000)
    model.run_for(2)
    pop, weights = model.population, model._choice_weights()
    some = np.arange(0, 3000, 3)
    more = np.union1d(some, [1, 2, 4])
    keys = model._option_keys
    a = demand.choose(pop, some, weights, model.streams, 3, keys)
    b = demand.choose(pop, more, weights, model.streams, 3, keys)
    assert np.array_equal(a, b[np.isin(more, some)])


def test_an_option_no_one_can_choose_changes_no_choice():
    """An entrant unknown to all (a zero-weight column) leaves every reviewer's choice alone."""
    model = TokenMarket("classroom", rng=6, n_developers=3000)
    model.run_for(3)
    pop, weights = model.population, model._choice_weights()
    everyone = np.arange(pop.size)
    keys = model._option_keys
    plain = demand.choose(pop, everyone, weights, model.streams, 4, keys)
    widened = demand.ChoiceWeights(
        np.insert(weights.weights, -1, 0.0, axis=1), weights.top, weights.mu
    )
    entrant_keys = [*keys[:-1], key_of("an entrant"), keys[-1]]
    assert np.array_equal(
        plain, demand.choose(pop, everyone, widened, model.streams, 4, entrant_keys)
    )


def test_an_entrant_leaves_everyone_elses_persistent_tastes_alone():
    """Months of reviews with and without an entrant no one can choose: every other option's
    draws in force (kept or renewed) are the same, and so is every choice."""
    model = TokenMarket("classroom", rng=6, n_developers=3000, taste_persistence=0.7)
    model.run_for(3)
    pop, weights, keys = model.population, model._choice_weights(), model._option_keys
    widened = demand.ChoiceWeights(
        np.insert(weights.weights, -1, 0.0, axis=1), weights.top, weights.mu
    )
    entrant_keys = [*keys[:-1], key_of("an entrant"), keys[-1]]
    runs = []
    for w, k in ((weights, keys), (widened, entrant_keys)):
        tastes = copy.deepcopy(model.tastes)
        choices = [
            demand.choose(
                pop, np.arange(month, pop.size, 2), w, model.streams, month, k, tastes=tastes
            )
            for month in range(4, 9)
        ]
        runs.append((choices, tastes))
    (plain, alone), (widened_choices, with_entrant) = runs
    assert all(np.array_equal(a, b) for a, b in zip(plain, widened_choices, strict=True))
    for key in keys:
        assert np.array_equal(alone.value[key], with_entrant.value[key], equal_nan=True)
    kept = alone.value[keys[0]] == model.tastes.value[keys[0]]
    assert 0.05 < kept.mean() < 0.95  # some draws were kept, some renewed


def test_a_providers_draws_follow_its_name_not_its_place_in_the_list(make_variant):
    """The classroom market with its providers listed in reverse runs the same, by name."""
    reverse = make_variant("classroom", lambda data: data["providers"].reverse())
    runs = [TokenMarket(s, rng=8, n_developers=3000) for s in ("classroom", reverse)]
    for model in runs:
        model.run_for(6)
    shares = [m.provider_frame().set_index(["step", "provider"])["token_share"] for m in runs]
    assert np.allclose(shares[0], shares[1].loc[shares[0].index], rtol=0, atol=1e-12)


def test_a_one_percent_power_price_change_keeps_paired_runs_paired(make_variant):
    """Same seed, China's power 1 % dearer: most developers choose exactly as before."""

    def dearer(data):
        for p in data["providers"]:
            if p["home"] == "CN":
                p["electricity_usd_per_kwh"] = 1.01 * (p["electricity_usd_per_kwh"] or 0.05)

    base = TokenMarket("going_global", rng=2, n_developers=4000)
    other = TokenMarket(make_variant("going_global", dearer), rng=2, n_developers=4000)
    base.run_for(24)
    other.run_for(24)
    assert (base.population.choice == other.population.choice).mean() > 0.98


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 5000),
    shares=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30).filter(lambda s: sum(s) > 0),
)
def test_apportioned_counts_sum_to_n_and_miss_their_quota_by_less_than_one(n, shares):
    counts = demand.apportion(n, np.array(shares))
    quota = n * np.array(shares) / sum(shares)
    assert counts.sum() == n
    assert np.all(np.abs(counts - quota) < 1)


@settings(max_examples=40, deadline=None)
@given(groups=st.lists(st.integers(0, 4), min_size=1, max_size=300), seed=st.integers(0, 99))
def test_stratified_uniforms_put_one_value_in_each_stratum_of_each_group(groups, seed):
    group = np.sort(np.array(groups))
    u = demand.stratified_uniforms(group, np.random.default_rng(seed), 3)
    for g in np.unique(group):
        m = (group == g).sum()
        for column in u[group == g].T:
            assert sorted(np.floor(column * m).astype(int)) == list(range(m))
