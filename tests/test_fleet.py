"""The cohort fleet: exact sums, in time and memory that the lifetime does not set."""

import math
import tracemalloc

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenmarket.agents.fleet import Fleet, Vintage
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import load_scenario

positive = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(
    life=st.integers(1, 200),
    start=st.integers(0, 50),
    per_vintage=positive,
    orders=st.lists(st.tuples(positive, st.integers(0, 300), st.integers(1, 100)), max_size=8),
    step=st.integers(0, 400),
)
def test_fleet_sums_what_one_object_per_vintage_sums(life, start, per_vintage, orders, step):
    """The cohort is `life` vintages retiring one a month from start + 2: the naive list's sum."""
    fleet = Fleet(life=life, start_step=start, cohort_capacity_mtok=per_vintage)
    naive = [Vintage(per_vintage, 0.0, start, start + r + 1) for r in range(1, life + 1)]
    for capacity, arrival, lifetime in orders:
        vintage = Vintage(capacity, 0.0, arrival, arrival + lifetime)
        fleet.orders.append(vintage)
        naive.append(vintage)
    step = max(step, start)
    expected = math.fsum(v.capacity_mtok for v in naive if v.arrival_step <= step < v.retire_step)
    assert math.isclose(fleet.capacity_mtok(step), expected, rel_tol=1e-12, abs_tol=1e-9)


def test_huge_cohort_is_exact_to_rounding():
    """10^15 vintages of 1e6 / 10^15 Mtok sum back to the fleet's 1e6 Mtok."""
    life = 10**15
    fleet = Fleet(life=life, cohort_capacity_mtok=1e6 / life)
    assert math.isclose(fleet.capacity_mtok(0), 1e6, rel_tol=1e-12)


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
