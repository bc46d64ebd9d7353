"""Minimal bar frames for the validator tests, one row per tuple, and the validator run on them
under each policy."""

import pandas as pd

from bot.core.bars import BAR_COLUMNS
from bot.engine.validation import ValidationResult, validate


def bars(rows: list[tuple], tz: str = "UTC") -> pd.DataFrame:
    """A frame from (time, open, high, low, close, volume) rows, kept in the given order."""
    index = pd.DatetimeIndex([pd.Timestamp(row[0]) for row in rows], name="ts").tz_localize(tz)
    return pd.DataFrame([row[1:] for row in rows], index=index, columns=list(BAR_COLUMNS))


def repair(frame: pd.DataFrame, asset_class: str = "equity", bar: str = "1d", **kw):
    return validate(frame, asset_class=asset_class, bar=bar, policy="repair", **kw)


def strict(frame: pd.DataFrame, asset_class: str = "equity", bar: str = "1d", **kw):
    return validate(frame, asset_class=asset_class, bar=bar, policy="strict", **kw)


def checks(result: ValidationResult) -> list[str]:
    return [issue.check for issue in result.issues]


CLEAN_WEEK = [
    ("2024-01-08", 10.0, 11.0, 9.5, 10.5, 100.0),
    ("2024-01-09", 10.5, 11.5, 10.0, 11.0, 110.0),
    ("2024-01-10", 11.0, 11.2, 10.6, 10.8, 120.0),
    ("2024-01-11", 10.8, 11.0, 10.1, 10.2, 130.0),
]
