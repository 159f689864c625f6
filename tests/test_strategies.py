"""Each built-in strategy against a scripted market, and a third-party plugin round trip.

A scripted market fixes what a firm sees (rivals' prices, costs, utilization, shares); the
expected price follows from the rule as its docstring states it, so a change in one pricing
rule fails here, under its name.
"""

import itertools
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from tokenmarket.agents.strategies import base, builtin, registry
from tokenmarket.model import theory

BIN = Path(sys.executable).parent
RNG = np.random.default_rng(0)
NO_GROWTH_CAPACITY = 100.0


@dataclass
class ScriptedFirm:
    """A firm with a linear AC curve: AC(u) = mc + fixed_per_unit / u (USD/Mtok)."""

    index: int = 1
    quality: float = 70.0
    price_usd_per_mtok: float = 2.0
    scarcity_premium: float = 1.0
    demand_mtok: float = 50.0
    capacity_mtok: float = NO_GROWTH_CAPACITY
    revenue_usd: float = 1000.0
    marginal_cost_usd_per_mtok: float = 0.1
    lead_months: int = 6
    growth_estimate: float = 0.0
    fixed_per_unit: float = 1.2

    def average_cost(self, utilization: float) -> float:
        return self.marginal_cost_usd_per_mtok + self.fixed_per_unit / utilization

    def capacity_at(self, months_ahead: int) -> float:
        return self.capacity_mtok


@dataclass
class ScriptedMarket:
    """Last month as the firm sees it; provider 1 is the firm."""

    price_usd_per_mtok: np.ndarray = field(default_factory=lambda: np.array([3.0, 2.0, 2.5]))
    quality: np.ndarray = field(default_factory=lambda: np.array([80.0, 70.0, 60.0]))
    active: np.ndarray = field(default_factory=lambda: np.array([True, True, True]))
    demand_share: np.ndarray = field(default_factory=lambda: np.array([0.3, 0.1, 0.2]))
    outside_share: float = 0.4
    price_sensitivity: float = 1.5
    price_utility: str = "linear"
    step: int = 10
    reach_of: np.ndarray = field(default_factory=lambda: np.array([1.0, 1.0, 1.0]))

    def reach(self, provider_index: int) -> np.ndarray:
        return self.reach_of


def posted(name: str, firm: ScriptedFirm, market: ScriptedMarket, **params) -> base.Decision:
    return registry.make(name, params).decide(firm, market, RNG)


# ------------------------------------------------------------------ the shared rules
def test_capacity_order_covers_forecast_demand_at_target_utilization_net_of_the_pipeline():
    firm = ScriptedFirm(demand_mtok=100.0, growth_estimate=0.02, capacity_mtok=90.0)
    expected = 100.0 * 1.02**6 / 0.8 * 1.1 - 90.0
    assert base.capacity_order(firm, 0.8, 1.1) == pytest.approx(expected)
    assert base.capacity_order(ScriptedFirm(capacity_mtok=1e6), 0.8, 1.0) == 0.0


def test_scarcity_premium_rises_with_excess_demand_persists_when_binding_decays_when_slack():
    short = ScriptedFirm(scarcity_premium=1.2, demand_mtok=120.0)  # 20 % over capacity
    assert base.scarcity_premium(2.0, short, 0.5) == pytest.approx(1.2 * 1.1)
    cheaper = ScriptedFirm(price_usd_per_mtok=2.4, demand_mtok=120.0)  # its cost fell to 1.6
    assert base.scarcity_premium(1.6, cheaper, 0.5) == pytest.approx(1.5 * 1.1)  # no cut
    full = ScriptedFirm(scarcity_premium=1.2, demand_mtok=100.0)
    assert base.scarcity_premium(2.0, full, 0.5) == pytest.approx(1.2)
    slack = ScriptedFirm(scarcity_premium=1.2, demand_mtok=80.0)
    assert base.scarcity_premium(2.0, slack, 0.5) == pytest.approx(1.2 * 0.9)
    assert (
        base.scarcity_premium(2.0, ScriptedFirm(demand_mtok=10.0), 0.5) == 1.0
    )  # never a discount
    assert base.scarcity_premium(2.0, ScriptedFirm(demand_mtok=500.0), 0.0) == 1.0  # k = 0: none


def test_a_rationing_firm_raises_its_price_month_after_month_until_demand_fits():
    """Tatonnement against a scripted demand curve D(p) = 300 / p, capacity 100: p* = 3.

    The firm starts at its cost-plus target, AC(0.8) x 1.3 = 2.08, where demand is 1.44x
    its capacity; with k = 0.5 the premium moves by 0.5 (3 / p - 1) before the 10 % limit.
    """
    target = 1.6 * 1.3
    firm = ScriptedFirm(price_usd_per_mtok=target, demand_mtok=300.0 / target)
    prices = [target]

    def month():
        decision = posted("cost_plus", firm, ScriptedMarket())
        firm.price_usd_per_mtok = decision.price_usd_per_mtok
        firm.scarcity_premium = decision.scarcity_premium
        firm.demand_mtok = 300.0 / firm.price_usd_per_mtok
        prices.append(firm.price_usd_per_mtok)

    for _ in range(60):
        month()
    assert all(b >= a for a, b in itertools.pairwise(prices))
    assert prices[1] == pytest.approx(target * 1.1)  # one step at a time: the limit binds
    assert firm.scarcity_premium == pytest.approx(prices[-1] / target)  # no wind-up
    assert prices[-1] == pytest.approx(3.0, rel=1e-3)  # demand fits capacity
    firm.capacity_mtok = 1000.0  # capacity arrives: the premium decays back to none
    for _ in range(60):
        month()
    assert all(b <= a for a, b in itertools.pairwise(prices[61:]))
    assert firm.price_usd_per_mtok == pytest.approx(target)
    assert firm.scarcity_premium == 1.0


def test_smoothing_caps_the_monthly_change_both_ways():
    assert base.smoothed(5.0, 2.0, 0.1) == pytest.approx(2.2)
    assert base.smoothed(1.0, 2.0, 0.1) == pytest.approx(1.8)
    assert base.smoothed(2.1, 2.0, 0.1) == 2.1


# ------------------------------------------------------------------ full cost
def test_full_cost_covers_ac_at_target_utilization_and_the_rnd_share_of_revenue():
    params = registry.parse_params("cost_plus", {"rnd_share": 0.2, "target_utilization": 0.6})
    cost = builtin.full_cost(ScriptedFirm(), params)
    ac = ScriptedFirm().average_cost(0.6)
    assert cost - 0.2 * cost == pytest.approx(ac)  # revenue net of R&D pays AC exactly


# ------------------------------------------------------------------ cost_plus
def test_cost_plus_posts_its_markup_over_full_cost():
    firm = ScriptedFirm(price_usd_per_mtok=2.0)  # AC(0.8) = 0.1 + 1.5 = 1.6
    decision = posted("cost_plus", firm, ScriptedMarket(), markup=0.3, rnd_share=0.05)
    assert decision.price_usd_per_mtok == pytest.approx(1.6 / 0.95 * 1.3)
    assert decision.rnd_usd == pytest.approx(50.0)


def test_cost_plus_ignores_rivals_prices():
    firm = ScriptedFirm()
    cheap = ScriptedMarket(price_usd_per_mtok=np.array([0.1, 2.0, 0.1]))
    dear = ScriptedMarket(price_usd_per_mtok=np.array([50.0, 2.0, 50.0]))
    assert posted("cost_plus", firm, cheap) == posted("cost_plus", firm, dear)


def test_cost_plus_under_scarcity_rises_but_by_at_most_max_price_change():
    firm = ScriptedFirm(price_usd_per_mtok=2.08, demand_mtok=150.0)
    decision = posted("cost_plus", firm, ScriptedMarket(), markup=0.3)
    assert decision.price_usd_per_mtok == pytest.approx(2.08 * 1.1)


# ------------------------------------------------------------------ low_price
LOW_COST = 1.7 / 0.98  # AC(0.75) = 1.7, R&D 2 % of revenue


def test_low_price_undercuts_the_cheapest_relevant_rival():
    firm = ScriptedFirm(price_usd_per_mtok=1.9)
    market = ScriptedMarket(price_usd_per_mtok=np.array([3.0, 1.9, 2.5]))
    decision = posted("low_price", firm, market)
    assert decision.price_usd_per_mtok == pytest.approx(LOW_COST * 1.1)  # below 0.95 x 2.5
    market.price_usd_per_mtok[2] = 1.85
    assert posted("low_price", firm, market).price_usd_per_mtok == pytest.approx(1.85 * 0.95)


def test_low_price_ignores_a_rival_most_of_its_customers_cannot_reach():
    firm = ScriptedFirm(price_usd_per_mtok=1.9)
    market = ScriptedMarket(
        price_usd_per_mtok=np.array([3.0, 1.9, 1.0]), reach_of=np.array([1.0, 1.0, 0.4])
    )
    assert posted("low_price", firm, market).price_usd_per_mtok == pytest.approx(LOW_COST * 1.1)


def test_low_price_never_posts_below_full_cost_at_its_target_utilization():
    """Whatever rivals charge, from a price that paid its way, revenue still pays AC and R&D."""
    draws = np.random.default_rng(1)
    for _ in range(200):
        utilization = float(draws.uniform(0.3, 1.0))
        last = ScriptedFirm().average_cost(utilization) / 0.98 * draws.uniform(1.0, 3.0)
        firm = ScriptedFirm(price_usd_per_mtok=float(last))
        market = ScriptedMarket(price_usd_per_mtok=draws.uniform(0.01, 3.0, 3))
        price = posted("low_price", firm, market, target_utilization=utilization).price_usd_per_mtok
        assert price * (1.0 - 0.02) >= firm.average_cost(utilization) * (1.0 - 1e-12)


# ------------------------------------------------------------------ differentiation
FLAT = {"max_price_change": 1.0, "scarcity_gain": 0.0}


def test_differentiation_price_meets_the_logit_foc_at_its_observed_share():
    firm = ScriptedFirm(price_usd_per_mtok=2.5)
    market = ScriptedMarket()  # linear, a = 1.5, own share 0.1
    p = posted("differentiation", firm, market, **FLAT).price_usd_per_mtok
    cost = 1.6 / (1.0 - 0.15)
    assert (p - cost) * 1.5 * (1.0 - 0.1) == pytest.approx(1.0)
    logit = ScriptedMarket(price_utility="log", price_sensitivity=4.0)
    p = posted("differentiation", firm, logit, **FLAT).price_usd_per_mtok
    assert (p - cost) * 4.0 * (1.0 - 0.1) == pytest.approx(p)  # elasticity rule, log price


def test_differentiation_charges_more_the_larger_the_share_its_quality_wins():
    firm = ScriptedFirm(price_usd_per_mtok=2.5)
    small = ScriptedMarket(demand_share=np.array([0.3, 0.05, 0.2]))
    large = ScriptedMarket(demand_share=np.array([0.1, 0.45, 0.05]))
    assert (
        posted("differentiation", firm, large, **FLAT).price_usd_per_mtok
        > posted("differentiation", firm, small, **FLAT).price_usd_per_mtok
    )


def test_differentiation_repeated_on_its_own_demand_converges_to_the_logit_best_response():
    """Month after month at the share its price produces, the markup rule finds the optimum."""
    a, xi, others, cost = 1.5, 3.0, 2.0, 1.6
    strategy = registry.make("differentiation", {"rnd_share": 0.0, **FLAT})
    firm = ScriptedFirm(price_usd_per_mtok=cost)
    for _ in range(200):
        weight = np.exp(xi - a * firm.price_usd_per_mtok)
        market = ScriptedMarket(
            demand_share=np.array([0.0, weight / (others + weight), 0.0]), price_sensitivity=a
        )
        firm.price_usd_per_mtok = strategy.decide(firm, market, RNG).price_usd_per_mtok
    best = theory.logit_best_response(xi, cost, a, others, price_utility="linear")
    assert firm.price_usd_per_mtok == pytest.approx(best, rel=1e-9)


def test_differentiation_is_capped_where_log_demand_has_no_interior_optimum():
    firm = ScriptedFirm(price_usd_per_mtok=3.0)  # within one month's change of the cap
    inelastic = ScriptedMarket(price_utility="log", price_sensitivity=0.8)
    p = posted("differentiation", firm, inelastic, **FLAT).price_usd_per_mtok
    assert p == pytest.approx(2.0 * np.median([3.0, 2.5]))


# ------------------------------------------------------------------ penetration_then_raise
def test_penetration_prices_thin_then_raises_while_share_holds_and_cuts_when_it_falls():
    strategy = registry.make("penetration_then_raise")
    firm = ScriptedFirm(price_usd_per_mtok=1.65)
    small = ScriptedMarket(demand_share=np.array([0.3, 0.05, 0.2]), step=5)
    assert strategy.decide(firm, small, RNG).price_usd_per_mtok == pytest.approx(1.6 * 1.02)
    big = ScriptedMarket(demand_share=np.array([0.3, 0.2, 0.2]), step=6)
    assert strategy.decide(firm, big, RNG).price_usd_per_mtok == pytest.approx(1.65 * 1.03)
    lost = ScriptedMarket(demand_share=np.array([0.3, 0.17, 0.2]), step=7)  # < 0.9 x 0.2
    assert strategy.decide(firm, lost, RNG).price_usd_per_mtok == pytest.approx(1.65 * 0.97)
    firm.price_usd_per_mtok = 1.61
    assert strategy.decide(firm, lost, RNG).price_usd_per_mtok == pytest.approx(1.6)  # cost


def test_penetration_harvests_after_its_month_even_with_a_small_share():
    firm = ScriptedFirm(price_usd_per_mtok=2.0)
    late = ScriptedMarket(demand_share=np.array([0.3, 0.05, 0.2]), step=36)
    decision = posted("penetration_then_raise", firm, late)
    assert decision.price_usd_per_mtok == pytest.approx(2.0 * 1.03)


def test_penetration_raises_stop_at_its_premium_over_the_market():
    firm = ScriptedFirm(price_usd_per_mtok=4.1)  # ceiling 1.5 x median(3.0, 2.5) = 4.125
    late = ScriptedMarket(step=40)
    assert posted("penetration_then_raise", firm, late).price_usd_per_mtok == pytest.approx(4.125)


def test_penetration_exits_after_give_up_months_below_its_niche_share():
    strategy = registry.make("penetration_then_raise", {"give_up_months": 12})
    firm = ScriptedFirm(price_usd_per_mtok=2.0)
    gone = ScriptedMarket(demand_share=np.array([0.5, 0.005, 0.3]), step=40)
    exits = [strategy.decide(firm, gone, RNG).exit for _ in range(12)]
    assert exits == [False] * 11 + [True]
    back = registry.make("penetration_then_raise", {"give_up_months": 12})
    held = ScriptedMarket(demand_share=np.array([0.5, 0.02, 0.3]), step=40)
    assert not any(back.decide(firm, held, RNG).exit for _ in range(24))


# ------------------------------------------------------------------ follower
def test_follower_posts_the_median_of_active_rivals_with_its_offset():
    firm = ScriptedFirm(price_usd_per_mtok=2.6)
    market = ScriptedMarket(
        price_usd_per_mtok=np.array([2.0, 2.6, 3.0, 2.5, 9.0]),
        active=np.array([True, True, True, True, False]),
        quality=np.zeros(5),
        demand_share=np.zeros(5),
    )
    decision = posted("follower", firm, market, offset=0.04)
    assert decision.price_usd_per_mtok == pytest.approx(2.5 * 1.04)


def test_follower_never_prices_below_full_cost_and_holds_alone():
    firm = ScriptedFirm(price_usd_per_mtok=1.7)
    cheap = ScriptedMarket(price_usd_per_mtok=np.array([1.0, 1.7, 1.0]))
    assert posted("follower", firm, cheap).price_usd_per_mtok == pytest.approx(1.6)
    alone = ScriptedMarket(active=np.array([False, True, False]))
    assert posted("follower", firm, alone).price_usd_per_mtok == pytest.approx(1.7)


# ------------------------------------------------------------------ best_response
def test_best_response_maximises_its_logit_profit_on_full_cost():
    """Berry inversion of the observed shares, then (p - full cost) s(p) is at its maximum."""
    firm = ScriptedFirm(price_usd_per_mtok=2.0, marginal_cost_usd_per_mtok=0.5)
    market = ScriptedMarket()
    decision = posted("best_response", firm, market, **FLAT)
    cost = firm.average_cost(0.8)  # 2.0: the power bill is a quarter of it
    a, s0, own = market.price_sensitivity, market.outside_share, market.demand_share[1]
    xi = np.log(own / s0) + a * firm.price_usd_per_mtok
    others = 1.0 + (market.demand_share.sum() - own) / s0

    def profit(p):
        e = np.exp(xi - a * p)
        return (p - cost) * e / (others + e)

    p = decision.price_usd_per_mtok
    assert p > cost
    assert profit(p) >= max(profit(p * 0.99), profit(p * 1.01))
    assert p == pytest.approx(
        theory.logit_best_response(xi, cost, a, others, price_utility="linear"), rel=1e-6
    )


def test_best_response_holds_its_price_without_a_share_to_invert():
    firm = ScriptedFirm(price_usd_per_mtok=2.0)
    market = ScriptedMarket(demand_share=np.array([0.3, 0.0, 0.2]))
    assert posted("best_response", firm, market).price_usd_per_mtok == pytest.approx(2.0)


# ------------------------------------------------------------------ every built-in
BUILTINS = ["cost_plus", "low_price", "differentiation", "penetration_then_raise", "follower",
            "best_response"]  # fmt: skip


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize(("utility", "slope"), [("linear", 1.5), ("log", 4.0), ("log", 0.8)])
def test_no_customers_and_no_quality_edge_never_buy_a_price_many_times_the_market(
    name, utility, slope
):
    """Five years with no customers and rivals of equal quality at 2.5: at most 2x theirs."""
    strategy = registry.make(name)
    firm = ScriptedFirm(price_usd_per_mtok=2.5, demand_mtok=0.0, revenue_usd=0.0)
    posted_prices = []
    for month in range(60):
        market = ScriptedMarket(
            price_usd_per_mtok=np.array([2.5, firm.price_usd_per_mtok, 2.5]),
            quality=np.full(3, 70.0),
            demand_share=np.array([0.3, 0.0, 0.3]),
            price_utility=utility,
            price_sensitivity=slope,
            step=month,
        )
        firm.price_usd_per_mtok = strategy.decide(firm, market, RNG).price_usd_per_mtok
        posted_prices.append(firm.price_usd_per_mtok)
    assert max(posted_prices) <= 2.0 * 2.5 * (1.0 + 1e-12)


# ------------------------------------------------------------------ registry
def test_every_builtin_is_found_through_the_entry_point_group():
    from importlib.metadata import entry_points

    found = {ep.name for ep in entry_points(group=registry.GROUP)}
    assert (
        set(registry.names())
        >= found
        >= {
            "cost_plus",
            "low_price",
            "differentiation",
            "penetration_then_raise",
            "follower",
            "best_response",
        }
    )


def test_bad_strategy_params_are_named():
    with pytest.raises(ValueError, match=r"strategy_params\.markup: must be finite"):
        registry.make("cost_plus", {"markup": float("inf")})
    with pytest.raises(ValueError, match=r"strategy_params\.markup: must be a number"):
        registry.make("cost_plus", {"markup": True})
    with pytest.raises(ValueError, match=r"strategy_params\.margin: unknown key"):
        registry.make("cost_plus", {"margin": 0.1})


# ------------------------------------------------------------------ a third-party plugin
PLUGIN = '''
"""A test plugin: cost plus a random markup, drawn from the strategy's own stream."""

from typing import ClassVar

from tokenmarket.agents.strategies import Classifier, PostingParams, Strategy, param, post


class JitterParams(PostingParams):
    markup: float = param(0.3, unit="share of AC", doc="mean markup", ge=0, le=5)
    noise: float = param(0.1, unit="share of AC", doc="half-width of the draw", ge=0, le=1)


class Jitter(Strategy):
    """Cost plus a uniformly drawn markup."""

    Params = JitterParams
    classifier: ClassVar[Classifier] = {
        "uses_rival_prices": False,
        "uses_demand_estimates": False,
        "stochastic": True,
    }

    def decide(self, me, market, rng):
        p = self.params
        markup = p.markup + p.noise * rng.uniform(-1.0, 1.0)
        return post(me, me.average_cost(p.target_utilization) * (1.0 + markup), p)
'''


def build_wheel(folder: Path) -> Path:
    """A real wheel of the distribution `tm-jitter`, declaring its entry point."""
    wheel = folder / "tm_jitter-0.1-py3-none-any.whl"
    info = "tm_jitter-0.1.dist-info"
    files = {
        "tm_jitter.py": PLUGIN,
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: tm-jitter\nVersion: 0.1\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        f"{info}/entry_points.txt": "[tokenmarket.strategies]\njitter = tm_jitter:Jitter\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(name, text)
    return wheel


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin pip-installed into a directory of its own (not into the test's venv)."""
    folder = tmp_path_factory.mktemp("plugin")
    site = folder / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(site), str(build_wheel(folder))],
        check=True,
    )  # fmt: skip
    return site


def tokenmarket(site: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [str(BIN / "tokenmarket"), *argv], env=env, capture_output=True, text=True, timeout=600
    )


def test_an_installed_plugin_is_listed_with_its_params_and_classifier(plugin_site):
    done = tokenmarket(plugin_site, "strategies", "--json")
    assert done.returncode == 0, done.stderr
    jitter = next(s for s in json.loads(done.stdout) if s["name"] == "jitter")
    assert jitter["classifier"]["stochastic"] is True
    assert {p["name"] for p in jitter["params"]} >= {"markup", "noise", "target_utilization"}
    knobs = json.loads(
        tokenmarket(plugin_site, "knobs", "--scenario", "classroom", "--json").stdout
    )
    assert "jitter" in next(k for k in knobs if k["name"] == "strategy_cn_lowcost")["choices"]


def test_a_sweep_runs_a_plugin_identically_in_serial_and_process_pool(plugin_site, tmp_path):
    spec = tmp_path / "jitter.toml"
    spec.write_text(
        tomli_w.dumps(
            {
                "scenario": "classroom",
                "steps": 6,
                "replications": 2,
                "seed": 5,
                "fixed": {"n_developers": 150, "strategy_cn_lowcost": "jitter"},
                "parameters": {"param_cn_lowcost_noise": [0.0, 0.5]},
            }
        )
    )
    summaries = []
    for executor in (["--executor", "serial"], ["--executor", "processes", "--workers", "2"]):
        out = tmp_path / executor[1]
        done = tokenmarket(plugin_site, "sweep", str(spec), "--out", str(out), *executor)
        assert done.returncode == 0, done.stderr
        summaries.append(pd.read_parquet(out / "summary.parquet"))
    serial, pool = summaries
    pd.testing.assert_frame_equal(serial, pool)
    jitter = serial[serial["provider"] == "cn_lowcost"]
    assert set(jitter["strategy"]) == {"jitter"}
    noisy = jitter[jitter["param_cn_lowcost_noise"] == 0.5]["price_usd_per_mtok"].astype(float)
    assert noisy.nunique() == len(noisy)  # replications draw different markups


def test_without_the_plugin_its_name_is_an_input_error(tmp_path):
    done = tokenmarket(tmp_path, "run", "--scenario", "classroom", "--set",
                       "strategy_cn_lowcost=jitter", "--out", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: --set: strategy_cn_lowcost: must be one of")
    assert not (tmp_path / "out").exists()
