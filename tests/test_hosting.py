"""Open-weights hosting: a foreign host serves its author's model, so the model's tokens go
abroad without its author exporting."""

import numpy as np
import pytest

from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import Scenario, load_scenario

AUTHOR = "cn_green_hub_open"
HOST = {
    "name": "us_open_host",
    "home": "US",
    "strategy": "cost_plus",
    "strategy_params": {"rnd_share": 0.0},
    "price_usd_per_mtok": 1.0,
    "quality": 50.0,
    "open_weights": True,
    "hosts": AUTHOR,
    "energy_kwh_per_mtok": 0.3,
    "idle_power_fraction": 0.3,
    "pue": 1.15,
    "amortization_months": 48,
    "opex_fixed_usd_per_month": 50000.0,
    "opex_usd_per_gpu_month": 200.0,
    "cash_usd": 50000000.0,
    "initial_awareness": 0.3,
}
ENTRY = 3


def _hosted(host=HOST):
    data = load_scenario("going_global").model_dump()
    data["shocks"].append({"kind": "entry", "step": ENTRY, "provider": host})
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def run():
    model = TokenMarket(_hosted(), rng=2, n_developers=1500)
    model.run_for(18)
    return model


def test_a_host_serves_its_authors_model_every_month(run):
    providers = run.provider_frame().pivot(index="step", columns="provider", values="quality")
    assert np.allclose(providers[HOST["name"]], providers[AUTHOR])


def test_tokens_by_author_and_by_host_are_the_same_tokens(run):
    frame = run.author_frame()
    by_host = frame.groupby("step")["served_mtok"].sum()
    by_author = frame.groupby(["step", "author"])["served_mtok"].sum().groupby("step").sum()
    assert np.allclose(by_host, by_author)
    hosted = frame[frame["provider"] == HOST["name"]]
    assert (hosted["author"] == AUTHOR).all() and (hosted["author_region"] == "CN").all()
    assert hosted["served_mtok"].sum() > 0  # CN-authored tokens served from the US
    # China-authored tokens exceed China-homed tokens by exactly what the foreign host served
    cn_authored = frame.loc[frame["author_region"] == "CN"].groupby("step")["served_mtok"].sum()
    cn_homed = frame.loc[frame["host_region"] == "CN"].groupby("step")["served_mtok"].sum()
    assert np.allclose(cn_authored - cn_homed, hosted.set_index("step")["served_mtok"])


@pytest.mark.parametrize(
    ("hosts", "message"),
    [("nobody", "is not an open-weights author"), ("us_frontier_lab", "is not an open-weights")],
)
def test_a_host_needs_an_open_weights_author(hosts, message):
    with pytest.raises(ValueError, match=message):
        _hosted({**HOST, "hosts": hosts})
