"""Networks: a PoP never slows a route, is paid every month, and draws its region's buyers."""

import math

import numpy as np
import pytest

from tokenmarket.model.market import TokenMarket
from tokenmarket.model.metrics import bought_abroad_by_region, cross_border_by_home
from tokenmarket.model.networks import Routes
from tokenmarket.model.scenario import Scenario, load_scenario

FEE = 250_000.0
POP = {"provider": "cn_green_hub_open", "region": "US", "step": 2, "latency_ms": 40.0}


def _with_pops(*pops, rnd_effectiveness: float | None = None, links=()):
    """going_global with these PoPs and operators' lines only."""
    data = load_scenario("going_global").model_dump()
    data["pops"], data["links"] = list(pops), list(links)
    if rnd_effectiveness is not None:
        data["market"]["rnd_effectiveness"] = rnd_effectiveness
    return Scenario.model_validate(data)


def test_latency_with_a_pop_never_exceeds_latency_without():
    rng = np.random.default_rng(7)
    base = _with_pops()
    providers, regions = [p.name for p in base.all_providers], base.region_names
    pops = [
        {
            "provider": str(rng.choice(providers)),
            "region": str(rng.choice(regions)),
            "step": int(rng.integers(1, 10)),
            "latency_ms": float(rng.uniform(0, 400)),
            "usd_per_month": 1.0,
        }
        for _ in range(30)
    ]
    spec = _with_pops(*pops)
    home = np.array([regions.index(p.home) for p in spec.all_providers])
    routes = Routes(spec, home)
    public = Routes(base, home).latency_ms(10)
    for step in range(12):
        latency = routes.latency_ms(step)
        assert (latency <= public).all()
        bought = {(p["region"], p["provider"]) for p in pops if p["step"] <= step}
        for r, region in enumerate(regions):
            for j, name in enumerate(providers):
                if (region, name) not in bought:
                    assert latency[r, j] == public[r, j]  # untouched routes stay public
                else:
                    best = min(
                        p["latency_ms"]
                        for p in pops
                        if p["step"] <= step and (p["region"], p["provider"]) == (region, name)
                    )
                    assert latency[r, j] == min(public[r, j], best)


def test_a_pop_cuts_exactly_its_routes_latency_utility_and_is_paid_every_month():
    """Same seed with and without a free PoP: at its month the only utility that moves is its
    provider's among its region's developers, by gamma x the latency saved (so its logit
    choice probability rises there and nowhere else); with a price, fixed opex rises by it.
    R&D is off in both runs: it follows revenue, so otherwise the PoP's customers would move
    every provider's quality a little by the month's end."""
    free = {**POP, "usd_per_month": 0.0}
    with_pop = TokenMarket(_with_pops(free, rnd_effectiveness=0.0), rng=0, n_developers=500)
    without = TokenMarket(_with_pops(rnd_effectiveness=0.0), rng=0, n_developers=500)
    with_pop.run_for(POP["step"])
    without.run_for(POP["step"])
    (v_pop, outside_pop), (v, outside) = with_pop._cell_utilities(), without._cell_utilities()
    regions = with_pop.spec.region_names
    r, j = regions.index("US"), [p.name for p in with_pop.provider_list].index(POP["provider"])
    saved = with_pop.spec.latency_ms["US"]["CN"] - POP["latency_ms"]
    gain = (v_pop - v).reshape(len(with_pop.segment_gamma), len(regions), -1)
    products = np.flatnonzero(with_pop.product_provider == j)  # the provider's tiers
    assert np.allclose(gain[:, r][:, products], with_pop.segment_gamma[:, None] * saved)
    gain[:, r, products] = 0.0
    assert not gain.any() and np.array_equal(outside_pop, outside)
    paid = TokenMarket(_with_pops({**POP, "usd_per_month": FEE}), rng=0, n_developers=500)
    paid.run_for(POP["step"] - 1)
    p = paid.provider_list[j]
    assert p.opex_fixed_usd_per_month == p.spec.opex_fixed_usd_per_month
    paid.run_for(3)
    assert p.opex_fixed_usd_per_month == p.spec.opex_fixed_usd_per_month + FEE


@pytest.mark.parametrize(
    ("pop", "message"),
    [
        ({**POP, "provider": "nobody", "usd_per_month": 1.0}, "pops.0.provider"),
        ({**POP, "region": "MARS", "usd_per_month": 1.0}, "pops.0.region"),
        ({**POP, "usd_per_month": -1.0}, "usd_per_month"),
    ],
)
def test_bad_pops_are_refused_with_the_field_named(pop, message):
    with pytest.raises(ValueError, match=message):
        _with_pops(pop)


LINK = {"home": "CN", "region": "US", "step": 3, "latency_ms": 150.0, "usd_per_month": FEE}


class TestOperatorLinks:
    """A network operator's line is one PoP for each provider of its home, at its price."""

    def test_a_link_is_the_pops_of_every_provider_homed_there(self):
        linked = _with_pops(links=[LINK])
        homed = [p.name for p in linked.all_providers if p.home == LINK["home"]]
        fields = {k: v for k, v in LINK.items() if k != "home"}
        explicit = _with_pops(*({"provider": name, **fields} for name in homed))
        home = np.array([linked.region_names.index(p.home) for p in linked.all_providers])
        for step in range(6):
            assert np.array_equal(
                Routes(linked, home).latency_ms(step), Routes(explicit, home).latency_ms(step)
            )
        assert len(homed) >= 2  # going_global: two incumbents and an entrant

    def test_every_provider_of_the_home_pays_it_and_no_other(self):
        model = TokenMarket(_with_pops(links=[LINK]), rng=0, n_developers=300)
        model.run_for(LINK["step"] + 1)
        for p in model.provider_list:
            extra = FEE if p.spec.home == LINK["home"] else 0.0
            assert p.opex_fixed_usd_per_month == p.spec.opex_fixed_usd_per_month + extra

    def test_going_global_lines_cut_cn_latency_abroad_and_nothing_else(self):
        spec = load_scenario("going_global")
        home = np.array([spec.region_names.index(p.home) for p in spec.all_providers])
        public = spec.latency_matrix()[:, home]
        latency = Routes(spec, home).latency_ms(1)
        cut = latency < public
        regions = spec.region_names
        for r, j in zip(*np.nonzero(cut), strict=True):
            assert spec.all_providers[j].home == "CN" and regions[r] in {"US", "EU"}
        assert cut.any()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"home": "MARS"}, "links.0.home"),
        ({"region": "MARS"}, "links.0.region"),
        ({"usd_per_month": -1.0}, "usd_per_month"),
    ],
)
def test_bad_links_are_refused_with_the_field_named(edit, message):
    with pytest.raises(ValueError, match=message):
        _with_pops(links=[{**LINK, **edit}])


class TestAccessBothWays:
    """Each region's own rule on foreign APIs cuts its developers' purchases abroad only."""

    MONTHS = 6
    """Before OpenAI's block of July 2024 (going_global's access shock of month 7)."""

    @staticmethod
    def _flows(**overrides) -> dict[tuple[str, str], float]:
        model = TokenMarket("going_global", rng=2, n_developers=2000, **overrides)
        model.run_for(TestAccessBothWays.MONTHS)
        flows = model.flow_frame()
        flows = flows[flows["step"] == flows["step"].max()]
        return {(r.developer_region, r.home_region): r.served_mtok for r in flows.itertuples()}

    @pytest.mark.parametrize(("buyer", "seller"), [("US", "CN"), ("CN", "US")])
    def test_a_ban_closes_its_own_direction_and_leaves_the_other_open(self, buyer, seller):
        assert self._flows()[(buyer, seller)] > 0.0  # going_global: both directions flow
        banned = self._flows(**{f"access_{buyer}_{seller}": 0.0})
        assert banned[(buyer, seller)] == 0.0
        assert banned[(seller, buyer)] > 0.0

    def test_imports_and_exports_count_the_same_cross_border_tokens(self):
        """Every token served across a border is one region's export and another's import."""
        model = TokenMarket("going_global", rng=2, n_developers=2000)
        model.run_for(self.MONTHS + 3)
        flows = model.flow_frame()
        served = flows.groupby("home_region")["served_mtok"].sum()
        bought = flows.groupby("developer_region")["served_mtok"].sum()
        exports = (cross_border_by_home(flows) * served).sum()
        imports = (bought_abroad_by_region(flows) * bought).sum()
        assert exports > 0.0
        assert math.isclose(exports, imports, rel_tol=1e-12)
