"""A provider's capacity in vintages: memory and time set by the orders, not by the lifetime.

The initial fleet is `life` equal vintages, one retiring each month, so it is held as one
cohort (a count and the per-vintage figures) instead of one object per month of life; the
orders placed during the run (at most one a month) are kept one by one. A lifetime of 10^8
months thus costs what 48 months cost (benchmarks/bench_fleet.py measures it).

Sums keep the exact arithmetic of Python's `sum()` over the vintages in order (the initial
fleet first, then the orders as placed), which since Python 3.12 is Neumaier's compensated
summation: same scenario and seed give the same bits as the one-object-per-vintage fleet.
The cohort's part of the sum, `count` equal terms, is found in O(log count) steps.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from fractions import Fraction


def sequential_sum(x: float, count: int) -> float:
    """fl(..fl(fl(0 + x) + x).. + x) with `count` additions, in O(log count) operations.

    Within one binade [2^(e-1), 2^e) of the running total the rounding grid is fixed, so
    once two consecutive increments are equal every later one is (with round-half-even a
    tie can change the increment only once, from an odd total to an even one): the total
    then jumps to the last multiple of that increment that stays inside the binade.
    """
    if x < 0:
        return -sequential_sum(-x, count)
    before_last = last = total = 0.0
    done = 0
    while done < count and x > 0:
        before_last, last = last, total
        total += x
        done += 1
        exponent = math.frexp(total)[1]
        same_binade = before_last > 0 and math.frexp(before_last)[1] == exponent
        step = total - last
        if step == 0:  # x is below half an ulp of the total: no later addition changes it
            break
        if not same_binade or step != last - before_last or not math.isfinite(total):
            continue
        jump = min(count - done, int((math.ldexp(1.0, exponent) - total) / step) - 1)
        if jump > 0:
            total += jump * step
            done += jump
            last = 0.0
    return total


BLOCK = 64
"""A cohort's sum is found from scratch at multiples of BLOCK terms and continued term by
term from there: a cohort that loses a vintage a month costs one O(log count) sum per
BLOCK months, and a few additions in the others."""


@functools.lru_cache(maxsize=4096)
def _block_state(x: float, count: int, plain: bool) -> tuple[float, float]:
    """State (running sum, compensation) of Python's `sum()` after `count` terms equal to x.

    Every rounding error of a sum of equal terms is a multiple of the lowest bit of `x` no
    larger than count times half an ulp of the total, so the compensation holds their exact
    sum while count^2 < 2^53 (count below ~9e7): there it equals Python's bit for bit; above,
    it is the exact remainder rounded once, closer to the true sum than Python's own.
    `plain` sums (numpy terms) carry no compensation.
    """
    total = sequential_sum(x, count)
    if plain or not math.isfinite(total):
        return total, 0.0
    return total, float(Fraction(x) * count - Fraction(total))


def _add(total: float, compensation: float, x: float) -> tuple[float, float]:
    """One term of Python 3.12's `sum()` of built-in floats (Neumaier's step)."""
    t = total + x
    if abs(total) >= abs(x):
        compensation += (total - t) + x
    else:
        compensation += (x - t) + total
    return t, compensation


def repeated_sum(x: float, count: int, plain: bool = False) -> tuple[float, float]:
    """State of Python's `sum()` after `count` terms equal to `x` (`plain`: no compensation)."""
    base = count - count % BLOCK
    total, compensation = _block_state(x, base, plain)
    for _ in range(count - base):
        if plain:
            total += x
        else:
            total, compensation = _add(total, compensation, x)
    return total, compensation


def python_sum(x: float, count: int, terms: list[float]) -> float:
    """`sum([x] * count + terms, 0.0)` exactly as Python 3.12 computes it, in O(log count).

    Python's `sum()` is Neumaier's compensated summation while every term is a built-in
    float; at the first term that is not (a numpy float64), it adds the compensation in and
    goes on with plain additions.
    """
    plain = count > 0 and type(x) is not float
    total, compensation = repeated_sum(x, count, plain)
    for term in terms:
        if not plain and type(term) is not float:
            plain = True
            if compensation and math.isfinite(compensation):
                total += compensation
        if plain:
            total += term
        else:
            total, compensation = _add(total, compensation, term)
    if not plain and compensation and math.isfinite(compensation):
        total += compensation
    return total


@dataclass(slots=True)
class Vintage:
    """Capacity ordered together: in service from `arrival_step`, retired at `retire_step`."""

    capacity_mtok: float
    amortization_usd_per_month: float
    arrival_step: int
    retire_step: int


@dataclass(slots=True)
class Fleet:
    """The vintages of one provider: an initial cohort plus the orders placed since.

    The cohort is `life` vintages of `cohort_capacity_mtok` each, in service from step 0,
    the r-th of them (r = 1..life) retired at step r + 1: an existing fleet whose ages are
    spread evenly over its life, so that retirements are smooth.
    """

    life: int = 0
    cohort_capacity_mtok: float = 0.0
    cohort_amortization_usd_per_month: float = 0.0
    orders: list[Vintage] = field(default_factory=list)

    def _cohort_count(self, step: int) -> int:
        """Vintages of the initial cohort still in service at `step`."""
        return max(0, self.life - max(1, step) + 1)

    def _total(self, step: int, per_cohort_vintage: float, attribute: str) -> float:
        """Sum of `attribute` over the vintages in service at `step`, in Python's arithmetic."""
        terms = [
            getattr(v, attribute) for v in self.orders if v.arrival_step <= step < v.retire_step
        ]
        return python_sum(per_cohort_vintage, self._cohort_count(step), terms)

    def capacity_mtok(self, step: int) -> float:
        """Capacity in service at `step` (Mtok/month), counting what is already ordered."""
        return self._total(step, self.cohort_capacity_mtok, "capacity_mtok")

    def amortization_usd_per_month(self, step: int) -> float:
        """Capex amortization of the vintages in service at `step` (USD/month)."""
        return self._total(
            step, self.cohort_amortization_usd_per_month, "amortization_usd_per_month"
        )

    def retire(self, step: int) -> None:
        """Forget the orders past their life at `step` (the cohort retires by its count)."""
        self.orders = [v for v in self.orders if v.retire_step > step]
