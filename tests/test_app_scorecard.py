"""The side-by-side scorecard on runs written by hand: the right winner, for the right reason."""

import numpy as np
import pandas as pd
import pytest

from tokenmarket.runs.app.scorecard import money, outcome, profit_split, scorecard

LABELS = {"A": "low_price", "B": "differentiation"}


def run(served, price, margin, share, rival_share=None, active=None, npv=None):
    """A provider frame of len(served) months: provider "p" as given, a rival "q".

    Revenue is served x price and profit served x margin each month (USD, Mtok); NPV is
    the profit summed unless given per month.
    """
    months = len(served)
    served = np.asarray(served, dtype=float)
    profit = served * margin
    rows = pd.DataFrame(
        {
            "step": np.arange(1, months + 1),
            "provider": "p",
            "token_share": share,
            "served_mtok": served,
            "revenue_usd": served * price,
            "profit_usd": profit,
            "npv_usd": np.cumsum(profit) if npv is None else npv,
            "active": True if active is None else active,
        }
    )
    rival = rows.assign(
        provider="q",
        token_share=1.0 - rows["token_share"] if rival_share is None else rival_share,
        active=True,
    )
    frame = pd.concat([rows, rival], ignore_index=True).sort_values(["step", "provider"])
    return frame.assign(date=pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["step"], "D"))


# low price: many tokens at a thin margin; differentiation: fewer tokens at a wide one
CHEAP = run(served=[1e7, 1e7, 1e7], price=1.0, margin=0.1, share=0.6)
DEAR = run(served=[5e6, 5e6, 5e6], price=3.0, margin=0.8, share=0.3)


def test_low_price_wins_share_and_the_wide_margin_wins_profit():
    card = scorecard(CHEAP, DEAR, "p", LABELS)
    assert card.winners == {"share": "A", "profit": "B", "NPV": "B"}
    assert card.outcomes["A"].profit_usd == pytest.approx(3e6)
    assert card.outcomes["B"].profit_usd == pytest.approx(12e6)
    assert card.outcomes["B"].price_usd_per_mtok == pytest.approx(3.0)
    assert card.reason.startswith("p made USD 9.0 M more profit in B, mostly from a wider margin")
    assert "which outweighed 50% fewer tokens sold (15.0 vs 30.0 trillion tokens)" in card.reason
    assert "A kept more share (60% vs 30%)" in card.reason
    assert "3.00 vs 1.00 USD/Mtok" in card.reason


def test_swapping_the_runs_swaps_every_winner():
    card = scorecard(DEAR, CHEAP, "p", LABELS)
    assert card.winners == {"share": "B", "profit": "A", "NPV": "A"}
    assert "more profit in A" in card.reason
    assert "B kept more share" in card.reason


def test_selling_more_at_the_same_margin_wins_on_volume():
    more = run(served=[100, 200, 300], price=1.0, margin=0.5, share=0.5)
    fewer = run(served=[100, 100, 100], price=1.0, margin=0.5, share=0.3)
    card = scorecard(fewer, more, "p", LABELS)
    assert card.winners == {"share": "B", "profit": "B", "NPV": "B"}
    assert card.reason.startswith(
        "p made USD 150.0 more profit in B, from 2.0 times as many tokens sold (600.0 vs 300.0 "
        "million tokens); about the same margin (0.50 vs 0.50 USD per Mtok served) changed it "
        "little"
    )
    assert "it also won share (50% vs 30%)" in card.reason


def test_a_minor_effect_is_not_said_to_help_or_be_outweighed():
    """Nearly the same tokens at a wider margin: the margin made the profit, volume did not."""
    thin = run(served=[1000, 1000], price=1.0, margin=-40.0, share=0.43)
    wide = run(served=[1001, 1001], price=1.0, margin=-20.0, share=0.43)
    card = scorecard(thin, wide, "p", LABELS)
    assert card.winners == {"share": None, "profit": "B", "NPV": "B"}
    assert card.reason.startswith(
        "p made USD 40.0 k more profit in B, from a wider margin (-20.00 vs -40.00 USD per Mtok"
    )
    assert "; about as many tokens sold (2.0 vs 2.0 billion tokens) changed it little" in (
        card.reason
    )


def test_money_is_shown_in_a_unit_it_reaches():
    assert [money(x) for x in (-3.2e6, 12_345.0, 2.5e9, -40.0)] == [
        "USD -3.2 M",
        "USD 12.3 k",
        "USD 2.5 bn",
        "USD -40.0",
    ]


def test_identical_runs_are_a_draw_on_everything():
    card = scorecard(CHEAP, CHEAP.copy(), "p", LABELS)
    assert card.winners == {"share": None, "profit": None, "NPV": None}
    assert card.reason.startswith("p made about the same profit in both runs")
    assert "share was about even" in card.reason


def test_differences_within_the_tolerance_are_draws_and_beyond_it_wins():
    base = run(served=[100, 100], price=1.0, margin=0.5, share=0.300)
    close = run(served=[100, 100], price=1.0, margin=0.504, share=0.304)  # +0.8 %, +0.4 pt
    apart = run(served=[100, 100], price=1.0, margin=0.52, share=0.31)  # +4 %, +1 pt
    assert scorecard(base, close, "p", LABELS).winners == {
        "share": None,
        "profit": None,
        "NPV": None,
    }
    assert scorecard(base, apart, "p", LABELS).winners == {
        "share": "B",
        "profit": "B",
        "NPV": "B",
    }


def test_a_provider_that_exits_is_said_to_have_exited():
    gone = run(served=[100, 0, 0], price=1.0, margin=-0.2, share=[0.3, 0.0, 0.0], active=[1, 0, 0])
    stayed = run(served=[100, 100, 100], price=1.0, margin=0.1, share=0.3)
    assert outcome(gone, "p").exit_step == 2
    assert outcome(stayed, "p").exit_step is None
    card = scorecard(gone, stayed, "p", LABELS)
    assert card.winners["profit"] == "B"
    assert card.reason.startswith("p exited in month 2 in A;")


def test_not_yet_entered_is_not_an_exit():
    late = run(served=[0, 50, 50], price=1.0, margin=0.1, share=[0, 0.2, 0.2], active=[0, 1, 1])
    assert outcome(late, "p").exit_step is None


def test_npv_can_favour_the_run_whose_profit_came_first():
    early = run(served=[100, 100, 0], price=1.0, margin=1.0, share=0.3, npv=[100, 190, 190])
    late = run(served=[0, 100, 110], price=1.0, margin=1.0, share=0.3, npv=[0, 90, 170])
    card = scorecard(early, late, "p", LABELS)
    assert card.winners == {"share": None, "profit": "B", "NPV": "A"}
    assert "NPV, which weighs early months more, favours A" in card.reason


def test_the_leader_of_each_run_is_its_largest_provider_in_the_last_month():
    card = scorecard(CHEAP, DEAR, "p", LABELS)
    assert card.leaders["A"] == ("p", pytest.approx(0.6))
    assert card.leaders["B"] == ("q", pytest.approx(0.7))


def test_volume_and_margin_effects_add_up_to_the_profit_gap():
    """The split is exact for profit = tokens x margin, whatever the numbers."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = run(rng.uniform(1, 1e6, 3), rng.uniform(0.1, 10), rng.normal(0, 1), 0.3)
        b = run(rng.uniform(1, 1e6, 3), rng.uniform(0.1, 10), rng.normal(0, 1), 0.3)
        first, second = outcome(a, "p"), outcome(b, "p")
        volume, margin = profit_split(first, second)
        assert volume + margin == pytest.approx(second.profit_usd - first.profit_usd, rel=1e-9)


def test_the_same_tokens_at_a_wider_margin_is_all_margin_effect():
    thin = outcome(run([100, 100], price=1.0, margin=0.1, share=0.3), "p")
    wide = outcome(run([100, 100], price=1.0, margin=0.4, share=0.3), "p")
    assert profit_split(thin, wide) == (0.0, pytest.approx(60.0))


def test_an_unknown_provider_is_named():
    with pytest.raises(ValueError, match="'nobody'"):
        scorecard(CHEAP, DEAR, "nobody", LABELS)
