"""Scheduled shocks: each does what it says, at the step it says, and nothing before."""

import pandas as pd
import pytest
import tomli_w

from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import ScenarioError, load_scenario

AT = 6
STEPS = 14


def run_with(make_variant, *shocks, seed=3):
    def edit(data):
        data["shocks"] = list(shocks)

    model = TokenMarket(make_variant("classroom", edit), rng=seed, n_developers=800)
    model.run_for(STEPS)
    return model


@pytest.fixture(scope="module")
def base():
    model = TokenMarket("classroom", rng=3, n_developers=800)
    model.run_for(STEPS)
    return model


def column(model, provider, name):
    frame = model.provider_frame()
    return frame[frame["provider"] == provider].set_index("step")[name].astype(float)


def mc_ratio(shocked, base, provider):
    """Marginal cost in the shocked run over the same seed's run without the shock."""
    name = "marginal_cost_usd_per_mtok"
    return column(shocked, provider, name) / column(base, provider, name)


def assert_same_before(shocked, base):
    before = shocked.provider_frame().query("step < @AT")
    pd.testing.assert_frame_equal(before, base.provider_frame().query("step < @AT"))


def test_electricity_price_shock(make_variant, base):
    shocked = run_with(
        make_variant, {"kind": "electricity", "step": AT, "region": "CN", "factor": 3.0}
    )
    assert_same_before(shocked, base)
    ratio = mc_ratio(shocked, base, "cn_lowcost")
    assert (ratio[ratio.index < AT] == 1).all()
    assert ratio[ratio.index >= AT].to_numpy() == pytest.approx(3.0)
    assert column(shocked, "us_frontier", "marginal_cost_usd_per_mtok").equals(
        column(base, "us_frontier", "marginal_cost_usd_per_mtok")
    )


def test_carbon_price_shock(make_variant, base):
    shocked = run_with(
        make_variant, {"kind": "carbon", "step": AT, "region": "US", "usd_per_kwh": 0.05}
    )
    assert_same_before(shocked, base)
    provider = base.provider_list[0]  # us_frontier
    expected = (
        0.05 * provider.pue * provider.energy_kwh_per_mtok * (1 - provider.idle_power_fraction)
    )
    gap = column(shocked, "us_frontier", "marginal_cost_usd_per_mtok") - column(
        base, "us_frontier", "marginal_cost_usd_per_mtok"
    )
    assert (gap[gap.index < AT] == 0).all()
    assert gap[gap.index >= AT].to_numpy() == pytest.approx(expected)


def test_access_ban_and_lift(make_variant, base):
    def us_from_cn(model):
        flows = model.flow_frame()
        route = flows[(flows["developer_region"] == "US") & (flows["home_region"] == "CN")]
        return route.set_index("step")["served_mtok"]

    banned = run_with(
        make_variant,
        {"kind": "access", "step": AT, "developer_region": "US", "home": "CN", "probability": 0.0},
    )
    assert_same_before(banned, base)
    assert (us_from_cn(banned)[lambda x: x.index < AT] > 0).all()
    assert (us_from_cn(banned)[lambda x: x.index >= AT] == 0).all()

    lifted = run_with(
        make_variant,
        {"kind": "access", "step": 1, "developer_region": "US", "home": "CN", "probability": 0.0},
        {"kind": "access", "step": AT, "developer_region": "US", "home": "CN", "probability": 1.0},
    )
    assert (us_from_cn(lifted)[lambda x: x.index < AT] == 0).all()
    assert us_from_cn(lifted)[lambda x: x.index >= AT + 2].gt(0).all()


def test_demand_growth_shock(make_variant, base):
    shocked = run_with(
        make_variant, {"kind": "demand_growth", "step": AT, "region": "US", "per_month": 0.5}
    )
    assert_same_before(shocked, base)
    us = shocked.population.region == shocked.spec.region_names.index("US")
    ratio = shocked.population.base_demand_mtok[us] / base.population.base_demand_mtok[us]
    us_growth = base.spec.regions[1].demand_growth_per_month
    assert ratio == pytest.approx((1.5 / (1 + us_growth)) ** (STEPS - AT + 1))
    others = ~us
    assert (
        shocked.population.base_demand_mtok[others] == base.population.base_demand_mtok[others]
    ).all()


def test_efficiency_shock(make_variant, base):
    shocked = run_with(
        make_variant, {"kind": "efficiency", "step": AT, "region": "EU", "factor": 2.0}
    )
    assert_same_before(shocked, base)
    ratio = mc_ratio(shocked, base, "eu_follower")
    assert ratio[ratio.index >= AT].to_numpy() == pytest.approx(2.0)
    energy_per_capacity = column(shocked, "eu_follower", "energy_kwh") / column(
        shocked, "eu_follower", "capacity_mtok"
    )
    assert energy_per_capacity[AT] > 1.5 * energy_per_capacity[AT - 1]


def test_capacity_growth_limit(make_variant, base):
    """A zero cap freezes the fleet's size (replacements allowed) once pre-cap orders arrive."""
    shocked = run_with(
        make_variant,
        {"kind": "capacity_limit", "step": 2, "region": "CN", "max_growth_per_month": 0.0},
    )
    lead = shocked.spec.market.capacity_lead_months
    capped = column(shocked, "cn_lowcost", "capacity_mtok")
    ceiling = capped[capped.index <= 1 + lead].max()
    assert (capped[capped.index > 1 + lead] <= ceiling * (1 + 1e-9)).all()
    assert column(shocked, "cn_lowcost", "capex_paid_usd")[lambda x: x.index >= 2].sum() > 0
    assert column(base, "cn_lowcost", "capacity_mtok").iloc[-1] > 1.05 * ceiling


def test_entrant_enters_on_schedule(make_variant):
    entrant = load_scenario("classroom").providers[2].model_dump() | {
        "name": "eu_newcomer",
        "home": "EU",
    }
    model = run_with(make_variant, {"kind": "entry", "step": AT, "provider": entrant})
    rows = model.provider_frame().query("provider == 'eu_newcomer'").set_index("step")
    before, after = rows[rows.index < AT], rows[rows.index >= AT]
    assert not before["active"].any()
    assert (before[["capacity_mtok", "customers", "served_mtok"]] == 0).all().all()
    assert after["active"].all() and (after["capacity_mtok"] > 0).all()
    assert after["customers"].iloc[-1] > 0


def test_quality_jump(make_variant, base):
    shocked = run_with(
        make_variant, {"kind": "quality_jump", "step": AT, "provider": "us_budget", "points": 10.0}
    )
    assert_same_before(shocked, base)
    gap = column(shocked, "us_budget", "quality") - column(base, "us_budget", "quality")
    kappa = shocked.spec.market.homogenization
    assert gap[AT] == pytest.approx(10.0 * (1 - kappa), rel=0.05)


@pytest.mark.parametrize(
    ("shock", "field"),
    [
        ({"kind": "electricity", "step": 2, "region": "MARS", "factor": 2.0}, "shocks.0.region"),
        (
            {
                "kind": "access",
                "step": 2,
                "developer_region": "US",
                "home": "CN",
                "probability": 1.5,
            },
            "probability",
        ),
        (
            {"kind": "quality_jump", "step": 2, "provider": "nobody", "points": 3.0},
            "shocks.0.provider",
        ),
        ({"kind": "meteor", "step": 2}, "shocks.0"),
        ({"kind": "carbon", "step": 0, "region": "US", "usd_per_kwh": 0.1}, "step"),
    ],
)
def test_bad_shocks_name_the_field(tmp_path, shock, field):
    data = load_scenario("classroom").model_dump(exclude_none=True) | {"shocks": [shock]}
    path = tmp_path / "shocked.toml"
    path.write_text(tomli_w.dumps(data))
    with pytest.raises(ScenarioError, match=field):
        load_scenario(path)
