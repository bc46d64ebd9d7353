"""The validator's gap rules: which missing bars count as a gap per asset class, the gaps over
30 days it refuses, and the gaps a validation leaves (listed in the import summary)."""

import numpy as np
import pandas as pd
import pytest

from bot.core.errors import DataError
from bot.engine.bar_gaps import Gap
from bot.engine.bar_issues import REPORTED
from bot.engine.validation import format_report
from tests.support.bar_rows import CLEAN_WEEK, bars, checks, repair, strict


def test_equity_gap_counts_only_more_than_four_missing_sessions():
    four_missing = [("2024-01-08", 10, 11, 9, 10, 1), ("2024-01-15", 10, 11, 9, 10, 1)]
    five_missing = [("2024-01-08", 10, 11, 9, 10, 1), ("2024-01-16", 10, 11, 9, 10, 1)]

    quiet = strict(bars(four_missing))
    gap = strict(bars(five_missing))

    assert quiet.issues == []
    assert [(i.check, i.action, i.row) for i in gap.issues] == [("gap", REPORTED, 1)]
    assert gap.issues[0].message.startswith("5 session(s) missing")


def test_crypto_gap_counts_every_missing_bar():
    rows = [
        ("2021-10-01 00:00", 10, 11, 9, 10, 1),
        ("2021-10-01 00:15", 10, 11, 9, 10, 1),
        ("2021-10-01 01:00", 10, 11, 9, 10, 1),
    ]

    result = strict(bars(rows), asset_class="crypto", bar="15m")

    assert [(i.check, i.row) for i in result.issues] == [("gap", 2)]
    assert result.issues[0].message.startswith("2 bar(s) missing")


def test_fx_weekend_is_no_gap_but_a_missing_weekday_hour_is():
    rows = [
        ("2017-01-06 20:00", 1.05, 1.06, 1.04, 1.05, 1),  # Friday, the last hour before the close
        ("2017-01-08 22:00", 1.05, 1.06, 1.04, 1.05, 1),  # Sunday reopening
        ("2017-01-09 01:00", 1.05, 1.06, 1.04, 1.05, 1),  # Monday: 23:00 and 00:00 missing
    ]

    result = strict(bars(rows), asset_class="fx", bar="1h")

    assert [(i.check, i.row) for i in result.issues] == [("gap", 2)]
    assert result.issues[0].message.startswith("2 bar(s) missing")


def test_gap_longer_than_thirty_days_is_refused():
    rows = [("2024-01-08", 10, 11, 9, 10, 1), ("2024-03-01", 10, 11, 9, 10, 1)]

    with pytest.raises(DataError, match="gaps over 30 days are refused"):
        repair(bars(rows))


# -- the gaps a validation leaves ----------------------------------------------------------------


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _hourly(stamps: list[str]) -> pd.DataFrame:
    return bars([(stamp, 10, 11, 9, 10, 1) for stamp in stamps])


def test_a_gap_of_exactly_one_bar_interval_is_no_gap():
    result = strict(_hourly(["2024-01-06 00:00", "2024-01-06 01:00"]), "crypto", "1h")

    assert result.gaps == []


def test_three_missing_bars_in_crypto_are_a_gap():
    stamps = ["2024-01-06 00:00", "2024-01-06 01:00", "2024-01-06 05:00", "2024-01-06 06:00"]

    result = strict(_hourly(stamps), "crypto", "1h")

    assert result.gaps == [Gap(_utc("2024-01-06 01:00"), _utc("2024-01-06 05:00"), 3, "bar(s)")]


def test_weekends_are_no_gap_for_equities_even_when_repair_drops_a_weekend_bar():
    rows = [
        ("2024-01-05", 10, 11, 9, 10, 1),  # Friday
        ("2024-01-06", 10, 11, 9, 10, 1),  # Saturday: dropped
        ("2024-01-08", 10, 11, 9, 10, 1),  # Monday
    ]

    equity = repair(bars(rows))
    crypto = strict(bars([rows[0], rows[2]]), "crypto")

    assert checks(equity) == ["weekend"]
    assert equity.gaps == []
    assert crypto.gaps == [Gap(_utc("2024-01-05"), _utc("2024-01-08"), 2, "bar(s)")]


def test_a_bar_repair_drops_leaves_a_gap_of_one_session_for_equities():
    rows = [*CLEAN_WEEK[:2], ("2024-01-10", 11.0, np.nan, 10.6, 10.8, 120.0), CLEAN_WEEK[3]]

    result = repair(bars(rows))

    assert result.gaps == [Gap(_utc("2024-01-09"), _utc("2024-01-11"), 1, "session(s)")]
    assert "  2024-01-09 -> 2024-01-11: 1 session(s) missing" in format_report(result)


def test_a_missing_session_repair_did_not_cause_is_no_gap_for_equities():
    # A lone missing weekday is a holiday to the calendar check; the validator tolerates four.
    rows = [*CLEAN_WEEK[:2], CLEAN_WEEK[3]]

    result = strict(bars(rows))

    assert result.issues == [] and result.gaps == []
    assert format_report(result).endswith("No issues found.")


def test_an_intraday_equity_bar_repair_drops_is_a_gap_of_one_bar():
    rows = [
        ("2024-01-09 14:00", 10, 11, 9, 10, 1),
        ("2024-01-09 15:00", 10, 11, 9, np.inf, 1),
        ("2024-01-09 16:00", 10, 11, 9, 10, 1),
    ]

    result = repair(bars(rows), bar="1h")

    assert result.gaps == [Gap(_utc("2024-01-09 14:00"), _utc("2024-01-09 16:00"), 1, "bar(s)")]


def test_a_gap_repair_did_not_cause_is_listed_without_rows_changed():
    result = strict(_hourly(["2024-01-06 00:00", "2024-01-06 03:00"]), "crypto", "1h")

    report = format_report(result)

    assert "Rows dropped or changed" not in report
    assert "  2024-01-06 00:00 -> 2024-01-06 03:00: 2 bar(s) missing" in report
    assert "--policy strict" in report
