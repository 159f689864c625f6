"""The classroom app without a browser: presets, controls, figures, the page in solara.render."""

import inspect
import re
import threading
import time

import ipyvuetify as v
import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara
from matplotlib.colors import to_hex
from matplotlib.dates import date2num, num2date
from mesa.visualization import Slider

from tokenmarket.model.scenario import ScenarioError, load_scenario
from tokenmarket.runs import app

PRESETS = list(app.PRESETS.values())


@pytest.fixture(scope="module")
def classroom():
    """A classroom run of eight months (shared: the figure tests only read it)."""
    model = app.ClassroomMarket("classroom", rng=3)
    model.run_for(8)
    return model


# ---------------------------------------------------------------------------- presets, controls
@pytest.mark.parametrize("preset", PRESETS)
def test_every_control_is_a_constructor_keyword_and_starts_in_range(preset):
    """A preset with a region or a provider the constructor has no keyword for fails here."""
    signature = inspect.signature(app.ClassroomMarket.__init__).parameters
    params = app.model_params(preset)
    assert set(params) - set(signature) == set()
    assert load_scenario(preset).description  # the story under the picker
    for name, control in params.items():
        if isinstance(control, Slider) and name != "rng":
            assert control.min <= control.value <= control.max, name


def test_reset_gets_no_mesa_scenario():
    """Mesa's Reset passes `scenario=` to a constructor taking `scenario` or **kwargs."""
    kinds = {p.kind for p in inspect.signature(app.ClassroomMarket.__init__).parameters.values()}
    assert "scenario" not in inspect.signature(app.ClassroomMarket.__init__).parameters
    assert inspect.Parameter.VAR_KEYWORD not in kinds


@pytest.mark.parametrize("preset", PRESETS)
def test_controls_left_as_shown_rebuild_the_preset_exactly(preset):
    spec = load_scenario(preset)
    shown = app.shown_values(spec)
    model = app.ClassroomMarket(preset, rng=0, **shown)
    assert model.spec == spec


def test_an_untouched_power_price_keeps_a_providers_own_contract():
    def cn_prices(**knobs):
        model = app.ClassroomMarket("going_global", **knobs)
        return {
            p.name: p.own_electricity_usd_per_kwh for p in model.provider_list if p.region == "CN"
        }

    shown = app.shown_values(load_scenario("going_global"))["electricity_CN"]
    assert cn_prices(electricity_CN=shown) == cn_prices()
    assert cn_prices()["cn_green_hub_open"] != shown
    moved = cn_prices(electricity_CN=0.07)
    assert moved["cn_cloud_platform"] == 0.07
    assert moved["cn_green_hub_open"] == pytest.approx(
        cn_prices()["cn_green_hub_open"] * 0.07 / shown
    )


def test_moved_controls_reach_the_model():
    model = app.ClassroomMarket(
        "classroom",
        electricity_CN=0.09,
        pue_EU=1.5,
        switching_cost=3.0,
        homogenization=0.2,
        demand_growth=0.1,
        strategy_3="follower",
    )
    spec = model.spec
    cn = spec.region_names.index("CN")
    assert spec.regions[cn].electricity_usd_per_kwh == 0.09
    by_name = {p.name: p for p in spec.providers}
    paid = {p.name: p.own_electricity_usd_per_kwh for p in model.provider_list}
    assert paid["cn_lowcost"] == 0.09
    assert by_name["cn_lowcost"].strategy == "follower"
    assert by_name["eu_follower"].pue == 1.5
    assert by_name["us_frontier"].pue == load_scenario("classroom").providers[0].pue
    assert {s.switching_cost_median for s in spec.segments} == {3.0}
    assert {r.demand_growth_per_month for r in spec.regions} == {0.1}
    assert spec.market.homogenization == 0.2


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("US bans foreign APIs", [[1, 1, 1], [0, 1, 0], [1, 1, 1]]),
        ("China bans foreign APIs", [[1, 0, 0], [1, 1, 1], [1, 1, 1]]),
        ("closed: home-region APIs only", np.eye(3)),
        ("open: any API from anywhere", np.ones((3, 3))),
    ],
)
def test_cross_border_policies_set_the_access_matrix(policy, expected):
    spec = app.ClassroomMarket("classroom", cross_border=policy).spec
    assert spec.region_names == ["CN", "US", "EU"]
    np.testing.assert_array_equal(spec.access_matrix(), expected)


def test_opening_borders_lifts_going_globals_restrictions():
    assert (load_scenario("going_global").access_matrix() < 1).any()
    spec = app.ClassroomMarket("going_global", cross_border="open: any API from anywhere").spec
    assert (spec.access_matrix() == 1).all()


@pytest.mark.parametrize(
    ("knobs", "named"),
    [
        ({"strategy_5": "low_price"}, "strategy_5"),
        ({"cross_border": "anarchy"}, "cross_border"),
        ({"electricity_APAC": 0.1}, "electricity_APAC"),
        ({"strategy_1": "no_such_strategy"}, "strategy"),
    ],
)
def test_a_knob_that_does_not_fit_the_preset_is_named(knobs, named):
    with pytest.raises(ScenarioError, match=named):
        app.ClassroomMarket("classroom", **knobs)


def played(preset, seed):
    model = app.ClassroomMarket(preset, rng=seed)
    model.run_for(model.spec.steps)
    market = model.market_frame().set_index("step")
    shares = model.provider_frame().pivot(index="step", columns="provider", values="token_share")
    return market["mean_price_usd_per_mtok"].astype(float), shares


@pytest.mark.parametrize("seed", [0, 1])
def test_price_war_preset_cuts_prices_and_starves_the_premium_lab(seed):
    price, shares = played("price_war", seed)
    assert price[12] < 0.85 * price[1]  # seeds 0-5 cut 20-35 %; seed 1 by 19.7 %
    assert shares["us_frontier"].iloc[-1] < 0.15


@pytest.mark.parametrize("seed", [0, 1])
def test_differentiation_preset_grows_the_frontier_labs_share_to_the_largest(seed):
    _, shares = played("differentiation_wins", seed)
    assert shares["us_frontier"].iloc[-1] > shares["us_frontier"].iloc[0] + 0.1
    assert shares.iloc[-1].idxmax() == "us_frontier"


def test_demand_driven_preset_raises_prices():
    """Over four seeds: the mean rise is over 1.5x (single seeds range ~1.5-2x), and every
    seed ends above the classroom market's price."""
    rises = []
    for seed in range(4):
        price, _ = played("demand_driven", seed)
        rises.append(price.iloc[-1] / price[1])
        assert price.iloc[-1] > played("classroom", seed)[0].iloc[-1]
    assert np.mean(rises) > 1.5, rises


def test_frames_read_while_a_month_is_stepped_wait_for_that_month():
    """Mesa counts a month before running it; a render from another thread meanwhile once
    cached that month's frames empty (and the scorecard then found no provider)."""
    model = app.ClassroomMarket("classroom", rng=0)
    midway = threading.Event()
    account = model._account

    def slow_account():
        midway.set()
        time.sleep(0.3)
        account()

    model._account = slow_account
    stepping = threading.Thread(target=model.step)
    stepping.start()
    assert midway.wait(10)
    assert model.steps == 1  # counted, not yet collected
    frames = model.frames()
    stepping.join()
    assert list(frames.providers["step"].unique()) == [1]


# ---------------------------------------------------------------------------- figures and table
def legend_texts(fig):
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_share_figure_stacks_one_area_per_provider_labelled_by_name(classroom):
    providers = classroom.frames().providers
    fig = app.share_figure(providers)
    ax = fig.axes[0]
    assert len(ax.collections) == 4
    labels = legend_texts(fig)
    assert len(labels) == 4
    assert set(labels) == set(providers["provider"])  # region and strategy: in the table
    colors = {to_hex(c.get_facecolor()[0]) for c in ax.collections}
    assert len(colors) == 4
    assert len({c.get_hatch() for c in ax.collections}) == 4  # tells them apart in greyscale
    top = ax.collections[-1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("figure", "column", "scale"),
    [
        (app.price_figure, "price_usd_per_mtok", 1.0),
        (app.cash_figure, "cash_usd", 1e-6),
        (app.utilization_figure, "utilization", 100.0),
    ],
)
def test_line_figures_draw_each_providers_series_distinguishably(classroom, figure, column, scale):
    providers = classroom.frames().providers
    ax = figure(providers).axes[0]
    lines = [line for line in ax.get_lines() if line.get_label() in set(providers["provider"])]
    assert len(lines) == 4
    assert len({(ln.get_color(), ln.get_linestyle(), ln.get_marker()) for ln in lines}) == 4
    assert len({ln.get_linestyle() for ln in lines}) == 4
    for line in lines:
        series = providers[providers["provider"] == line.get_label()][column].astype(float)
        np.testing.assert_allclose(line.get_ydata(), series.to_numpy() * scale)


def test_an_exited_providers_price_line_stops(classroom):
    providers = classroom.frames().providers.copy()
    gone = (providers["provider"] == "eu_follower") & (providers["step"] >= 6)
    providers.loc[gone, "active"] = False
    line = next(
        ln
        for ln in app.price_figure(providers).axes[0].get_lines()
        if ln.get_label() == "eu_follower"
    )
    assert np.isnan(line.get_ydata()[5:]).all()
    assert not np.isnan(line.get_ydata()[:5]).any()


def flows(served_by_home):
    """A tidy flow frame: one month, every developer region abroad served by each home."""
    rows = [
        {
            "step": 1,
            "date": pd.Timestamp("2024-01-01"),
            "developer_region": dev,
            "home_region": home,
            "served_mtok": served,
        }
        for home, served in served_by_home.items()
        for dev in ("CN", "US", "EU")
    ]
    frame = pd.DataFrame(rows)
    return frame.assign(cross_border=frame["developer_region"] != frame["home_region"])


@pytest.mark.parametrize(("mtok", "unit"), [(40.0, "million"), (4e3, "billion"), (4e6, "trillion")])
def test_flows_figure_stacks_exporting_home_regions_in_a_readable_unit(mtok, unit):
    fig = app.flows_figure(flows({"CN": mtok, "US": mtok / 2, "EU": 0.0}))
    ax = fig.axes[0]
    assert len(ax.collections) == 2  # EU exports nothing: no empty band in the legend
    assert sorted(legend_texts(fig)) == ["CN", "US"]
    assert ax.get_ylabel().startswith(unit)
    top = ax.collections[-1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(3 * mtok / {"million": 1, "billion": 1e3, "trillion": 1e6}[unit])


def test_flows_figure_shows_the_models_exports(classroom):
    flows_frame = classroom.frames().flows
    fig = app.flows_figure(flows_frame)
    assert sorted(legend_texts(fig)) == ["CN", "EU", "US"]


@pytest.mark.parametrize(
    "figure", [app.share_figure, app.price_figure, app.cash_figure, app.utilization_figure]
)
def test_charts_before_the_first_month_say_what_to_press(figure):
    fig = figure(pd.DataFrame())
    assert any("press Step" in t.get_text() for t in fig.axes[0].texts)


def test_provider_table_has_one_row_per_provider_for_the_latest_month(classroom):
    providers = classroom.frames().providers
    table = app.provider_table(providers)
    last = providers[providers["step"] == 8].reset_index(drop=True)
    assert list(table["provider"]) == ["us_frontier", "us_budget", "cn_lowcost", "eu_follower"]
    np.testing.assert_allclose(table["share_pct"], last["token_share"] * 100)
    np.testing.assert_allclose(table["price_usd_per_mtok"], last["price_usd_per_mtok"])
    np.testing.assert_allclose(table["utilization_pct"], last["utilization"].astype(float) * 100)
    assert table["share_pct"].sum() == pytest.approx(100.0)


def test_provider_table_tells_exited_from_not_yet_entered(classroom):
    providers = classroom.frames().providers.copy()
    exited = (providers["provider"] == "eu_follower") & (providers["step"] == 8)
    never = providers["provider"] == "us_budget"
    providers.loc[exited | never, "active"] = False
    strategy = app.provider_table(providers).set_index("provider")["strategy"]
    assert strategy["eu_follower"] == "follower (exited)"
    assert strategy["us_budget"] == "cost_plus (not yet in)"
    assert strategy["cn_lowcost"] == "low_price"


def test_table_before_the_first_month_lists_the_cast_with_missing_outcomes():
    spec = load_scenario("going_global")  # potential entrants included, not yet in
    table = app.provider_table(app.starting_providers(spec))
    assert list(table["provider"]) == [p.name for p in spec.all_providers]
    waiting = {e.provider.name for e in spec.potential_entrants}
    assert list(table["strategy"]) == [
        p.strategy + (" (not yet in)" if p.name in waiting else "") for p in spec.all_providers
    ]
    assert table["share_pct"].isna().all()
    html = app.table_html(table, {p.name: "#000000" for p in spec.all_providers})
    assert html.count("<tr>") == 1 + len(spec.all_providers)
    assert "n/a" in html


def test_table_swatches_match_the_chart_colours(classroom):
    providers = classroom.frames().providers
    names = list(dict.fromkeys(providers["provider"]))
    colors = {name: look.color for name, look in app.looks(names).items()}
    html = app.table_html(app.provider_table(providers), colors)
    share_colors = [
        to_hex(c.get_facecolor()[0]) for c in app.share_figure(providers).axes[0].collections
    ]
    assert share_colors == list(colors.values())
    for name, color in colors.items():
        assert f'background:{color}"></span>{name}' in html


# ---------------------------------------------------------------------------- the page
@pytest.fixture
def page():
    """The page rendered without a browser, on the first preset; closed afterwards."""
    app.preset_title.set(next(iter(app.PRESETS)))
    _, rc = solara.render(solara.AppLayout(children=[app.Page()]), handle_error=False)
    yield rc
    rc.close()
    app.preset_title.set(next(iter(app.PRESETS)))


def html_texts(rc):
    return [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets]


def table_rows(rc):
    table = next(text for text in html_texts(rc) if "tm-providers" in text)
    return table.split("<tbody>")[1].count("<tr>")


def select(rc, label):
    return rc.find(v.Select, label=label).widget


def click(rc, label):
    rc.find(v.Btn, children=[label]).widget.click()


def images(rc):
    return [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]


def wait_for(condition, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_page_shows_presets_controls_three_charts_and_the_table(page):
    assert select(page, "Preset").items == list(app.PRESETS)
    assert "Providers in month 0" in html_texts(page)
    assert table_rows(page) == 4
    wait_for(lambda: len(images(page)) == 3)  # drawn in threads; cash, utilization: tab 2
    for label in ("Random seed", "CN electricity price (USD/kWh)", "EU PUE (facility / IT power)"):
        assert page.find(v.Slider, label=label).widgets
    strategy_selects = [w for w in page.find(v.Select).widgets if w.label.startswith("Strategy")]
    assert len(strategy_selects) == 4


def test_step_advances_the_month_and_redraws_the_charts(page):
    wait_for(lambda: len(images(page)) == 3)
    waiting = images(page)
    click(page, "Step")
    wait_for(lambda: all(a != b for a, b in zip(waiting, images(page), strict=True)))
    first = images(page)
    click(page, "Step")
    assert "Providers in month 2" in html_texts(page)  # the table is not held up by drawing
    wait_for(lambda: all(a != b for a, b in zip(first, images(page), strict=True)))


def test_the_second_tab_draws_its_own_charts(page):
    """The chart components are reused across tabs: each must redraw with its new figure."""
    click(page, "Step")
    wait_for(lambda: len(images(page)) == 3 and b"" not in images(page))
    market = images(page)
    wait_for(lambda: images(page) == market)
    page.find(v.Tabs).widget.v_model = 1  # "Cash and utilization"
    wait_for(lambda: len(images(page)) == 2 and not set(images(page)) & set(market))


def test_advanced_settings_are_folded_away(page):
    folds = {str(w.children[0].children[0]): w for w in page.find(v.ExpansionPanel).widgets}
    fold = next(w for title, w in folds.items() if title.startswith("Advanced"))
    inside = fold.children[1].children
    labels = [w.label for w in inside if isinstance(w, v.Slider)]
    assert labels == ["Play interval (ms)", "Render interval (months per redraw)"]
    assert [w.label for w in inside if isinstance(w, v.Checkbox)] == [
        "Step in a thread while playing"
    ]


def test_switching_the_preset_rebuilds_the_model_and_its_controls(page):
    select(page, "Preset").v_model = "Going global"
    spec = load_scenario("going_global")
    # a chart's drawing thread may be rendering: then it re-renders; potential entrants count
    wait_for(lambda: table_rows(page) == len(spec.all_providers))
    assert spec.description in html_texts(page)
    assert page.find(v.Slider, label="APAC electricity price (USD/kWh)").widgets
    strategy_selects = [w for w in page.find(v.Select).widgets if w.label.startswith("Strategy")]
    assert [w.v_model for w in strategy_selects] == [p.strategy for p in spec.providers]
    click(page, "Reset")  # rebuilds the new preset, not the one the page started with
    assert table_rows(page) == len(spec.all_providers)


def month_heading(rc):
    return next(text for text in html_texts(rc) if text.startswith("Providers in month"))


def test_switching_the_preset_while_playing_stops_the_old_play_loop(page):
    before = set(threading.enumerate())
    click(page, "▶")
    wait_for(lambda: month_heading(page) not in ("Providers in month 0", "Providers in month 1"))
    assert set(threading.enumerate()) - before  # Mesa's play loop runs in a thread
    select(page, "Preset").v_model = "Price war"
    wait_for(lambda: not set(threading.enumerate()) - before, timeout_s=10.0)
    assert month_heading(page) == "Providers in month 0"


def provider_row(rc, provider):
    """The table cells of one provider, as text."""
    table = next(text for text in html_texts(rc) if "tm-providers" in text)
    row = next(row for row in table.split("<tr>") if f"</span>{provider}</td>" in row)
    return [re.sub("<[^>]*>", "", cell) for cell in re.findall("<td[^>]*>(.*?)</td>", row)]


def test_reset_rebuilds_the_model_from_the_moved_controls(page):
    click(page, "Step")
    select(page, "Strategy of cn_lowcost (CN)").v_model = "differentiation"
    assert provider_row(page, "cn_lowcost")[:3] == ["cn_lowcost", "CN", "low_price"]  # waits
    click(page, "Reset")
    assert "Providers in month 0" in html_texts(page)
    assert provider_row(page, "cn_lowcost")[2] == "differentiation"
    assert provider_row(page, "us_budget")[2] == "cost_plus"


# ---------------------------------------------------------------------------- the guide
@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_has_experiments_naming_controls_it_shows(preset):
    """Two or three experiments; every provider, policy and knob they name is on the page."""
    from tokenmarket.runs.app.guide import TRY

    spec = load_scenario(preset)
    params = app.model_params(preset)
    labels = " ".join(
        str(c.label if isinstance(c, Slider) else c.get("label", "")).lower()
        for c in params.values()
        if not isinstance(c, str)
    )
    assert 2 <= len(TRY[preset]) <= 3
    for action, question in TRY[preset]:
        assert question.endswith("?")
        for name in re.findall(r"(\w+)'s strategy", action):
            assert name in [p.name for p in spec.providers], name
        for option in re.findall(r"'([^']+)'", action):
            assert any(o.startswith(option) for o in app.CROSS_BORDER), option
        for knob in ("switching cost", "homogenization", "demand growth", "electricity"):
            if knob in action.lower():
                assert knob in labels, (preset, knob)
        for region in re.findall(r"the (\w+) electricity", action):
            assert f"{region.lower()} electricity" in labels


def test_the_glossary_explains_the_terms_on_screen():
    from tokenmarket.runs.app.guide import GLOSSARY

    for term in ("PUE", "Homogenization", "Outside option", "Utils", "Negative cash"):
        assert len(GLOSSARY[term].split()) >= 8, term


# ---------------------------------------------------------------------------- events
def test_events_label_each_shock_month_once_policy_first():
    from tokenmarket.runs.plots import events

    spec = load_scenario("going_global")
    marked = events(spec)
    months = [m for m, _ in marked]
    assert months == sorted({s.step for s in spec.shocks})  # one mark per month with a shock
    labels = dict(marked)
    limit = next(s for s in spec.shocks if s.kind == "gpu_access")
    assert labels[limit.step].startswith(f"{limit.region} export controls")
    releases = [s for s in spec.shocks if s.kind == "quality_jump"]
    assert all(f"{s.provider} release" in labels[s.step] for s in releases)


def test_charts_mark_the_events_that_have_happened_at_their_dates():
    from tokenmarket.runs.plots import events

    model = app.ClassroomMarket("going_global", rng=0)
    model.run_for(8)
    frames = model.frames()
    assert [m for m, _ in frames.events] == [m for m, _ in events(model.spec) if m <= 8]
    assert frames.events  # going_global has events in its first months
    fig = app.price_figure(frames.providers, frames.events)
    vertical = [line for line in fig.axes[0].lines if len(set(line.get_xdata())) == 1]
    start = pd.Period(model.spec.start, freq="M")
    expected = [date2num((start + m - 1).to_timestamp()) for m, _ in frames.events]
    assert sorted(line.get_xdata()[0] for line in vertical) == expected


# ---------------------------------------------------------------------------- calendar dates
@pytest.mark.parametrize(
    "figure", [app.share_figure, app.price_figure, app.cash_figure, app.utilization_figure]
)
def test_charts_span_the_calendar_months_played(classroom, figure):
    """Month 1 is the scenario's start month; the x axis runs over dates, not step numbers."""
    providers = classroom.frames().providers
    ax = figure(providers).axes[0]
    low, high = ax.get_xlim()
    start = pd.Timestamp(classroom.spec.start)
    assert start == pd.Timestamp("2024-01-01")  # the schema's default
    last = start + pd.DateOffset(months=7)  # month 8
    span = date2num(last) - date2num(start)
    assert date2num(start) - 0.05 * span <= low <= date2num(start)
    assert date2num(last) <= high <= date2num(last) + 0.05 * span
    fig = ax.get_figure()
    fig.canvas.draw()
    labels = " ".join(t.get_text() for t in ax.get_xticklabels())
    labels += ax.xaxis.get_offset_text().get_text()
    assert "2024" in labels, labels
    assert re.search(r"Feb|Mar|Apr|May|Jun|Jul|Aug", labels), labels


def test_a_scenario_starting_later_shifts_the_dates(classroom):
    """The dates come from the frames' `date` column: another start, other ticks."""
    providers = classroom.frames().providers
    later = providers.assign(date=providers["date"] + pd.DateOffset(years=3))
    low, _ = app.share_figure(later).axes[0].get_xlim()
    assert num2date(low).year == 2027
