"""What the two history downloaders (`binance.history`, `alpaca.history`) share: the checks on
a request, building the bar frame, and the retry loop with its waits (`retrying`), which the
Binance pre-flight's REST client uses too.

The bar frame (see `bot.engine.validation`): float64 columns exactly `open, high, low, close,
volume`,
indexed by a tz-aware UTC DatetimeIndex named `ts` holding each bar's open time, sorted, unique.
"""

import email.utils
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import structlog

from bot.core.bars import BAR_COLUMNS, bar_interval
from bot.core.errors import ConfigError

log = structlog.get_logger(__name__)

MAX_BACKOFF_S = 60.0
T = TypeVar("T")


def check_request(bar: str, start: datetime, end: datetime) -> None:
    """Raise ConfigError unless `bar` is a known size and [start, end) is a non-empty window of
    timezone-aware datetimes."""
    bar_interval(bar)  # raises ConfigError for an unknown size
    for name, moment in (("start", start), ("end", end)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ConfigError(
                f"The {name} time {moment.isoformat()} has no timezone, so the window is "
                "ambiguous. Give it in UTC, e.g. 2024-01-01T00:00:00+00:00."
            )
    if start >= end:
        raise ConfigError(
            f"The window is empty: start {start.isoformat()} is not before end "
            f"{end.isoformat()}. Swap them or widen the window."
        )


def bar_frame(
    opens: pd.DatetimeIndex, values: np.ndarray, start: datetime, end: datetime
) -> pd.DataFrame:
    """Build the bar frame from bar open times and an (n, 5) OHLCV array, keeping only bars that
    open in [start, end); a bar served twice keeps its last copy."""
    index = pd.DatetimeIndex(opens)
    # Both venues stamp bars in UTC; an empty or naive index is read as UTC.
    index = index.tz_localize(UTC) if index.tz is None else index.tz_convert(UTC)
    frame = pd.DataFrame(
        np.asarray(values, dtype=np.float64).reshape(-1, len(BAR_COLUMNS)),
        index=index.rename("ts"),
        columns=list(BAR_COLUMNS),
    )
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frame[(frame.index >= start) & (frame.index < end)]


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a server asked for in its Retry-After header (delta-seconds or an HTTP date), or
    None when it asked for none."""
    value = (headers or {}).get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff_seconds(attempt: int, base_s: float = 1.0) -> float:
    """Exponential backoff for the `attempt`-th retry (0-based) when the server named no wait."""
    return min(MAX_BACKOFF_S, base_s * 2**attempt)


def retrying(
    call: Callable[[], T],
    max_retries: int,
    wait_for: Callable[[Exception, int], float | None],
    event: str,
    **context: Any,
) -> T:
    """`call()`, retried up to `max_retries` times. When try `attempt` fails (0 for the first
    try), `wait_for(error, attempt)` says how many seconds to wait before the next one, or None
    when the error is not transient; that error, or the last one once the retries run out, is
    raised. Each retry is logged as `event` with `context`."""
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            wait = wait_for(exc, attempt) if attempt < max_retries else None
            if wait is None:
                raise
            log.warning(
                event,
                **context,
                error=type(exc).__name__,
                attempt=attempt + 1,
                max_retries=max_retries,
                wait_s=round(wait, 3),
            )
            time.sleep(wait)
            attempt += 1
