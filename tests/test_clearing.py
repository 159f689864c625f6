"""Prices that clear: scarcity raises prices step by step, capacity brings them back down.

A classroom market in which China's fleet is frozen by export controls (a zero growth cap)
while demand grows 5 % a month, then freed: the same seed without the shock is the control.
"""

import numpy as np
import pytest

from tokenmarket.model.market import TokenMarket

FROZEN, FREED, STEPS = 2, 30, 60
SEEDS = range(3)


def run(make_variant, seed, shocks):
    def edit(data):
        data["shocks"] = shocks

    model = TokenMarket(make_variant("classroom", edit), rng=seed, n_developers=600)
    model.run_for(STEPS)
    return model


def frozen_then_freed(make_variant, seed):
    return run(
        make_variant,
        seed,
        [
            {"kind": "capacity_limit", "step": FROZEN, "region": "CN", "max_growth_per_month": 0.0},
            {"kind": "capacity_limit", "step": FREED, "region": "CN", "max_growth_per_month": None},
        ],
    )


def series(model, provider, name):
    frame = model.provider_frame()
    return frame[frame["provider"] == provider].set_index("step")[name].astype(float)


@pytest.fixture(scope="module")
def runs(make_variant):
    return [(frozen_then_freed(make_variant, s), run(make_variant, s, [])) for s in SEEDS]


def test_a_rationing_provider_raises_its_price_until_demand_fits_then_lets_it_fall(runs):
    for shocked, control in runs:
        ratio = series(shocked, "cn_lowcost", "price_usd_per_mtok") / series(
            control, "cn_lowcost", "price_usd_per_mtok"
        )
        pressure = series(shocked, "cn_lowcost", "demand_mtok") / series(
            shocked, "cn_lowcost", "capacity_mtok"
        )
        assert pressure.loc[FROZEN + 10 : FREED].max() > 1.0  # the freeze makes it ration
        peak = ratio.loc[FROZEN : FREED + 6].max()
        assert peak > 1.3  # the premium builds up while capacity binds
        assert ratio.loc[STEPS - 6 :].mean() < 1.0 + 0.5 * (peak - 1.0)  # and decays after


def test_rationed_demand_spills_to_rivals_and_the_rest_is_reported_lost(runs):
    for shocked, control in runs:
        market = shocked.market_frame().set_index("step")
        binding = market.loc[FROZEN + 10 : FREED]
        assert (binding["spilled_mtok"] > 0).any()
        assert binding["spill_served_mtok"].sum() > 0
        assert np.allclose(
            market["requested_mtok"], market["total_served_mtok"] + market["lost_mtok"]
        )
        unshocked = control.market_frame().set_index("step")
        assert (
            binding["spilled_mtok"].sum() > unshocked.loc[FROZEN + 10 : FREED, "spilled_mtok"].sum()
        )
