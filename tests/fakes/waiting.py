"""Helpers for tests that drive a fake venue from another thread."""

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `condition` until it holds; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def kline_around(close: float) -> tuple[float, float, float, float, float]:
    """Open, high, low, close and volume of a small bar closing at `close`."""
    return close - 5.0, close + 10.0, close - 10.0, close, 3.0
