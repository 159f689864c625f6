"""The cohort fleet: Python's own sums, in time and memory that the lifetime does not set."""

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenmarket.agents.fleet import Fleet, Vintage, python_sum, sequential_sum
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import load_scenario

positive = st.floats(min_value=1e-12, max_value=1e12, allow_nan=False, allow_infinity=False)
as_type = st.sampled_from([float, np.float64])


@settings(max_examples=300, deadline=None)
@given(x=positive, count=st.integers(0, 5_000))
def test_sequential_sum_is_the_plain_loop(x, count):
    total = 0.0
    for _ in range(count):
        total += x
    assert sequential_sum(x, count) == total


@settings(max_examples=300, deadline=None)
@given(
    x=positive,
    x_type=as_type,
    count=st.integers(0, 3_000),
    terms=st.lists(st.tuples(positive, as_type), max_size=6),
)
def test_python_sum_is_builtin_sum(x, x_type, count, terms):
    """Bit for bit, whatever mix of built-in and numpy floats (they switch sum's algorithm)."""
    x = x_type(x)
    orders = [kind(value) for value, kind in terms]
    assert python_sum(x, count, orders) == sum([x] * count + orders, 0.0)


@pytest.mark.parametrize(("x", "count"), [(1e-12, 10**18), (1.0, 2**60)])
def test_a_stalled_sum_ends(x, count):
    """Once x is under half an ulp of the total, the plain loop stops changing it."""
    total = sequential_sum(x, count)
    assert total + x == total and math.isfinite(python_sum(x, count, []))


def test_huge_cohort_is_exact_to_rounding():
    """10^15 vintages of 1e6 / 10^15 Mtok sum back to the fleet's 1e6 Mtok."""
    life = 10**15
    assert math.isclose(python_sum(1e6 / life, life, []), 1e6, rel_tol=1e-12)


def test_cohort_retires_one_vintage_a_month():
    fleet = Fleet(life=4, cohort_capacity_mtok=10.0, cohort_amortization_usd_per_month=1.0)
    fleet.orders.append(Vintage(5.0, 2.0, arrival_step=3, retire_step=5))
    capacity = [fleet.capacity_mtok(step) for step in range(7)]
    assert capacity == [40.0, 40.0, 30.0, 25.0, 15.0, 0.0, 0.0]
    fleet.retire(5)
    assert fleet.orders == []


def test_lifetime_does_not_set_memory():
    """A 10^15-month life, a few months of a run: the fleet's memory is the 48-month one's."""

    def peak_bytes(life: int) -> int:
        spec = load_scenario("classroom")
        providers = [p.model_copy(update={"amortization_months": life}) for p in spec.providers]
        tracemalloc.start()
        model = TokenMarket(spec.model_copy(update={"providers": providers}), rng=1)
        for _ in range(6):
            model.step()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert np.isfinite(model.provider_frame()["capacity_mtok"]).all()
        return peak

    assert peak_bytes(10**15) < 2 * peak_bytes(48)
