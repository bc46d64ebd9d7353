"""The start-up watchdog's retries (`bot.engine.startup.start_with_retries`): a node whose every
attempt timed out is retried with doubling waits, then flattened at the venue when it held open
positions (and only then), journalled (`node_start_retry`, `node_start_failed`), alerted and
ended with an OperationalError that names the flatten's outcome; a flatten that raises leaves
the `bot flatten` command to run instead."""

from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapters.checks import Flattened
from bot.core.alerts import START_FAILED
from bot.core.errors import OperationalError
from bot.core.settings import Settings
from bot.core.settings_loader import LoadedSettings, load_settings
from bot.engine.journal import Journal, RunRecord
from bot.engine.startup import (
    NODE_START_FAILED_EVENT,
    NODE_START_RETRY_EVENT,
    Attempt,
    start_with_retries,
)

RUN_ID = "run-startup"


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedSettings:
    cli = {
        "journal.path": str(tmp_path / "journal.sqlite"),
        "risk.startup_attempts": 3,
        "risk.startup_timeout_s": 5.0,
        "risk.backoff_initial_s": 2.0,
        "risk.backoff_max_s": 3.0,
    }
    loaded = load_settings(cli=cli, environ={})  # no webhook: alerts go to the log
    with Journal(loaded.settings.journal.path) as journal:  # the session the node started
        journal.start_run(RunRecord(RUN_ID, "paper", "BTCUSDT", "1m", "uniform"))
    return loaded


class _Venue:
    """A recording stand-in for the venue's flatten."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls = 0
        self.error = error

    def flatten(self) -> Flattened:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return Flattened(venue="BINANCE", symbol="BTCUSDT", cancelled=2, closed_qty=0.5)


def _failing(open_positions: int, tried: list[int]) -> Callable[[int], Attempt]:
    def try_start(number: int) -> Attempt:
        tried.append(number)
        return Attempt(timed_out=True, open_positions=open_positions)

    return try_start


def _start(loaded: LoadedSettings, try_start, venue: _Venue, slept: list[float]) -> None:
    start_with_retries(
        try_start,
        loaded.settings,
        loaded.secrets,
        run_id=RUN_ID,
        venue="BINANCE",
        mode="live",
        symbol="BTCUSDT",
        flatten=venue.flatten,
        echo=lambda line: None,
        sleep=slept.append,
    )


def _events(settings: Settings, kind: str) -> list[dict]:
    with Journal(settings.journal.path) as journal:
        return list(journal.events(RUN_ID, kind)["payload"])


def test_a_node_that_starts_on_a_retry_runs_without_flattening(loaded: LoadedSettings) -> None:
    # Arrange
    tried: list[int] = []
    slept: list[float] = []
    venue = _Venue()

    def try_start(number: int) -> Attempt:
        tried.append(number)
        return Attempt(timed_out=number == 1, open_positions=1)

    # Act
    _start(loaded, try_start, venue, slept)

    # Assert
    assert tried == [1, 2]
    assert slept == [2.0]
    assert _events(loaded.settings, NODE_START_RETRY_EVENT) == [{"attempt": 1, "wait_s": 2.0}]
    assert _events(loaded.settings, NODE_START_FAILED_EVENT) == []
    assert venue.calls == 0


def test_every_attempt_timing_out_with_open_positions_flattens_journals_and_alerts(
    loaded: LoadedSettings,
) -> None:
    # Arrange
    tried: list[int] = []
    slept: list[float] = []
    venue = _Venue()

    # Act
    with capture_logs() as logs, pytest.raises(OperationalError) as raised:
        _start(loaded, _failing(1, tried), venue, slept)

    # Assert
    assert tried == [1, 2, 3]
    assert slept == [2.0, 3.0]  # doubling, capped at backoff_max_s
    retries = _events(loaded.settings, NODE_START_RETRY_EVENT)
    assert retries == [{"attempt": 1, "wait_s": 2.0}, {"attempt": 2, "wait_s": 3.0}]
    [failed] = _events(loaded.settings, NODE_START_FAILED_EVENT)
    done = "flattened at the venue (2 orders cancelled, 0.5 closed)"
    assert failed["attempts"] == 3 and failed["flatten"] == done
    assert "not running 5 s after the start, in each of 3 attempts" in failed["reason"]
    assert venue.calls == 1
    assert done in str(raised.value) and "BTCUSDT node on BINANCE exits" in str(raised.value)
    [alert] = [entry for entry in logs if entry["event"] == "ALERT"]
    assert alert["kind"] == START_FAILED and alert["flatten"] == done
    assert RUN_ID in alert["message"] and "BINANCE BTCUSDT" in alert["message"]


def test_a_flatten_that_raises_reports_not_flattened_with_the_command(
    loaded: LoadedSettings,
) -> None:
    # Arrange
    venue = _Venue(ConnectionError("venue unreachable"))

    # Act
    with capture_logs(), pytest.raises(OperationalError) as raised:
        _start(loaded, _failing(2, []), venue, [])

    # Assert
    command = "`bot flatten --venue BINANCE --symbol BTCUSDT --live --confirm`"
    [failed] = _events(loaded.settings, NODE_START_FAILED_EVENT)
    assert failed["flatten"].startswith("NOT flattened (ConnectionError: venue unreachable)")
    assert command in failed["flatten"]
    assert "NOT flattened (ConnectionError: venue unreachable)" in str(raised.value)
    assert command in str(raised.value)
    assert venue.calls == 1


def test_no_open_positions_means_no_flatten(loaded: LoadedSettings) -> None:
    # Arrange
    tried: list[int] = []
    venue = _Venue()

    # Act
    with capture_logs() as logs, pytest.raises(OperationalError) as raised:
        _start(loaded, _failing(0, tried), venue, [])

    # Assert
    assert tried == [1, 2, 3]
    assert venue.calls == 0
    [failed] = _events(loaded.settings, NODE_START_FAILED_EVENT)
    assert "flatten" not in failed and failed["attempts"] == 3
    assert "Open positions" not in str(raised.value) and "flatten" not in str(raised.value)
    [alert] = [entry for entry in logs if entry["event"] == "ALERT"]
    assert alert["kind"] == START_FAILED and "flatten" not in alert
