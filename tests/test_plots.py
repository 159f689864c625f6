"""The run figures read as calendars: dates on the x axis, the scenario's shocks at their dates."""

import datetime

import matplotlib.dates as mdates
import pandas as pd
import pytest

from tokenmarket.model.market import TokenMarket
from tokenmarket.model.scenario import load_scenario
from tokenmarket.runs import plots

START = datetime.date(2025, 7, 1)
"""Not the schema's default (January 2024): a figure that ignored `start` would show."""
MONTHS = 20  # past going_global's first shocks (months 7, 13 and 16)


def first_of_month(start: datetime.date, step: int) -> datetime.date:
    """Step 1 is `start`'s month; counted by hand, not with the code under test."""
    months = start.month - 1 + step - 1
    return datetime.date(start.year + months // 12, months % 12 + 1, 1)


@pytest.fixture(scope="module")
def run() -> TokenMarket:
    spec = load_scenario("going_global", n_developers=300).model_copy(update={"start": START})
    model = TokenMarket(spec, rng=0)
    model.run_for(MONTHS)
    return model


def tick_labels(ax) -> list[str]:
    """The labels of the major x ticks inside the axes' span, as drawn."""
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    pairs = zip(ax.get_xticks(), ax.get_xticklabels(), strict=True)
    return [label.get_text() for x, label in pairs if low <= x <= high and label.get_text()]


def tick_dates(ax) -> list[pd.Timestamp]:
    return [pd.Timestamp(text) for text in tick_labels(ax)]


def assert_ticks_span(ticks: list[pd.Timestamp], first: datetime.date, last: datetime.date):
    """Tick labels are dates of the run: from its first year to its last, a margin aside."""
    assert len(ticks) >= 2
    margin = datetime.timedelta(days=92)  # the axis' padding may show one more quarter
    assert first - margin <= ticks[0].date() <= first + datetime.timedelta(days=366)
    assert ticks[-1].date() <= last + margin


def line_dates(ax) -> list[datetime.date]:
    """The x positions of the data lines (not the event marks), as dates."""
    drawn = [line for line in ax.get_lines() if len(set(line.get_xdata())) > 1]
    return sorted({mdates.num2date(x).date() for line in drawn for x in line.get_xdata()})


def event_positions(ax) -> list[datetime.date]:
    """The x positions of the vertical event marks, as dates."""
    marks = [line for line in ax.get_lines() if len(set(line.get_xdata())) == 1]
    return sorted(mdates.num2date(line.get_xdata()[0]).date() for line in marks)


def test_event_dates_are_the_first_day_of_each_shock_month(run):
    dated = plots.event_dates(run.spec)
    assert [label for _, label in dated] == [label for _, label in plots.events(run.spec)]
    for (date, _), (month, _) in zip(dated, plots.events(run.spec), strict=True):
        assert date.date() == first_of_month(START, month)


def test_the_frames_dates_count_months_from_the_start(run):
    frame = run.provider_frame().drop_duplicates("step")
    expected = [first_of_month(START, int(step)) for step in frame["step"]]
    assert [d.date() for d in frame["date"]] == expected


def test_market_share_figure_is_drawn_on_the_calendar(run):
    fig = plots.market_share_figure(run.provider_frame(), plots.event_dates(run.spec))
    share, price = fig.axes[:2]
    months = [first_of_month(START, step) for step in range(1, MONTHS + 1)]
    assert line_dates(share) == months  # one point per month, at its first day
    assert_ticks_span(tick_dates(price), months[0], months[-1])  # labels are the run's dates
    assert price.get_xlabel() == plots.MONTH_AXIS_LABEL
    assert "USD per million tokens" in price.get_ylabel()


def test_market_share_figure_marks_each_shock_at_its_date(run):
    fig = plots.market_share_figure(run.provider_frame(), plots.event_dates(run.spec))
    happened = sorted({first_of_month(START, s.step) for s in run.spec.shocks if s.step <= MONTHS})
    assert len(happened) >= 2
    for ax in fig.axes[:2]:  # both panels, the share panel with the labels
        assert event_positions(ax) == happened
    limit = next(s for s in run.spec.shocks if s.kind in ("capacity_limit", "gpu_access"))
    at = {t.get_text(): mdates.num2date(t.xy[0]).date() for t in fig.axes[0].texts}
    controls = [text for text in at if text.startswith(f"{limit.region} export controls")]
    assert controls, at  # policy leads its label, even among releases of nearby months
    assert at[controls[0]] == first_of_month(START, limit.step)


def test_segment_figure_shares_the_calendar(run):
    fig = plots.segment_share_figure(run.segment_frame(), run.provider_frame())
    months = [first_of_month(START, step) for step in range(1, MONTHS + 1)]
    assert line_dates(fig.axes[0]) == months
    assert fig.axes[len(fig.axes) - 1].get_xlabel() == plots.MONTH_AXIS_LABEL


@pytest.mark.parametrize(
    ("months", "label"),
    [(60, "%Y"), (120, "%Y"), (12, "%b %Y")],
    ids=["five years", "ten years", "one year"],
)
def test_date_ticks_are_years_or_quarters_a_reader_can_parse(months, label):
    _, axes = plots.agg_figure((6, 3))
    ax = axes[0, 0]
    dates = pd.date_range(START, periods=months, freq="MS")
    ax.plot(dates, range(months))
    plots.date_axis(ax)
    ticks = tick_dates(ax)
    texts = tick_labels(ax)
    assert [t.strftime(label) for t in ticks] == texts  # each label is a whole date
    assert 3 <= len(ticks) <= 8  # readable: neither crowded nor bare
    assert all(t.month in (1, 4, 7, 10) and t.day == 1 for t in ticks)  # years or quarters


def test_month_positions_still_mark_a_month_axis():
    _, axes = plots.agg_figure((6, 3))
    ax = axes[0, 0]
    ax.plot(range(1, 25), range(24))
    plots.mark_events(ax, [(7, "July"), (16, "April")])
    assert [line.get_xdata()[0] for line in ax.get_lines()[1:]] == [7, 16]


def test_sweep_bands_are_on_the_calendar_with_the_events_marked():
    from tokenmarket.runs.analysis import timeseries_figure

    dates = pd.date_range(START, periods=24, freq="MS")
    rows = [
        {
            "run_id": f"{arm}{seed}",
            "date": d,
            "strategy": arm,
            "token_share": 0.1 * seed + i / 100,
            "switching_cost": cost,
        }
        for arm in ("low_price", "differentiation")
        for seed in range(3)
        for cost in (0.5, 3.0)
        for i, d in enumerate(dates)
    ]
    controls = pd.Timestamp(first_of_month(START, 10))
    fig = timeseries_figure(
        pd.DataFrame(rows), facet="switching_cost", marked=[(controls, "CN export controls")]
    )
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2
    for ax in panels:
        assert event_positions(ax) == [controls.date()]
        assert line_dates(ax)[0] == START
        assert_ticks_span(tick_dates(ax), START, dates[-1].date())
    assert [t.get_text() for t in panels[0].texts] == ["CN export controls"]
    assert not panels[1].texts  # labelled once: narrow panels stay readable


def test_a_narrow_panel_labels_fewer_quarters():
    _, axes = plots.agg_figure((2.5, 3))
    ax = axes[0, 0]
    dates = pd.date_range(START, periods=20, freq="MS")
    ax.plot(dates, range(20))
    plots.date_axis(ax)
    ticks = tick_dates(ax)
    assert 2 <= len(ticks) <= 4  # under an inch a label
    assert all(t.month in (1, 4, 7, 10) and t.day == 1 for t in ticks)
