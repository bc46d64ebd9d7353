"""The start-up watchdog of a paper or live node: it either trades or exits non-zero, never idles.

Nautilus' kernel gives up quietly when a venue client does not connect (a few 503s on Binance
`positionRisk` or Alpaca `positions`) or start-up reconciliation fails: the trader never starts,
no bar arrives, so the stale-data watchdog and the kill switch never run, and the process stays
up. Here:

- `StartupWatch` polls a starting node on its loop. Once its trader runs it journals
  `node_running`; if the trader is still not running `[risk] startup_timeout_s` after the start,
  it stops the node. An operator's stop (SIGINT, SIGTERM, `--duration-s`) goes through
  `StartupWatch.stop`: the node stops for good, even while it is still starting.
- `start_with_retries` runs such attempts (each a freshly built node, the same journal run) up to
  `[risk] startup_attempts` times, waiting `backoff_initial_s`, doubling up to `backoff_max_s`,
  between them (`node_start_retry` events). When every attempt failed it flattens the
  instrument at the venue if the node's cache (Redis, as the last session left it) holds open
  positions, journals `node_start_failed`, alerts (`START_FAILED`) and raises OperationalError
  (exit 7) with the reason.

`bot status` reads these events (`bot.engine.node_state`): "starting", "running", "failed to
start", "stopped".
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bot.core.alerts import START_FAILED, notifier
from bot.core.errors import OperationalError
from bot.core.settings import Secrets, Settings
from bot.engine.journal import Journal

NODE_RUNNING_EVENT = "node_running"
NODE_START_RETRY_EVENT = "node_start_retry"
NODE_START_FAILED_EVENT = "node_start_failed"
POLL_S = 0.5


@dataclass(frozen=True)
class Attempt:
    """How one start of a node ended."""

    timed_out: bool  # the watchdog stopped it: the trader never ran
    open_positions: int  # positions the node's cache held open (loaded from Redis, reconciled)


class StartupWatch:
    """Watches a built node, run as `task` (`node.run_async()`) on `loop`: `on_running()` once
    its trader runs, or a stop of the node, then a cancel of `task` (and `timed_out`), when it
    does not within `timeout_s`. A node stopped through `stop()` (SIGINT, SIGTERM,
    `--duration-s`) is no failure."""

    def __init__(
        self,
        node,
        loop: asyncio.AbstractEventLoop,
        task: asyncio.Task,
        timeout_s: float,
        on_running: Callable[[], None],
    ) -> None:
        self.timed_out = False
        self.stopped = False
        self._node, self._loop, self._task, self._on_running = node, loop, task, on_running
        self._deadline = loop.time() + timeout_s
        loop.call_soon(self._check)

    def stop(self) -> None:
        """An operator's stop (SIGINT, SIGTERM, `--duration-s`): the node stops and its run
        ends, even before its trader runs; never a failed start, so it is not started again."""
        if self.stopped:
            return
        self.stopped = True
        if self.timed_out:  # the watchdog's stop is under way: the operator's only ends retries
            self.timed_out = False
            return
        self._stop_then_cancel()

    def _check(self) -> None:
        if self.stopped:
            return
        if self._node.trader.is_running:
            self._on_running()
            return
        if self._loop.time() >= self._deadline:
            self.timed_out = True
            self._stop_then_cancel()
            return
        self._loop.call_later(POLL_S, self._check)

    def _stop_then_cancel(self) -> None:
        # The kernel's start-up keeps waiting for its clients (a minute) after a stop: the
        # run is cancelled once the stop is done.
        stopping = self._loop.create_task(self._node.stop_async())
        stopping.add_done_callback(lambda _: self._task.cancel())


def start_with_retries(
    try_start: Callable[[int], Attempt],
    settings: Settings,
    secrets: Secrets,
    *,
    run_id: str,
    venue: str,
    mode: str,
    symbol: str,
    flatten: Callable[[], Any],
    echo: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Call `try_start(number)` (1-based) until an attempt does not time out, at most
    `[risk] startup_attempts` times; then flatten, journal, alert and raise OperationalError.

    `flatten()` closes the symbol's position on the `mode` ("paper" or "live") account at the
    venue, straight through its API (the application passes the venue's, as `bot flatten` uses)
    and returns what it did."""
    risk = settings.risk
    attempts = risk.startup_attempts
    for number in range(1, attempts + 1):
        attempt = try_start(number)
        if not attempt.timed_out:
            return
        if number < attempts:
            wait = min(risk.backoff_initial_s * 2 ** (number - 1), risk.backoff_max_s)
            record_event(
                settings, run_id, NODE_START_RETRY_EVENT, {"attempt": number, "wait_s": wait}
            )
            echo(
                f"Start-up attempt {number} of {attempts} failed: the trader was not running "
                f"{risk.startup_timeout_s:g} s after the start; retrying in {wait:g} s."
            )
            sleep(wait)
    reason = (
        f"the node did not start: its trader was not running {risk.startup_timeout_s:g} s after "
        f"the start, in each of {attempts} attempts (the {venue} clients did not connect, or "
        "start-up reconciliation failed: the node's log names the request)"
    )
    command = f"bot flatten --venue {venue} --symbol {symbol} --{mode} --confirm"
    flattened = _flatten(flatten, command) if attempt.open_positions else None
    details: dict[str, Any] = {"reason": reason, "attempts": attempts}
    if flattened is not None:
        details["flatten"] = flattened
    record_event(settings, run_id, NODE_START_FAILED_EVENT, details)
    alerts = notifier(secrets)
    alerts.send(START_FAILED, f"Session {run_id} on {venue} {symbol}: {reason}", details)
    if hasattr(alerts, "flush"):
        alerts.flush()
    more = f" Open positions: {flattened}." if flattened else ""
    raise OperationalError(
        f"The {symbol} node on {venue} exits: {reason}.{more} Check the venue's status and the "
        "network, then start it again (runbooks/05-crash-recovery.md)."
    )


def record_event(settings: Settings, run_id: str, kind: str, payload: dict[str, Any]) -> None:
    """Journal one start-up event of session `run_id`."""
    with Journal(settings.journal.path) as journal:
        journal.record_event(run_id, pd.Timestamp.now(tz="UTC"), kind, payload)


def _flatten(flatten: Callable[[], Any], command: str) -> str:
    # The kill switch's flatten, straight through the venue's API (as `bot flatten`): a node that
    # cannot start leaves nothing unmanaged at the venue when the venue lets us close it.
    try:
        done = flatten()
    except Exception as error:  # the venue may be down: say so, and what to do
        return (
            f"NOT flattened ({type(error).__name__}: {error}); run `{command}` once the venue "
            "answers"
        )
    return f"flattened at the venue ({done.cancelled} orders cancelled, {done.closed_qty:g} closed)"
