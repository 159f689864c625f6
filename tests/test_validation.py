"""Pattern-oriented validation as a regression guard, and the two cost views."""

import pytest

from tokenmarket.model.market import TokenMarket
from tokenmarket.runs.validate import cost_views, load_patterns, validate

SEEDS = 8


@pytest.fixture(scope="module")
def table():
    return validate(seeds=SEEDS).set_index("pattern")


def test_patterns_that_passed_still_pass(table):
    recorded = table[table["recorded_pass"]]
    assert len(recorded) >= 4
    missed = recorded[~recorded["met"]]
    assert missed.empty, missed[["mean", "low", "high"]].to_string()


def test_every_pattern_has_a_band_a_source_and_a_value(table):
    assert list(table.index) == [p.name for p in load_patterns()]
    assert (table["low"] < table["high"]).all()
    assert table["source"].str.contains("cal B").all()
    assert table[["mean", "ci_low", "ci_high"]].notna().all().all()
    assert (table["ci_low"] <= table["mean"]).all() and (table["mean"] <= table["ci_high"]).all()


def test_operating_view_writes_off_the_fleet_and_raises_the_power_share():
    views = cost_views(seeds=2, months=(1, 6)).set_index(["cost_view", "region"])
    operating, total = views.loc["operating"], views.loc["total"]
    assert (operating["electricity_share_of_opex"] > total["electricity_share_of_opex"]).all()
    assert (operating["unit_cost_usd_per_mtok"] < total["unit_cost_usd_per_mtok"]).all()
    model = TokenMarket("going_global", rng=1, n_developers=500, cost_view="operating")
    model.run_for(1)
    assert all(p.capex_usd == 0 for p in model.provider_list)
