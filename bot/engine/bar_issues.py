"""What every bar check shares: the `Issue` it records per row and its actions, the
`CheckContext` it reads, and the `ROW` column that ties a finding to its input row. The checks
are in `bot.engine.bar_checks`."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

REPORTED = "reported"
REFUSED = "refused"
DROPPED = "dropped row"
SESSION_CLASSES = ("equity", "index")  # asset classes that trade in sessions, not around the clock
ROW = "_row"  # the 0-based input row, carried through the checks


@dataclass(frozen=True)
class Issue:
    """One finding: which check, where (timestamp, 0-based row of the input), what, and what
    was done (`REPORTED` for warnings, `REFUSED` for what cannot be repaired)."""

    check: str
    ts: pd.Timestamp
    row: int
    message: str
    action: str


@dataclass(frozen=True)
class CheckContext:
    """What the checks know about the data: asset class, bar size and its interval, the label
    and first file line of messages, and whether prices are declared split-adjusted."""

    asset_class: str
    bar: str
    interval: pd.Timedelta
    label: str
    first_line: int | None
    adjusted: bool


def issues_at(
    work: pd.DataFrame, mask: np.ndarray, check: str, action: str, message: str | Sequence[str]
) -> list[Issue]:
    """One `Issue` per row of `work` that `mask` selects: the same message for each, or one
    message per selected row."""
    flagged = work[mask]
    messages = [message] * len(flagged) if isinstance(message, str) else message
    return [
        Issue(check, ts, int(row), text, action)
        for ts, row, text in zip(flagged.index, flagged[ROW], messages, strict=True)
    ]
