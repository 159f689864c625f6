"""The model as Mesa and its users see it: determinism, batch_run, agents, overrides."""

import mesa
import numpy as np
import pandas as pd
import pytest

from tokenmarket.agents.developer import Developer
from tokenmarket.agents.provider import Provider
from tokenmarket.model.demand import OUTSIDE
from tokenmarket.model.market import FRAME_KEYS, MARKET_COLUMNS, PROVIDER_COLUMNS, TokenMarket
from tokenmarket.model.scenario import ScenarioError, builtin_names, load_scenario


def frames(seed, scenario="classroom", steps=12):
    model = TokenMarket(scenario, rng=seed, n_developers=500)
    model.run_for(steps)
    return model.provider_frame(), model.market_frame(), model.flow_frame()


@pytest.mark.parametrize("scenario", ["classroom", "synthetic"])
def test_same_seed_same_run_bit_for_bit(scenario):
    for first, second in zip(frames(7, scenario), frames(7, scenario), strict=True):
        pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_different_seeds_differ():
    assert not frames(1)[0].equals(frames(2)[0])


def test_frames_are_tidy_with_documented_columns():
    providers, market, flows = frames(3)
    assert list(providers.columns) == [
        *FRAME_KEYS,
        "provider",
        "region",
        "strategy",
        *PROVIDER_COLUMNS,
    ]
    assert list(market.columns) == [*FRAME_KEYS, *MARKET_COLUMNS]
    assert providers.groupby("step").size().eq(4).all()
    assert market["step"].tolist() == list(range(1, 13))
    assert set(flows.columns) == {
        *FRAME_KEYS,
        "developer_region",
        "home_region",
        "served_mtok",
        "cross_border",
        "invested_mtok",
    }
    assert providers["customers"].dtype == np.int64
    for frame in (providers, market, flows):
        assert (frame["seed"] == 3).all() and (frame["run_id"] == "classroom-seed3").all()
        # step 1 is the scenario's start month; one calendar month per step
        start = pd.Period(load_scenario("classroom").start, freq="M")
        months = frame["date"].dt.to_period("M")
        assert ((months - start).map(lambda offset: offset.n) == frame["step"] - 1).all()
        assert (frame["date"].dt.day == 1).all()


def test_missing_values_are_nan_in_float64_columns():
    model = TokenMarket("going_global", rng=1, n_developers=300)
    model.run_for(10)
    model.provider_list[0].should_exit = lambda: True  # an exit: its later prices are undefined
    model.run_for(20)
    providers, market = model.provider_frame(), model.market_frame()
    assert providers["price_usd_per_mtok"].isna().any()  # the premise
    for frame in (providers, market):
        numbers = frame.select_dtypes("number")
        assert set(numbers.dtypes) <= {np.dtype("float64"), np.dtype("int64")}  # no pd.NA types


def test_segment_frame_adds_up_to_the_providers():
    """Summed over segments, served tokens are each provider's (all its tiers), and so is
    demand for a provider of one model (a tiered one counts demand in Mtok of its reference
    model); within a segment that bought anything, the token shares sum to one."""
    model = TokenMarket("going_global", rng=2, n_developers=1500)
    model.run_for(8)
    segments, providers = model.segment_frame(), model.provider_frame()
    summed = segments.groupby(["step", "provider"])[["demand_mtok", "served_mtok"]].sum()
    by_provider = providers.set_index(["step", "provider"]).loc[summed.index]
    assert np.allclose(summed["served_mtok"], by_provider["tokens_mtok"], rtol=1e-9)
    single = [p.name for p in model.provider_list if len(p.tiers) == 1]
    one_model = summed.index.get_level_values("provider").isin(single)
    assert one_model.any() and not one_model.all()
    assert np.allclose(
        summed.loc[one_model, "demand_mtok"], by_provider.loc[one_model, "demand_mtok"], rtol=1e-9
    )
    shares = segments.groupby(["step", "segment"])["token_share"].sum()
    assert np.allclose(shares, 1.0)
    assert TokenMarket("going_global", rng=2, n_developers=100).segment_frame().empty


def test_frames_of_a_fresh_model_have_columns_and_no_rows():
    fresh = TokenMarket("classroom", rng=1, n_developers=100)
    for empty, full in zip(
        (fresh.provider_frame(), fresh.market_frame(), fresh.flow_frame()), frames(1), strict=True
    ):
        assert empty.empty
        assert list(empty.columns) == list(full.columns)
    assert fresh.strategy_frame().empty


def test_strategy_frame_sums_its_providers():
    model = TokenMarket("going_global", rng=2, n_developers=800)
    model.run_for(6)
    strategies = model.strategy_frame()
    assert len(strategies) == 6 * 5  # five strategies among seven providers
    assert np.allclose(strategies.groupby("step")["token_share"].sum(), 1.0)
    cost_plus = model.provider_frame().query("strategy == 'cost_plus' and step == 6")
    row = strategies.query("strategy == 'cost_plus' and step == 6").iloc[0]
    assert row["profit_usd"] == cost_plus["profit_usd"].sum()


def test_mesa_batch_run_works_on_the_constructor():
    results = mesa.batch_run(
        TokenMarket,
        parameters={"scenario": "classroom", "n_developers": 300, "switching_cost": [0.5, 3.0]},
        rng=[1, 2],
        max_steps=5,
        number_processes=1,
        data_collection_period=1,
        display_progress=False,
    )
    frame = pd.DataFrame(results)
    assert len(frame) == 2 * 2 * 5 * 4  # runs x months x providers
    assert {"hhi", "outside_share", "switching_cost", "price_usd_per_mtok"} <= set(frame.columns)
    assert set(frame["provider"]) == {p.name for p in load_scenario("classroom").providers}
    assert sorted(frame["Step"].unique()) == [1, 2, 3, 4, 5]
    by_cost = frame.groupby("switching_cost")["RunId"].nunique()
    assert by_cost.tolist() == [2, 2]


def test_developer_agents_are_windows_on_the_population():
    model = TokenMarket("classroom", rng=5, n_developers=400)
    model.run_for(3)
    developers = model.agents_by_type[Developer]
    assert len(developers) == 400
    assert len(model.agents_by_type[Provider]) == 4
    for developer in list(developers)[:50]:
        choice = model.population.choice[developer.row]
        assert (developer.provider is None) == (choice == OUTSIDE)
        if developer.provider is not None:
            assert developer.provider.index == choice
        assert all(p.active for p in developer.choice_set)
        assert developer.region in model.spec.region_names


def test_overrides_reach_the_scenario():
    spec = load_scenario(
        "going_global",
        electricity_CN=0.01,
        pue_EU=1.05,
        switching_cost=3.0,
        access_US_CN=0.0,
        strategy_eu_sovereign_ai="low_price",
    )
    assert spec.access_matrix()[1, 0] == 0.0
    assert spec.providers[5].strategy == "low_price"
    assert load_scenario("going_global", foreign_access=0.0).access_matrix().trace() == 5
    assert load_scenario("going_global", foreign_access=0.0).access_matrix().sum() == 5
    assert spec.regions[0].electricity_usd_per_kwh == 0.01
    assert all(p.pue == 1.05 for p in spec.providers if p.home == "EU")
    assert all(s.switching_cost_median == 3.0 for s in spec.segments)


def test_grid_price_knob_moves_contracts_in_proportion():
    """`electricity_<REGION>` is the grid price: no-contract providers pay it, PPAs keep their
    ratio to it (going_global's CN grid is $0.05/kWh, the green hub's contract $0.04)."""
    base = load_scenario("going_global")
    spec = load_scenario("going_global", electricity_CN=0.10)
    ratio = 0.10 / base.regions[0].electricity_usd_per_kwh
    paid, before = (
        {p.name: p.own_electricity_usd_per_kwh for p in TokenMarket(s, rng=0).provider_list}
        for s in (spec, base)
    )
    contract = {p.name: p.electricity_usd_per_kwh for p in base.all_providers}
    assert paid["cn_cloud_platform"] == 0.10 and contract["cn_cloud_platform"] is None
    assert paid["cn_green_hub_open"] == pytest.approx(contract["cn_green_hub_open"] * ratio)
    homes = {p.name: p.home for p in base.all_providers}
    assert all(paid[name] == before[name] for name in paid if homes[name] != "CN")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"colour": 1}, "colour"),
        ({"electricity_CN": -0.1}, "electricity_CN"),
        ({"electricity_MARS": 0.1}, "electricity_MARS"),
        ({"n_providers": 3}, "n_providers"),
        ({"homogenization": 1.5}, "homogenization: must be from 0 to 0.5"),
        ({"n_developers": 0}, "n_developers"),
        ({"strategy_nobody": "low_price"}, "strategy_nobody"),
        ({"strategy_us_budget_api": "haggle"}, "strategy_us_budget_api: must be one of"),
        ({"access_US_MARS": 0.5}, "access_US_MARS"),
        ({"foreign_access": 2.0}, "foreign_access"),
        ({"param_us_budget_api_markup": float("nan")}, "param_us_budget_api_markup: must be fin"),
        ({"param_us_budget_api_margin": 0.1}, "param_us_budget_api_margin: unknown"),
    ],
)
def test_bad_overrides_name_the_field(overrides, field):
    with pytest.raises(ScenarioError, match=field):
        TokenMarket("going_global", rng=1, **overrides)


def test_developers_set_resolution_not_market_size():
    sizes = []
    for n in (1000, 4000):
        model = TokenMarket("classroom", rng=1, n_developers=n)
        sizes.append(model.population.base_demand_mtok.sum())
    assert load_scenario("classroom").represented_developers == 2000
    assert sizes[0] == pytest.approx(sizes[1], rel=0.15)  # same market, sampled coarser or finer


def test_negative_seed_is_a_user_error():
    with pytest.raises(ScenarioError, match="rng"):
        TokenMarket("classroom", rng=-1)


def test_synthetic_scenario_is_sized_by_overrides_and_reloadable(tmp_path):
    spec = load_scenario(
        "synthetic", n_providers=9, n_regions=3, n_developers=123, synthetic_seed=4
    )
    assert (len(spec.providers), len(spec.regions), spec.n_developers) == (9, 3, 123)
    path = tmp_path / "s.toml"
    path.write_text(spec.to_toml())
    assert load_scenario(path) == spec
    assert {"classroom", "going_global", "logit_duopoly", "synthetic"} <= set(builtin_names())


def test_exited_provider_goes_dark_and_its_customers_move(make_variant):
    def doomed(data):
        data["market"]["burn_in_months"] = 0
        data["providers"][3]["opex_fixed_usd_per_month"] = 1e9

    model = TokenMarket(make_variant("classroom", doomed), rng=1, n_developers=500)
    model.run_for(4)
    rows = model.provider_frame().query("provider == 'eu_follower'")
    assert rows["active"].tolist() == [False, False, False, False]
    later = rows[rows["step"] > 1]
    assert (later[["served_mtok", "capacity_mtok", "revenue_usd", "customers"]] == 0).all().all()
    assert (later["cash_usd"] == rows["cash_usd"].iloc[0]).all()
    assert later["price_usd_per_mtok"].isna().all() and rows["price_usd_per_mtok"].notna().iloc[0]
    assert not (model.population.choice == 3).any()
