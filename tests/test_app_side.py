"""Side by side without a browser: the two runs, their aligned charts, the view in solara.render."""

import ipyvuetify as v
import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara
from test_app import click, html_texts, wait_for  # the one-run view's page helpers

from tokenmarket.model.scenario import ScenarioError, load_scenario
from tokenmarket.runs import app
from tokenmarket.runs.app.compare import other_value, overrides, shown_default
from tokenmarket.runs.app.figures import PRICE, SHARE
from tokenmarket.runs.app.guide import COMPARE
from tokenmarket.runs.app.side import focal_provider

PRESETS = list(app.PRESETS.values())


@pytest.fixture(scope="module")
def classroom_pair():
    """The classroom's suggested comparison (cn_lowcost: low_price vs differentiation)."""
    pair = app.SideBySide("classroom", rng=2)
    pair.run_for(10)
    return pair


# ---------------------------------------------------------------------------- the two runs
@pytest.mark.parametrize("preset", PRESETS)
def test_the_suggested_comparison_changes_one_knob_and_nothing_else(preset):
    pair = app.SideBySide(preset)
    control, value_b = COMPARE[preset]
    spec = load_scenario(preset)
    assert pair.knob.name == control
    assert pair.arms["A"].spec == spec  # A is the preset as it is
    assert pair.values["B"] == value_b
    b = pair.arms["B"].spec
    assert b != spec
    assert b == load_scenario(preset, **{control: value_b})


def test_both_runs_are_identical_when_the_values_are(classroom_pair):
    """Same preset, same seed, same value: the same random draws, bit for bit."""
    same = app.SideBySide("classroom", rng=2, a="differentiation", b="differentiation")
    same.run_for(6)
    frames = same.frames()
    pd.testing.assert_frame_equal(frames["A"].providers, frames["B"].providers)
    card = app.scorecard(frames["A"].providers, frames["B"].providers, "cn_lowcost", same.labels)
    assert card.winners == {"share": None, "profit": None, "NPV": None}


def test_run_b_is_the_single_run_with_the_control_moved(classroom_pair):
    """Each arm is the model the one-run view builds for that strategy."""
    single = app.ClassroomMarket("classroom", rng=2, strategy_3="differentiation")
    single.run_for(10)
    pd.testing.assert_frame_equal(classroom_pair.frames()["B"].providers, single.frames().providers)
    assert classroom_pair.arms["A"].provider_frame()["strategy"].eq("low_price").any()


def test_both_runs_step_together_and_stop_at_the_presets_end():
    pair = app.SideBySide("price_war", rng=0)
    pair.step()
    assert [arm.steps for arm in pair.arms.values()] == [1, 1]
    pair.run_for(pair.spec.steps - 1)
    assert not pair.running
    assert [arm.steps for arm in pair.arms.values()] == [pair.spec.steps] * 2


@pytest.mark.parametrize("preset", PRESETS)
def test_every_knob_but_the_run_length_can_be_compared(preset):
    knobs = app.comparable_knobs(preset)
    assert "steps" not in knobs
    names = list(knobs)
    strategies = [n for n in names if n.startswith("strategy_")]
    assert names[: len(strategies)] == strategies  # the usual question first
    assert len({k.label for k in knobs.values()}) == len(knobs)  # the picker lists labels


@pytest.mark.parametrize("preset", PRESETS)
def test_a_new_controls_second_value_differs_and_is_allowed(preset):
    for knob in app.comparable_knobs(preset).values():
        value = other_value(knob)
        assert value != shown_default(knob), knob.name
        assert knob.check(value) == value, knob.name
        assert overrides(knob, value) == {knob.name: value}
        assert overrides(knob, shown_default(knob)) == {}


def test_the_presets_own_market_wide_value_leaves_its_regions_alone():
    """demand_growth sets every region; the preset's own (mean) value must not flatten them."""
    knob = app.comparable_knobs("going_global")["demand_growth"]
    pair = app.SideBySide("going_global", control="demand_growth", b=0.0)
    assert pair.arms["A"].spec == load_scenario("going_global")
    assert overrides(knob, knob.default) == {}


def test_a_control_the_preset_does_not_have_is_named():
    with pytest.raises(ScenarioError, match="control: 'strategy_nobody'"):
        app.SideBySide("classroom", control="strategy_nobody")
    with pytest.raises(ScenarioError, match="steps"):
        app.SideBySide("classroom", control="steps", b=12)
    with pytest.raises(ScenarioError, match="homogenization"):
        app.SideBySide("classroom", control="homogenization", b=7.0)


@pytest.mark.parametrize(
    ("control", "focal"),
    [
        ("strategy_us_budget", "us_budget"),
        ("param_eu_follower_max_price_change", "eu_follower"),
        ("electricity_EU", "eu_follower"),
        ("access_US_CN", "cn_lowcost"),
        ("homogenization", "us_frontier"),
    ],
)
def test_the_scorecard_follows_the_provider_the_control_is_about(control, focal):
    assert focal_provider(app.SideBySide("classroom", control=control)) == focal


# ---------------------------------------------------------------------------- aligned charts
def test_the_pair_chart_puts_both_runs_on_the_same_axes_and_scales(classroom_pair):
    frames = classroom_pair.frames()
    runs = {arm: f.providers for arm, f in frames.items()}
    fig = app.pair_figure(PRICE, runs, {"A": "A: low_price", "B": "B: differentiation"})
    top, bottom = fig.axes
    assert top.get_title(loc="left") == "A: low_price"
    assert bottom.get_title(loc="left") == "B: differentiation"
    assert top.get_xlim() == bottom.get_xlim()
    assert top.get_ylim() == bottom.get_ylim()
    assert top.get_yscale() == bottom.get_yscale() == "log"
    for ax, arm in ((top, "A"), (bottom, "B")):  # each panel draws its own run
        line = next(ln for ln in ax.get_lines() if ln.get_label() == "cn_lowcost")
        prices = runs[arm].query("provider == 'cn_lowcost'")["price_usd_per_mtok"]
        np.testing.assert_allclose(line.get_ydata(), prices.astype(float))
    low, high = top.get_ylim()  # the shared scale holds both runs' prices
    both = pd.concat(runs.values())["price_usd_per_mtok"].astype(float)
    assert low <= both.min() and both.max() <= high


def test_the_pair_chart_waits_for_the_first_month():
    empty = {"A": pd.DataFrame(), "B": pd.DataFrame()}
    fig = app.pair_figure(SHARE, empty, {"A": "A", "B": "B"})
    assert any("press Step" in t.get_text() for t in fig.axes[0].texts)


# ---------------------------------------------------------------------------- the view
@pytest.fixture
def side_page():
    """The page in side-by-side mode on the first preset, rendered without a browser."""
    app.preset_title.set(next(iter(app.PRESETS)))
    app.mode.set("Side by side")
    _, rc = solara.render(solara.AppLayout(children=[app.Page()]), handle_error=False)
    yield rc
    rc.close()
    app.mode.set("One run")
    app.preset_title.set(next(iter(app.PRESETS)))


def scorecard_text(rc):
    return next((t for t in html_texts(rc) if "tm-score" in t or "scorecard for" in t), "")


def test_side_by_side_shows_one_aligned_chart_and_the_scorecard_after_a_step(side_page):
    assert "The scorecard for cn_lowcost fills in" in scorecard_text(side_page)
    assert side_page.find(v.Select, label="Control to change").widget.v_model == (
        "Strategy of cn_lowcost"
    )
    click(side_page, "Step")
    wait_for(lambda: "cn_lowcost: month 1 of 60 (Jan 2024), so far" in scorecard_text(side_page))
    text = scorecard_text(side_page)
    assert "<th>A: low_price</th><th>B: differentiation</th>" in text
    assert "more profit in" in text or "about the same profit" in text
    # both runs in one figure (the same axes, one above the other), drawn in a thread
    wait_for(lambda: len(side_page.find(ipywidgets.Image).widgets) == 1)
    shares = bytes(side_page.find(ipywidgets.Image).widget.value)
    side_page.find(v.Tabs).widget.v_model = 1  # "Price"
    wait_for(lambda: bytes(side_page.find(ipywidgets.Image).widget.value) != shares)


def test_changing_the_control_rebuilds_both_runs_at_month_zero(side_page):
    click(side_page, "Step")
    side_page.find(
        v.Select, label="Control to change"
    ).widget.v_model = "Homogenization (gap closed / month)"
    wait_for(lambda: "The scorecard for us_frontier fills in" in scorecard_text(side_page))
    slider = side_page.find(v.Slider, label="Run B: Homogenization (gap closed / month)").widget
    assert (
        slider.v_model
        != side_page.find(
            v.Slider, label="Run A: Homogenization (gap closed / month)"
        ).widget.v_model
    )
    click(side_page, "Step")  # a fresh controller: Step works on the new runs
    wait_for(lambda: "us_frontier: month 1 of 60" in scorecard_text(side_page))


def test_switching_back_to_one_run_restores_the_single_view(side_page):
    app.mode.set("One run")
    wait_for(lambda: any(t.startswith("Providers in month 0") for t in html_texts(side_page)))
    assert not side_page.find(v.Select, label="Control to change").widgets


def test_reset_restarts_the_same_comparison(side_page):
    side_page.find(
        v.Select, label="Control to change"
    ).widget.v_model = "Switching cost, median (utils)"
    click(side_page, "Step")
    click(side_page, "Step")
    wait_for(lambda: "us_frontier: month 2 of 60" in scorecard_text(side_page))
    click(side_page, "Reset")
    wait_for(lambda: "The scorecard for us_frontier fills in" in scorecard_text(side_page))
    assert side_page.find(v.Select, label="Control to change").widget.v_model == (
        "Switching cost, median (utils)"
    )
    click(side_page, "Step")
    wait_for(lambda: "us_frontier: month 1 of 60" in scorecard_text(side_page))
    assert "<th>A: 1.6625 utils</th>" in scorecard_text(
        side_page
    )  # the preset's own, not the slider's 1.65
