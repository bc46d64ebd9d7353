"""Headlines files: validation errors, joining, alignment to trading days, missing days."""

import pandas as pd
import pytest

from bot.core.errors import ConfigError, DataError
from training.llmoe.headlines import load_headlines

DAYS = pd.DatetimeIndex(
    ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"], tz="UTC"
)  # Thu, Fri, Mon, Tue


def _file(tmp_path, text: str):
    path = tmp_path / "news.csv"
    path.write_text(text)
    return path


def test_a_date_that_does_not_parse_is_refused_with_its_line(tmp_path):
    path = _file(tmp_path, "date,headline\n2020-01-02,ok\nnot-a-date,bad\n")

    with pytest.raises(DataError, match=r"1 dates that do not parse.*line\(s\) 3"):
        load_headlines(path)


def test_an_empty_headline_is_refused(tmp_path):
    path = _file(tmp_path, 'date,headline\n2020-01-02,"  "\n')

    with pytest.raises(DataError, match="empty headlines"):
        load_headlines(path)


def test_missing_columns_and_missing_files_are_refused(tmp_path):
    with pytest.raises(DataError, match="lacks the column"):
        load_headlines(_file(tmp_path, "day,text\n2020-01-02,x\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_headlines(tmp_path / "absent.csv")


def test_several_headlines_a_day_are_joined_and_missing_days_counted(tmp_path):
    path = _file(
        tmp_path,
        "date,headline\n2020-01-02,Apple beats\n2020-01-02,Chips rally\n"
        "2020-01-04,Weekend merger talk\n2021-05-01,Far future\n",
    )

    text, coverage = load_headlines(path).align(DAYS)

    assert text[DAYS[0]] == "Apple beats | Chips rally"
    assert text[DAYS[2]] == "Weekend merger talk"  # a Saturday headline counts on Monday
    assert (coverage.days_with_headlines, coverage.missing_days) == (2, 2)
    assert coverage.headlines_outside_span == 1
    assert "2 are missing" in coverage.describe()
