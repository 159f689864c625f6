"""Sites abroad: capacity at a host's costs and GPUs, the nearest site's latency, tokens by site."""

import numpy as np
import pandas as pd
import pytest

from tokenmarket.model import sites
from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import ScenarioError, _validate, load_scenario

SMALL = {"n_developers": 1500}


def _scenario(site_list=None, permission=None, barred=None):
    """going_global with the given sites, APAC permission for CN, and h100 barred homes."""
    data = load_scenario("going_global").model_dump()
    if site_list is not None:
        data["sites"] = site_list
    if permission is not None:
        data["site_permission"] = permission
    if barred is not None:
        data["gpus"][0]["barred_homes"] = barred
    return _validate(data, "test")


def _run(spec, months, seed=2):
    model = TokenMarket(spec, rng=seed, **SMALL)
    for _ in range(months):
        model.step()
    return model


def _frames(model):
    market = model.market_frame().drop(
        columns=["cross_border_export_share", "cross_border_investment_share"]
    )
    return model.provider_frame(), market, model.product_frame()


class TestWithoutSites:
    """A site never built leaves the run as it is without sites: bit for bit."""

    def test_an_unbuilt_site_changes_nothing(self):
        never = [{"provider": "cn_green_hub_open", "region": "APAC", "sunk_cost_usd": 0.0}]
        without = _frames(_run(_scenario(site_list=[]), 24))
        refused = _frames(_run(_scenario(never, permission={"APAC": {"CN": 0.0}}), 24))
        for a, b in zip(without, refused, strict=True):
            pd.testing.assert_frame_equal(a, b, check_exact=True)

    def test_without_sites_every_token_is_served_from_home(self):
        model = _run(_scenario(site_list=[]), 12)
        assert model.flow_frame()["invested_mtok"].sum() == 0.0
        flows = model.site_flow_frame()
        assert flows.loc[flows["site_abroad"], "served_mtok"].sum() == 0.0
        market = model.market_frame()
        assert (market["cross_border_investment_share"] == 0.0).all()
        np.testing.assert_allclose(
            market["cross_border_export_share"], market["cross_border_share"], rtol=1e-12
        )

    def test_same_seed_same_run_with_sites(self):
        a, b = (_frames(_run(_scenario(), 30)) for _ in range(2))
        for x, y in zip(a, b, strict=True):
            pd.testing.assert_frame_equal(x, y, check_exact=True)


class TestConservation:
    """Tokens served by sites and home add up to the provider's; flows by site to flows by home."""

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls):
        dated = [
            {"provider": "cn_green_hub_open", "region": "APAC", "open_step": 6, "lead_months": 3},
            {"provider": "us_frontier_lab", "region": "EU", "open_step": 4, "lead_months": 2},
        ]
        return _run(_scenario(dated), 30)

    def test_flows_by_site_sum_to_flows_by_home(self, model):
        by_site = np.array(model.datacollector.model_vars["site_flows_mtok"])
        by_home = np.array(model.datacollector.model_vars["flows_mtok"])
        np.testing.assert_allclose(by_site.sum(axis=3), by_home, rtol=1e-9, atol=1e-6)
        assert by_site[:, :, :, :].min() >= -1e-6

    def test_sites_serve_within_capacity_and_the_provider_serves_the_rest(self, model):
        site_rows = model.site_frame()
        assert (site_rows["served_mtok"] <= site_rows["capacity_mtok"] * (1 + 1e-9)).all()
        assert site_rows.loc[site_rows["open"], "served_mtok"].sum() > 0
        providers = model.provider_frame().set_index(["step", "provider"])
        served = site_rows.groupby(["step", "provider"])["served_mtok"].sum()
        assert (served <= providers.loc[served.index, "served_mtok"] * (1 + 1e-9)).all()

    def test_flow_frames_agree(self, model):
        by_site = model.site_flow_frame()
        keys = ["step", "developer_region", "home_region"]
        summed = by_site.groupby(keys, sort=False)["served_mtok"].sum().to_numpy()
        flows = model.flow_frame()
        np.testing.assert_allclose(summed, flows["served_mtok"], rtol=1e-9, atol=1e-6)
        invested = by_site[by_site["site_abroad"]].groupby(keys, sort=False)["served_mtok"].sum()
        np.testing.assert_allclose(
            invested.to_numpy(), flows["invested_mtok"], rtol=1e-9, atol=1e-6
        )
        assert flows["invested_mtok"].sum() > 0

    def test_export_and_investment_add_up_to_the_cross_border_share(self, model):
        market = model.market_frame()
        np.testing.assert_allclose(
            market["cross_border_export_share"] + market["cross_border_investment_share"],
            market["cross_border_share"],
            rtol=1e-9,
        )
        assert market["cross_border_investment_share"].iloc[-1] > 0

    def test_a_provider_pays_its_sites_cost_lines(self, model):
        rows = model.site_frame()
        last = rows[rows["step"] == rows["step"].max()].set_index("provider")
        providers = model.provider_frame()
        final = providers[providers["step"] == providers["step"].max()].set_index("provider")
        for name in last.index:
            for line in ("electricity_usd", "capex_usd", "opex_usd", "energy_kwh"):
                assert final.loc[name, line] >= last.loc[name, line] > 0


class TestLatencyAndCost:
    """A site abroad lowers its host's latency from its opening; its costs are the host's."""

    def test_host_developers_see_the_site_from_its_opening(self):
        dated = [{"provider": "cn_green_hub_open", "region": "ROW", "open_step": 5}]
        model = _run(_scenario(dated), 6)
        j = next(p.index for p in model.provider_list if p.name == "cn_green_hub_open")
        row = model.spec.region_names.index("ROW")
        public = model.spec.latency_matrix()
        assert model.routes.latency_ms(4)[row, j] == public[row, 0]  # CN's route
        assert model.routes.latency_ms(5)[row, j] == public[row, row] < public[row, 0]
        eu = model.spec.region_names.index("EU")  # EU is nearer ROW than CN: it gains too
        assert model.routes.latency_ms(5)[eu, j] == min(public[eu, 0], public[eu, row])

    def test_site_costs_follow_the_host_power_price_and_pue(self):
        dated = [
            {"provider": "cn_green_hub_open", "region": "EU", "open_step": 3, "pue": 1.5},
        ]
        model = _run(_scenario(dated, barred=[]), 20)  # a CN firm may buy GPUs in the EU
        site = model.provider_list[
            next(p.index for p in model.provider_list if p.name == "cn_green_hub_open")
        ].sites[0]
        grid = model.spec.regions[model.spec.region_names.index("EU")].electricity_usd_per_kwh
        assert site.electricity_usd_per_kwh == grid != site.owner.electricity_usd_per_kwh
        assert site.pue == 1.5 != site.owner.pue
        assert site.capacity_mtok > 0
        assert site.electricity_usd == pytest.approx(grid * site.energy_kwh)
        rows = model.site_frame()
        assert (rows.loc[rows["open"], "electricity_usd_per_kwh"] == grid).all()

    def test_a_power_shock_in_the_host_reaches_its_sites_built_before_and_after(self):
        data = _scenario(site_list=[]).model_dump()
        data["sites"] = [
            {"provider": "us_frontier_lab", "region": "APAC", "open_step": 2, "lead_months": 1},
            {"provider": "us_frontier_lab", "region": "ROW", "open_step": 8, "lead_months": 1},
        ]
        data["shocks"] += [
            {"kind": "electricity", "step": 4, "region": "APAC", "factor": 2.0},
            {"kind": "electricity", "step": 4, "region": "ROW", "factor": 3.0},
        ]
        model = _run(_validate(data, "test"), 10)
        apac, row = model.provider_list[0].sites
        grid = {r.name: r.electricity_usd_per_kwh for r in model.spec.regions}
        assert apac.electricity_usd_per_kwh == pytest.approx(2.0 * grid["APAC"])
        assert row.electricity_usd_per_kwh == pytest.approx(3.0 * grid["ROW"])


class TestExportControls:
    """A site buys what its host may buy, unless the GPU's rule follows its owner's home."""

    def _site(self, barred):
        dated = [{"provider": "cn_green_hub_open", "region": "APAC", "open_step": 2}]
        model = _run(_scenario(dated, barred=barred), 20)
        owner = next(p for p in model.provider_list if p.name == "cn_green_hub_open")
        return model, owner, owner.sites[0]

    def test_controls_do_not_bind_at_a_site_in_a_region_that_may_buy(self):
        model, owner, site = self._site(barred=[])
        names = model.gpu_market.names
        assert names[site.gpu] == "h100"
        assert names[owner.gpu] != "h100"  # at home: the export-controlled market's GPU
        assert site.capex_per_unit_usd < owner.capex_per_unit_usd

    def test_a_headquarters_rule_binds_abroad_too(self):
        model, _, site = self._site(barred=["CN"])
        assert model.gpu_market.names[site.gpu] != "h100"


class TestBuildDecision:
    """A site decided by value: built when worth its sunk cost and permitted, never otherwise."""

    def _built(self, sunk, permission=1.0):
        option = [{"provider": "cn_green_hub_open", "region": "ROW", "sunk_cost_usd": sunk}]
        model = _run(_scenario(option, permission={"ROW": {"CN": permission}}), 18)
        return bool(model.site_frame()["built"].any())

    def test_a_free_site_that_saves_latency_is_built(self):
        assert self._built(0.0)

    def test_a_site_dearer_than_any_firm_is_not_built(self):
        assert not self._built(1e12)

    def test_a_refused_site_is_not_built(self):
        assert not self._built(0.0, permission=0.0)

    def test_the_value_of_a_monthly_gain_is_its_perpetuity_discounted(self):
        now = sites.value_usd(1.0, 0, 0.1, 0.02)
        later = sites.value_usd(1.0, 12, 0.1, 0.02)
        assert later == pytest.approx(now / 1.1)
        assert sites.value_usd(-1.0, 0, 0.1, 0.02) == 0.0  # never built: worth nothing


class TestAllocation:
    """Load goes to the nearest location with room; nothing is lost or made up."""

    def test_nearest_first_within_capacity(self):
        rng = np.random.default_rng(3)
        for _ in range(50):
            load = rng.uniform(0, 10, 5)
            capacity = rng.uniform(0, 10, 3)
            capacity[0] += max(0.0, load.sum() - capacity.sum())  # enough in all
            latency = rng.uniform(10, 300, (5, 3))
            served = sites.allocate(load, capacity, latency)
            np.testing.assert_allclose(served.sum(axis=1), load)
            assert (served.sum(axis=0) <= capacity * (1 + 1e-12) + 1e-12).all()
            nearest = latency.argmin(axis=1)
            for r in range(5):  # the nearest location is full, or took the whole load
                k = nearest[r]
                full = served[:, k].sum() >= capacity[k] * (1 - 1e-12)
                assert full or served[r, k] == pytest.approx(load[r])

    def test_nearest_shares_sum_to_one(self):
        shares = sites.nearest_shares(np.array([1.0, 3.0]), np.array([[10.0, 5.0], [1.0, 9.0]]))
        np.testing.assert_allclose(shares, [0.75, 0.25])


class TestBadInput:
    """A bad site names its field and what is allowed."""

    @pytest.mark.parametrize(
        ("site", "field"),
        [
            ({"provider": "nobody", "region": "APAC"}, "sites.0.provider"),
            ({"provider": "cn_green_hub_open", "region": "MARS"}, "sites.0.region"),
            ({"provider": "cn_green_hub_open", "region": "CN"}, "sites.0.region"),
            (
                {"provider": "cn_green_hub_open", "region": "APAC", "sunk_cost_usd": -1.0},
                "sites.0.sunk_cost_usd",
            ),
            ({"provider": "cn_green_hub_open", "region": "APAC", "pue": 0.5}, "sites.0.pue"),
            (
                {"provider": "cn_green_hub_open", "region": "APAC", "open_step": 0},
                "sites.0.open_step",
            ),
        ],
    )
    def test_bad_site(self, site, field):
        with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
            _scenario([site])

    def test_a_site_twice_and_a_bad_permission(self):
        twice = [{"provider": "cn_green_hub_open", "region": "APAC"}] * 2
        with pytest.raises(ScenarioError, match=r"sites\.1"):
            _scenario(twice)
        with pytest.raises(ScenarioError, match=r"site_permission\.MARS"):
            _scenario(permission={"MARS": {"CN": 0.5}})

    def test_a_site_with_no_gpu_to_buy(self):
        data = load_scenario("going_global").model_dump()
        data["gpus"][2]["regions"] = ["CN"]  # the Ascend sold at home only, the H100 barred
        with pytest.raises(ScenarioError, match="may buy no GPU in APAC"):
            _validate(data, "test")
