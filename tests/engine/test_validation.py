"""The bar validator: the crafted bad file, then one minimal frame per defect.

`tests/data/bad_bars.csv` (daily equity bars, line = row + 2) holds: an unsorted row (line 5, the
first bad row), a Saturday bar (6), a missing open (7), an exact duplicate (9), a conflicting
duplicate (10 and 11: the later is kept), a zero open (12), high below the close (13), low above
the open (14), a negative low (15), an intraday time in daily data (16), a 2-for-1 split (17), a
negative volume (19) and six missing sessions before 2024-01-29 (20).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from structlog.testing import capture_logs

from bot.core.bars import BAR_COLUMNS, bar_interval
from bot.core.errors import ConfigError, DataError
from bot.engine.bar_issues import REPORTED
from bot.engine.user_files import read_user_file
from bot.engine.validation import format_report, validate
from tests.support.bar_rows import CLEAN_WEEK, bars, checks, repair, strict

BAD_FILE = Path(__file__).parents[1] / "data" / "bad_bars.csv"
ALL_CHECKS = {
    "non_finite",
    "unsorted",
    "duplicate",
    "off_grid",
    "weekend",
    "non_positive",
    "zero_open",
    "ohlc",
    "split",
    "gap",
}


# -- the crafted bad file -------------------------------------------------------------------------


def test_strict_refuses_the_bad_file_naming_its_first_bad_row():
    frame = read_user_file(BAD_FILE)

    with pytest.raises(DataError) as error:
        strict(frame, first_line=2, label="bad_bars")

    message = str(error.value)
    assert "unsorted" in message
    assert "line 5" in message
    assert "2024-01-04" in message
    assert "--policy repair" in message


def test_repair_logs_one_warning_per_check_of_the_bad_file():
    frame = read_user_file(BAD_FILE)

    with capture_logs() as logs:
        result = repair(frame)

    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert {entry["check"] for entry in warnings} == ALL_CHECKS
    assert len(warnings) == len(ALL_CHECKS)
    counts = {entry["check"]: entry["count"] for entry in warnings}
    assert counts == {
        "non_finite": 1,
        "unsorted": 1,
        "duplicate": 2,
        "off_grid": 1,
        "weekend": 1,
        "non_positive": 2,
        "zero_open": 1,
        "ohlc": 2,
        "split": 1,
        "gap": 1,
    }
    assert {issue.row for issue in result.issues} == {3, 4, 5, 7, 8, 10, 11, 12, 13, 14, 15, 17, 18}


def test_repair_of_the_bad_file_yields_the_expected_frame_that_passes_strict():
    frame = read_user_file(BAD_FILE)

    result = repair(frame)
    recheck = strict(result.frame)

    before_split = bars(
        [
            ("2024-01-02", 100.0, 101.0, 99.0, 100.5, 1000),
            ("2024-01-03", 100.5, 102.0, 100.0, 101.5, 1100),
            ("2024-01-04", 101.5, 102.0, 101.0, 101.8, 1150),
            ("2024-01-05", 101.0, 102.5, 100.5, 102.0, 1200),
            ("2024-01-09", 102.2, 103.5, 101.9, 103.0, 1300),
            ("2024-01-10", 103.1, 103.4, 102.6, 103.1, 1260),
            ("2024-01-11", 103.1, 104.0, 102.9, 103.8, 1400),
            ("2024-01-12", 103.8, 104.2, 103.0, 104.2, 1350),
            ("2024-01-15", 104.2, 105.0, 104.2, 104.6, 1200),
        ]
    )
    after_split = bars(
        [
            ("2024-01-17", 52.6, 53.0, 52.1, 52.8, 2600),
            ("2024-01-18", 52.8, 53.5, 52.5, 53.2, 2500),
            ("2024-01-29", 53.2, 54.0, 53.0, 53.6, 2400),
            ("2024-01-30", 53.6, 54.2, 53.3, 54.0, 2450),
        ]
    )
    adjusted = before_split.assign(
        **{c: before_split[c] / 2 for c in ("open", "high", "low", "close")},
        volume=before_split["volume"] * 2,
    )
    expected = pd.concat([adjusted, after_split]).astype("float64")
    pd.testing.assert_frame_equal(result.frame, expected)
    pd.testing.assert_frame_equal(recheck.frame, result.frame)
    assert [(issue.check, issue.action) for issue in recheck.issues] == [("gap", REPORTED)]


def test_format_report_summarises_each_check():
    result = repair(read_user_file(BAD_FILE))

    report = format_report(result)

    assert report.startswith("13 bars from 2024-01-02")
    for check in ALL_CHECKS:
        assert f"  {check}: " in report
    assert "duplicate: 2 row(s), dropped row" in report


def test_format_report_lists_changed_rows_and_gaps_bounded_and_suggests_strict():
    result = repair(read_user_file(BAD_FILE))

    report = format_report(result, limit=3)

    assert "Rows dropped or changed (12):" in report
    assert "  2024-01-04 unsorted: sorted by time" in report  # file order: row 3 first
    assert "  2024-01-08 non_finite: dropped row (missing or non-numeric value in open)" in report
    assert "  ... and 9 more" in report
    assert "2024-01-19 non_positive" not in report  # beyond the limit, counted
    assert "Gaps longer than one bar (3;" in report
    assert "  2024-01-05 -> 2024-01-09: 1 session(s) missing" in report
    assert "  2024-01-15 -> 2024-01-17: 1 session(s) missing" in report
    assert "  2024-01-18 -> 2024-01-29: 6 session(s) missing" in report
    assert "--policy strict" in report


def test_format_report_of_clean_bars_says_no_issues():
    result = strict(bars(CLEAN_WEEK))

    assert format_report(result).endswith("No issues found.")


# -- structure and the frame contract -------------------------------------------------------------


def test_clean_bars_pass_strict_unchanged_with_the_contract_shape():
    frame = bars(CLEAN_WEEK)

    result = strict(frame)

    assert result.issues == []
    assert list(result.frame.columns) == list(BAR_COLUMNS)
    assert (result.frame.dtypes == "float64").all()
    assert result.frame.index.name == "ts"
    assert str(result.frame.index.tz) == "UTC"
    pd.testing.assert_frame_equal(result.frame, frame.astype("float64"))


def test_other_timezones_are_converted_to_utc():
    rows = [("2024-01-08 01:00", 10, 11, 9, 10, 1), ("2024-01-08 02:00", 10, 11, 9, 10, 1)]

    result = strict(bars(rows, tz="Europe/Berlin"), asset_class="crypto", bar="1h")

    assert result.frame.index[0] == pd.Timestamp("2024-01-08 00:00", tz="UTC")
    assert str(result.frame.index.tz) == "UTC"


def test_naive_timestamps_are_refused():
    frame = bars(CLEAN_WEEK).tz_localize(None)

    with pytest.raises(DataError, match="no timezone"):
        repair(frame)


def test_missing_column_is_refused():
    frame = bars(CLEAN_WEEK).drop(columns="volume")

    with pytest.raises(DataError, match="missing column"):
        repair(frame)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"asset_class": "bond", "bar": "1d", "policy": "repair"}, "asset class"),
        ({"asset_class": "equity", "bar": "2d", "policy": "repair"}, "bar size"),
        ({"asset_class": "equity", "bar": "1d", "policy": "lenient"}, "policy"),
    ],
)
def test_unknown_options_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        validate(bars(CLEAN_WEEK), **kwargs)


def test_bar_interval_of_each_size():
    assert bar_interval("1m") == pd.Timedelta(minutes=1)
    assert bar_interval("15m") == pd.Timedelta(minutes=15)
    assert bar_interval("4h") == pd.Timedelta(hours=4)
    assert bar_interval("1d") == pd.Timedelta(days=1)


def test_all_rows_bad_is_an_error_even_in_repair():
    frame = bars([("2024-01-08", np.nan, 1.0, 1.0, 1.0, 1.0)])

    with pytest.raises(DataError, match="no valid bars"):
        repair(frame)


# -- one minimal frame per defect -----------------------------------------------------------------


def test_nan_row_is_dropped_in_repair_and_named_in_strict():
    rows = [*CLEAN_WEEK[:2], ("2024-01-10", 11.0, np.nan, 10.6, 10.8, 120.0), CLEAN_WEEK[3]]

    result = repair(bars(rows))

    assert checks(result) == ["non_finite"]
    assert pd.Timestamp("2024-01-10", tz="UTC") not in result.frame.index
    with pytest.raises(DataError, match=r"non_finite\) at row 2, 2024-01-10.*high"):
        strict(bars(rows))


def test_unsorted_rows_are_sorted():
    rows = [CLEAN_WEEK[1], CLEAN_WEEK[0], *CLEAN_WEEK[2:]]

    result = repair(bars(rows))

    assert checks(result) == ["unsorted"]
    assert result.issues[0].row == 1
    pd.testing.assert_frame_equal(result.frame, strict(bars(CLEAN_WEEK)).frame)


def test_exact_duplicate_keeps_one_copy():
    rows = [*CLEAN_WEEK[:2], CLEAN_WEEK[1], *CLEAN_WEEK[2:]]

    result = repair(bars(rows))

    assert [(i.check, i.row, i.message) for i in result.issues] == [
        ("duplicate", 2, "exact copy of an earlier row")
    ]
    assert len(result.frame) == 4


def test_conflicting_duplicate_keeps_the_last_row():
    later = ("2024-01-09", 10.6, 11.6, 10.1, 11.1, 111.0)
    rows = [*CLEAN_WEEK[:2], later, *CLEAN_WEEK[2:]]

    result = repair(bars(rows))

    assert [(i.check, i.row) for i in result.issues] == [("duplicate", 1)]
    assert result.frame.loc["2024-01-09", "close"].item() == 11.1


def test_off_grid_partial_bar_is_dropped():
    rows = [
        ("2021-12-29 13:30", 100.0, 101.0, 99.0, 100.5, 5.0),
        ("2021-12-29 13:45", 100.5, 101.0, 100.0, 100.8, 6.0),
        ("2021-12-29 13:50:02", 100.8, 100.8, 100.8, 100.8, 0.0),
    ]

    result = repair(bars(rows), asset_class="crypto", bar="15m")

    assert [(i.check, i.row) for i in result.issues] == [("off_grid", 2)]
    assert len(result.frame) == 2


def test_weekend_bar_is_dropped_for_equities_only():
    rows = [*CLEAN_WEEK[:2], ("2024-01-13", 11.0, 11.2, 10.6, 10.8, 5.0)]

    equity = repair(bars(rows))
    crypto = repair(bars(rows), asset_class="crypto")

    assert [(i.check, i.row) for i in equity.issues] == [("weekend", 2)]
    assert "Saturday" in equity.issues[0].message
    assert len(equity.frame) == 2
    assert "weekend" not in checks(crypto)
    assert len(crypto.frame) == 3


def test_non_positive_price_and_negative_volume_rows_are_dropped():
    rows = [
        CLEAN_WEEK[0],
        ("2024-01-09", 10.5, 11.5, 10.0, 0.0, 110.0),
        ("2024-01-10", 11.0, 11.2, 10.6, 10.8, -1.0),
        CLEAN_WEEK[3],
    ]

    result = repair(bars(rows))

    assert [(i.check, i.row) for i in result.issues] == [("non_positive", 1), ("non_positive", 2)]
    assert "close" in result.issues[0].message
    assert "volume" in result.issues[1].message
    assert len(result.frame) == 2


@pytest.mark.parametrize("policy", [repair, strict], ids=["repair", "strict"])
@pytest.mark.parametrize(
    ("row", "named"),
    [
        (("2024-01-10", 1e300, 1e300, 1e300, 1e300, 120.0), "open 1e+300"),
        (("2024-01-10", 11.0, 1e300, 10.6, 1e300, 120.0), "high 1e+300"),
        (("2024-01-10", 11.0, 11.2, 10.6, 10.8, 1e30), "volume 1e+30"),
    ],
    ids=["all-prices", "high-close", "volume"],
)
def test_a_value_the_engine_cannot_hold_is_refused_naming_its_line(policy, row, named):
    # A 1e300 price once passed as "no issues", or read as a 300-digit percentage split move.
    rows = [*CLEAN_WEEK[:2], row, CLEAN_WEEK[3]]

    with pytest.raises(DataError) as error:
        policy(bars(rows), first_line=2)

    message = str(error.value)
    assert "(out_of_range) at line 4" in message
    assert f"{named} is outside the range the engine can hold" in message
    assert "The out_of_range at line 4 cannot be repaired safely" in message
    assert "%" not in message


def test_zero_open_becomes_the_previous_close_and_widens_the_range():
    rows = [CLEAN_WEEK[0], ("2024-01-09", 0.0, 11.5, 10.6, 11.0, 110.0)]

    result = repair(bars(rows), asset_class="index")

    assert [(i.check, i.action) for i in result.issues] == [
        ("zero_open", "set open to previous close")
    ]
    repaired = result.frame.iloc[1]
    assert repaired["open"] == 10.5
    assert repaired["low"] == 10.5
    assert repaired["high"] == 11.5


def test_zero_open_on_the_first_row_is_dropped():
    rows = [("2024-01-08", 0.0, 11.0, 9.5, 10.5, 100.0), *CLEAN_WEEK[1:]]

    result = repair(bars(rows), asset_class="index")

    assert [(i.check, i.action) for i in result.issues] == [("zero_open", "dropped row")]
    assert len(result.frame) == 3


def test_high_low_outside_the_body_are_clipped():
    rows = [CLEAN_WEEK[0], ("2024-01-09", 10.5, 10.9, 10.7, 11.0, 110.0)]

    result = repair(bars(rows))

    assert [(i.check, i.row) for i in result.issues] == [("ohlc", 1)]
    assert result.frame.iloc[1][["high", "low"]].tolist() == [11.0, 10.5]


def test_two_for_one_split_is_back_adjusted():
    rows = [*CLEAN_WEEK[:2], ("2024-01-10", 5.6, 5.7, 5.3, 5.4, 240.0)]

    result = repair(bars(rows))

    assert [(i.check, i.action) for i in result.issues] == [
        ("split", "back-adjusted for a 2-for-1 split")
    ]
    np.testing.assert_allclose(result.frame["close"], [5.25, 5.5, 5.4])
    np.testing.assert_allclose(result.frame["volume"], [200.0, 220.0, 240.0])
    with pytest.raises(DataError, match="split"):
        strict(bars(rows))


def test_reverse_split_is_back_adjusted():
    rows = [*CLEAN_WEEK[:2], ("2024-01-10", 33.0, 33.5, 32.5, 33.3, 40.0)]

    result = repair(bars(rows))

    assert result.issues[0].action == "back-adjusted for a 1-for-3 split"
    np.testing.assert_allclose(result.frame["close"], [31.5, 33.0, 33.3])


def test_jump_that_is_no_split_ratio_is_refused_even_in_repair():
    rows = [*CLEAN_WEEK[:2], ("2024-01-10", 6.2, 6.3, 5.9, 6.0, 240.0)]

    with pytest.raises(DataError, match="matches no common split ratio") as error:
        repair(bars(rows))

    assert "The split at row 2 cannot be repaired safely" in str(error.value)


def test_split_check_is_skipped_for_adjusted_prices_and_for_indices():
    rows = [*CLEAN_WEEK[:2], ("2024-01-10", 6.2, 6.3, 5.9, 6.0, 240.0)]

    adjusted = strict(bars(rows), adjusted=True)
    index = strict(bars(rows), asset_class="index")

    assert adjusted.issues == [] and index.issues == []


def test_strict_names_the_first_row_while_repair_names_the_refusal():
    rows = [("2024-01-08", np.nan, 11, 9, 10, 1), *CLEAN_WEEK[1:], ("2024-03-01", 10, 11, 9, 10, 1)]

    with pytest.raises(DataError) as refused_strict:
        strict(bars(rows))
    with pytest.raises(DataError) as refused_repair:
        repair(bars(rows))

    assert "(non_finite) at row 0" in str(refused_strict.value)
    assert "(1 more issue(s) found)" in str(refused_strict.value)
    assert "The gap at row 4 cannot be repaired" in str(refused_strict.value)
    assert "(gap) at row 4" in str(refused_repair.value)
