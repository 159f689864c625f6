"""n_developers is resolution only: a coarse and a fine population give the same market.

Each test runs a scenario at the README's resolution and at several times it, over seeds,
and compares every outcome's runs with Welch's t-test; agreement is refused at p below
0.01 / (number of outcomes) (Bonferroni), so a market that moved with the resolution fails.
The resolutions are the README's rule and four to twenty times it; docs/variance.md has the
drift measured below the rule, before and after agents went where the tokens are.
"""

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtri

from tokenmarket.model import demand, metrics
from tokenmarket.model.market import TokenMarket


def window_outcomes(
    scenario: str, n: int, seed: int, first: int, last: int, *, by_provider: bool
) -> dict[str, float]:
    """Shares, prices, concentration and cross-border flows over months first..last."""
    model = TokenMarket(scenario, rng=seed, n_developers=n, steps=last)
    model.run_for(last)
    recorded = model.datacollector.model_vars
    window = slice(first - 1, last)
    flows = np.array(recorded["flows_mtok"][window]).sum(axis=0)
    served = np.array(recorded["total_served_mtok"][window])
    price = np.array(recorded["mean_price_usd_per_mtok"][window])
    out = {
        "cross_border_share": metrics.cross_border_share(flows),
        "mean_price_usd_per_mtok": float(np.average(price, weights=served)),
        "hhi": float(np.mean(recorded["hhi"][window])),
    }
    if "CN" in model.spec.region_names:
        cn = model.spec.region_names.index("CN")
        out["cn_token_share"] = metrics.home_share(flows, cn)
        out["cn_served_abroad"] = metrics.served_abroad_share(flows, cn)
    if by_provider:
        frame = model.provider_frame()
        tokens = frame[frame["step"].between(first, last)].groupby("provider")["served_mtok"].sum()
        out |= {f"{name}_token_share": v / tokens.sum() for name, v in tokens.items()}
    return out


def assert_agree(scenario: str, designs: dict[int, int], window: tuple[int, int], by_provider):
    runs = {
        n: [
            window_outcomes(scenario, n, seed, *window, by_provider=by_provider)
            for seed in range(k)
        ]
        for n, k in designs.items()
    }
    coarse, fine = (runs[n] for n in designs)
    threshold = 0.01 / len(coarse[0])
    for outcome in coarse[0]:
        a = np.array([r[outcome] for r in coarse])
        b = np.array([r[outcome] for r in fine])
        assert stats.ttest_ind(a, b, equal_var=False).pvalue > threshold, (outcome, a, b)


def test_going_global_at_2000_and_40000_developers_agree_on_2025():
    """Months 13-24: the Chinese share of tokens, served abroad, cross-border, price, HHI."""
    assert_agree("going_global", {2000: 12, 40_000: 4}, (13, 24), by_provider=False)


@pytest.mark.parametrize("scenario", ["classroom", "price_war"])
def test_classroom_family_at_3000_and_12000_agents_agree_on_years_4_and_5(scenario):
    """Months 37-60: every provider's token share, the HHI, price and cross-border flows."""
    assert_agree(scenario, {3000: 8, 12_000: 3}, (37, 60), by_provider=True)


@pytest.mark.parametrize("tilt", [0.0, 0.5, 1.0])
def test_each_group_keeps_its_developers_and_demand_exactly(tilt):
    """Whatever the tilt, a group of m agents stands for m developers (weights averaging 1)
    carrying the lognormal's total demand m e^(sigma^2 / 2), to rounding."""
    rng = np.random.default_rng(0)
    group = np.repeat([0, 1, 2], [7, 40, 300])
    sigma = np.array([0.5, 1.0, 1.2])[group]
    u = demand.stratified_uniforms(group, rng, 1)[:, 0]
    mean, developers = demand.lognormal_slices(u, group, sigma, tilt)
    for g, m in enumerate(np.bincount(group)):
        mine = group == g
        assert np.isclose(developers[mine].sum(), m, rtol=1e-12)
        expected = m * np.exp(sigma[mine][0] ** 2 / 2)
        assert np.isclose((developers * mean)[mine].sum(), expected, rtol=1e-9)


def test_tilt_one_gives_every_agent_the_same_demand_and_tilt_zero_the_same_developers():
    """Sampling proportional to size: at tilt 1 each slice holds 1/m of the demand; at 0,
    1/m of the developers, and its mean is the slice's partial expectation."""
    group = np.zeros(50, dtype=int)
    u = (np.arange(50) + 0.5) / 50
    sigma = np.full(50, 1.2)
    mean, developers = demand.lognormal_slices(u, group, sigma, 1.0)
    assert np.allclose(developers * mean, np.exp(1.2**2 / 2))
    mean0, developers0 = demand.lognormal_slices(u, group, sigma, 0.0)
    assert np.allclose(developers0, 1.0)
    top = np.exp(1.2**2 / 2) * (1 - stats.norm.cdf(ndtri(49 / 50) - 1.2)) * 50
    assert np.isclose(mean0[-1], top)


def test_a_population_stands_for_the_scenarios_developers_and_demand_at_any_resolution():
    """going_global's agents: weights sum to the number of agents in every region x segment
    cell in proportion to its developers, and the market's demand per developer is the same
    at 2,000 and 40,000 agents."""
    totals = {}
    for n in (2000, 40_000):
        model = TokenMarket("going_global", rng=0, n_developers=n, steps=1)
        pop, spec = model.population, model.spec
        shares = np.outer(
            [s.population_share for s in spec.segments], [r.population_share for r in spec.regions]
        ).ravel()
        weight = np.bincount(pop.cell, weights=pop.weight, minlength=shares.size)
        assert np.allclose(weight / n, shares / shares.sum(), rtol=1e-9)
        totals[n] = pop.base_demand_mtok.sum() / (spec.represented_developers or n)
    assert np.isclose(totals[2000], totals[40_000], rtol=1e-9)
