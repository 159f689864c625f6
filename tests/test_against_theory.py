"""The simulated market against logit theory (MODEL.md, "Checks against theory")."""

import numpy as np
import pytest

from tokenmarket.model import theory
from tokenmarket.model.market import TokenMarket

A, C, MU = 2.0, 1.0, 0.25
NASH = 1.47293


def fixed_price_duopoly(make_variant, prices):
    """logit_duopoly with cost-plus firms whose price is constant (AC = MC = 1, no capex)."""

    def edit(data):
        for provider, price in zip(data["providers"], prices, strict=True):
            provider["strategy"] = "cost_plus"
            provider["strategy_params"] = {"markup": price - 1.0}
            provider["price_usd_per_mtok"] = price

    return make_variant("logit_duopoly", edit)


@pytest.mark.parametrize("prices", [(1.5, 1.5), (1.3, 1.8)])
def test_realized_shares_match_logit_probabilities(make_variant, prices):
    model = TokenMarket(fixed_price_duopoly(make_variant, prices), rng=3)
    model.run_for(30)
    frame = model.provider_frame()
    assert np.allclose(frame["price_usd_per_mtok"].to_numpy().reshape(-1, 2), prices)
    realized = frame.pivot(index="step", columns="provider", values="developer_share").to_numpy()
    expected = theory.logit_shares(np.array(prices), A, MU)
    n = model.spec.n_developers
    # Every developer redraws every month (rho = 1, s = 0): 30 independent multinomial draws.
    standard_error = np.sqrt(expected * (1 - expected) / n / len(realized))
    assert np.all(np.abs(realized.mean(axis=0) - expected) < 4 * standard_error)


def test_outside_share_matches_logit(make_variant):
    model = TokenMarket(fixed_price_duopoly(make_variant, (1.5, 1.5)), rng=4)
    model.run_for(30)
    outside = model.market_frame()["outside_share"].mean()
    expected = 1 - theory.logit_shares(np.array([1.5, 1.5]), A, MU).sum()
    assert abs(outside - expected) < 4 * np.sqrt(expected * (1 - expected) / 20_000 / 30)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_best_response_firms_settle_at_logit_nash(seed):
    nash = theory.logit_nash_prices(A, [C, C], MU)
    assert nash == pytest.approx(NASH, abs=1e-5)
    model = TokenMarket("logit_duopoly", rng=seed)
    model.run_for(40)
    prices = model.provider_frame().query("step > 25")
    settled = prices.groupby("provider")["price_usd_per_mtok"].mean().to_numpy()
    assert settled == pytest.approx(nash, rel=0.01)
    # ... and far from the joint-monopoly price, which collusion would reach.
    assert np.all(settled < theory.joint_monopoly_prices(A, [C, C], MU) * 0.9)
