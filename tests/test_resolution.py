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

from tokenmarket.model import metrics
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


@pytest.mark.xfail(
    strict=True,
    reason="going_global drifts with resolution (HHI 0.219 at 2,000 against 0.229 at 40,000 "
    "developers; Chinese share 0.106 against 0.086): with few agents a US lab's realized demand "
    "strays from the expected demand its first fleet was sized for, it runs short a month or two "
    "earlier and the scarcity premium's ratchet keeps its higher price; small providers build "
    "irreversible capacity for their noisier demand's peaks (docs/variance.md, 'Since model "
    "tiers'); no fix yet keeps the fine-resolution answer",
)
def test_going_global_at_2000_and_40000_developers_agree_on_2025():
    """Months 13-24: the Chinese share of tokens, served abroad, cross-border, price, HHI."""
    assert_agree("going_global", {2000: 8, 40_000: 3}, (13, 24), by_provider=False)


@pytest.mark.parametrize("scenario", ["classroom", "price_war"])
def test_classroom_family_at_3000_and_12000_agents_agree_on_years_4_and_5(scenario):
    """Months 37-60: every provider's token share, the HHI, price and cross-border flows."""
    assert_agree(scenario, {3000: 8, 12_000: 3}, (37, 60), by_provider=True)
