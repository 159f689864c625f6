"""Finance: the DCF identity, the terminal-value rule and the value-driven exit."""

import numpy as np
import pytest

from tokenmarket.model import finance
from tokenmarket.model.market import TokenMarket


def test_terminal_value_is_the_sum_of_the_growing_cash_flows_it_stands_for():
    """Gordon's closed form against the series summed term by term (ten thousand years)."""
    flows = [80.0, 120.0, 100.0]  # mean 100 a month
    r, g = finance.monthly_rate(0.1), finance.monthly_rate(0.02)
    k = np.arange(1, 120_000)
    summed = np.sum(100.0 * ((1 + g) / (1 + r)) ** k)
    assert finance.terminal_value(flows, 0.1, 0.02) == pytest.approx(summed, rel=1e-9)


def test_terminal_value_is_nil_for_a_losing_firm_and_needs_growth_below_the_rate():
    assert finance.terminal_value([-5.0, -1.0], 0.1, 0.0) == 0.0
    with pytest.raises(ValueError, match="growth_per_year"):
        finance.terminal_value([1.0], 0.1, 0.1)


def test_continuation_value_discounts_the_damped_trend_it_fits():
    """Flows 10, 20, 30: level 30, slope 10; damped at 0.5: 30 + 5, then 30 + 5 + 2.5."""
    value = finance.continuation_value([10.0, 20.0, 30.0], 0.1, 2, 0.5)
    r = finance.monthly_rate(0.1)
    assert value == pytest.approx(35.0 / (1 + r) + 37.5 / (1 + r) ** 2)


def test_continuation_value_is_negative_for_falling_losses_and_positive_for_a_recovery():
    assert finance.continuation_value([5.0, 0.0, -5.0], 0.1, 12, 0.8) < 0.0
    assert finance.continuation_value([-9.0, -5.0, -1.0], 0.1, 12, 0.8) > 0.0  # loss ending
    assert finance.continuation_value([40.0, 35.0, 30.0], 0.1, 12, 0.8) > 0.0  # fall damped


def test_a_firm_still_taking_cash_never_leaves_and_a_losing_one_leaves_unless_it_recovers():
    falling = [40.0, 30.0, 20.0, 10.0, 5.0]  # forecast below zero, but cash still comes in
    assert finance.continuation_value(falling, 0.1, 24, 0.8) < 0.0
    assert not finance.worth_leaving(falling, 0.1, 24, 0.8)
    assert finance.worth_leaving([5.0, 0.0, -5.0], 0.1, 24, 0.8)
    assert not finance.worth_leaving([-9.0, -5.0, -1.0], 0.1, 24, 0.8)


def test_dcf_counts_capex_when_paid_and_firm_value_adds_the_terminal_value():
    model = TokenMarket("classroom", rng=3, n_developers=300)
    model.run_for(30)
    frame = model.provider_frame()
    rate = model.spec.market.discount_rate_per_year
    for _, rows in frame.groupby("provider"):
        cash = rows["revenue_usd"] - rows["electricity_usd"] - rows["opex_usd"] - rows["rnd_usd"]
        free = cash - rows["capex_paid_usd"]
        discounted = (free * (1.0 + rate) ** (-rows["step"] / 12.0)).cumsum()
        assert np.allclose(rows["dcf_usd"], discounted, rtol=1e-9, atol=1e-3)
        assert np.allclose(rows["firm_value_usd"], rows["dcf_usd"] + rows["terminal_value_usd"])
    assert (frame["capex_paid_usd"] > 0).any()  # the identity was tested on real orders


def test_a_firm_exits_when_continuing_is_worth_less_than_leaving_and_not_otherwise(make_variant):
    """A firm whose avoidable costs exceed its revenue leaves after burn-in; the rest stay."""

    def doomed(data):
        data["market"]["burn_in_months"] = 3
        data["providers"][3]["opex_fixed_usd_per_month"] = 1e9
        data["providers"][3]["cash_usd"] = 1e15  # never near its credit line

    model = TokenMarket(make_variant("classroom", doomed), rng=1, n_developers=300)
    model.run_for(8)
    frame = model.provider_frame()
    gone = frame.query("provider == 'eu_follower'")
    assert gone.query("step <= 3")["active"].all()  # the burn-in protects it
    assert not gone.query("step >= 4")["active"].any()  # then its forecast says leave
    others = frame.query("provider != 'eu_follower'")
    assert others["active"].all()
