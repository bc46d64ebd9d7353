"""`bot status` against a running `bot paper` node on the fake Binance futures API, then after
it stopped; and the kill switch as status shows it once tripped."""

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from bot.app.status import format_status
from bot.engine.journal import Journal, RunRecord
from bot.engine.node_state import CacheState, Session, latest_session
from bot.engine.persistence import NODE_STARTED_EVENT
from bot.engine.router_journal import ACCOUNT_EVENT, HELD_BACK_EVENT
from strategies import strategy_names
from tests.fakes.waiting import kline_around, wait_for
from tests.support.cli import KLINES, ROOT, bot_env, serve_binance

PAPER = ["paper", "--venue", "binance", "--symbol", "BTCUSDT", "--bar", "1m"]


def _status(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", "status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _venue_qty(binance) -> float:
    return binance.hub.call(lambda: binance.futures.book.position("BTCUSDT").qty)


def _trades(binance) -> int:
    return binance.hub.call(lambda: len(binance.futures.trades))


@pytest.mark.e2e
@pytest.mark.slow
def test_status_of_a_running_then_stopped_paper_node(persistence_env, tmp_path: Path) -> None:
    # Arrange: a paper node that traded two warm strategies on two closed klines.
    with serve_binance() as binance:
        env = bot_env(binance) | persistence_env
        log = (tmp_path / "paper.log").open("w")
        node = subprocess.Popen(
            [sys.executable, "-m", "bot", *PAPER], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            wait_for(lambda: binance.hub.listening(KLINES) > 0, 40, "the kline subscription")
            minute = datetime.now(UTC).replace(second=0, microsecond=0)
            for n, close in enumerate([42_000.0, 42_010.0]):
                binance.push_kline(
                    "BTCUSDT", minute - timedelta(minutes=2 - n), kline_around(close)
                )
            wait_for(lambda: len(binance.requests_to("/fapi/v1/order")) >= 2, 15, "two orders")
            wait_for(lambda: _venue_qty(binance) == 0 and _trades(binance) == 2, 10, "two fills")

            # Act
            running = _status(env)
            node.send_signal(signal.SIGINT)
            node.wait(timeout=30)
            stopped = _status(env)
        finally:
            if node.poll() is None:
                node.kill()
            log.close()

    # Assert
    assert running.returncode == 0, running.stderr[-3000:]
    out = running.stdout
    assert "paper on binance, BTCUSDT 1m bars, policy uniform" in out
    assert f"Node: running (pid {node.pid})" in out
    assert "Equity: 100,0" in out and "close 42,010.00" in out
    assert "(fresh;" in out
    assert "Kill switch: armed" in out
    assert "Router: last decision" in out and "by uniform; 1 decisions, 0 fell back" in out
    assert "Weights: MACross 0.09" in out
    assert "node_started: host=" in out and f"pid={node.pid}, trader_id=MMDREX-PAPER" in out
    positions = [
        text.split("Positions")[1].split("Last events")[0] for text in (out, stopped.stdout)
    ]
    rows = {line.split()[0]: line.split() for line in positions[0].strip().splitlines()[2:]}
    assert float(rows["LongOnly"][1]) == -float(rows["ShortOnly"][1]) > 0
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert "Node: stopped" in stopped.stdout
    assert positions[0] == positions[1]
    assert "node_stopped" in stopped.stdout


def test_a_tripped_kill_switch_and_stale_data_are_shown() -> None:
    # Arrange
    run = RunRecord("r1", "live", "BTCUSDT", "1m", "uniform", {"risk": {"stale_after_bars": 5.0}})
    empty = pd.DataFrame()
    session = Session(run, "binance", "MMDREX-LIVE", 123, "gone", empty, empty, empty)
    tripped = {
        "reason": "drawdown 12.0% from the peak 100,000.00 reached max_drawdown 10.0%",
        "tripped_at": "2026-12-01T10:00:00+00:00",
        "peak": 100_000.0,
    }
    at = int(pd.Timestamp("2026-12-01T10:00:00Z").value)
    last_bar = {"ts": at, "close": 30_000.0, "equity": 88_000.0}
    cache = CacheState([], [], [], {}, {"kill_switch": tripped, "last_bar": last_bar})

    # Act
    text = format_status(session, cache, datetime(2026, 12, 1, 10, 30, tzinfo=UTC))

    # Assert
    assert "Node: gone (pid 123)" in text
    assert "Kill switch: TRIPPED at 2026-12-01T10:00:00+00:00: drawdown 12.0%" in text
    assert "Equity: 88,000.00 at the last bar" in text
    assert "30.0 min ago (STALE: no new orders; stale after 5 min)" in text
    assert "Router: no decision yet" in text and "  none" in text
    assert "Last events (of 0):" in text


def test_a_redis_holding_nothing_of_a_session_that_decided_leaves_its_state_unknown() -> None:
    # Arrange: the session journalled a decision, but Redis holds nothing for its trader.
    run = RunRecord("r1", "live", "BTCUSDT", "1m", "uniform", {})
    decisions = pd.DataFrame(
        {"policy": ["uniform"], "fallback": [False], "error": [None], "regime": [None]}
        | {"experts": [{"trend": 1.0}], "weights": [dict.fromkeys(strategy_names(), 0.1)]},
        index=pd.to_datetime(["2026-12-01T10:00:00Z"]),
    )
    empty = pd.DataFrame()
    session = Session(run, "binance", "MMDREX-LIVE", 1, "gone", decisions, empty, empty)

    # Act
    text = format_status(
        session, CacheState([], [], [], {}, {}), datetime(2026, 12, 1, 11, tzinfo=UTC)
    )

    # Assert
    assert "Redis: no state for trader MMDREX-LIVE, though this session journalled 1" in text
    assert "persistence.redis_host" in text
    assert "Kill switch: armed" not in text and "no bar seen yet" not in text
    assert "unknown (see Redis above)" in text
    assert "Router: last decision 2026-12-01 10:00:00 UTC by uniform" in text  # the journal's


def _status_with_last_bar_at(stamp: str, now: datetime) -> str:
    run = RunRecord("r1", "paper", "BTCUSDT", "1m", "uniform", {"risk": {"stale_after_bars": 5.0}})
    empty = pd.DataFrame()
    session = Session(run, "binance", "MMDREX-001", 123, "running", empty, empty, empty)
    last_bar = {"ts": int(pd.Timestamp(stamp).value), "close": 30_000.0, "equity": 100_000.0}
    return format_status(session, CacheState([], [], [], {}, {"last_bar": last_bar}), now)


def test_a_bar_stamped_in_the_future_is_flagged_as_a_clock_problem() -> None:
    # Arrange
    now = datetime(2026, 12, 1, 10, 0, 6, tzinfo=UTC)

    # Act
    future = _status_with_last_bar_at("2026-12-01T10:30:00Z", now)
    skewed = _status_with_last_bar_at("2026-12-01T10:00:09Z", now)  # within the tolerance

    # Assert
    assert "29.9 min in the future (CLOCK PROBLEM" in future
    assert "fresh" not in future and "min ago" not in future
    assert "0.0 min ago (fresh; stale after 5 min)" in skewed


def test_last_events_leave_out_the_account_line_journalled_at_every_decision() -> None:
    # Arrange: a kill switch trip followed by nine decisions' account lines.
    run = RunRecord("r1", "live", "BTCUSDT", "1m", "model:m", {})
    stamps = pd.date_range("2026-12-01T10:00:00Z", periods=10, freq="min")
    events = pd.DataFrame(
        {
            "ts": stamps,
            "kind": ["kill_switch", *[ACCOUNT_EVENT] * 9],
            "payload": [{"reason": "drawdown"}, *[{"cash": 1.0}] * 9],
        }
    )
    session = Session(run, "binance", "MMDREX-LIVE", 1, "running", pd.DataFrame(), pd.DataFrame(),
                      events)  # fmt: skip

    # Act
    text = format_status(
        session, CacheState([], [], [], {}, {}), datetime(2026, 12, 1, 11, tzinfo=UTC)
    )

    # Assert
    assert "Last events (of 1):" in text and "kill_switch: reason=drawdown" in text
    assert ACCOUNT_EVENT not in text


def test_a_strategy_held_back_says_why_until_it_fills_again() -> None:
    # Arrange: LongOnly held back at 10:00 and never filled since; MACross held back, then filled.
    run = RunRecord("r1", "paper", "BTCUSDT", "1m", "uniform", {})
    reason = "order of 0.001 not sent: notional 42.00 is below the venue's minimum 100 USDT"
    events = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2026-12-01T10:00:00Z", "2026-12-01T10:01:00Z"]),
            "kind": [HELD_BACK_EVENT, HELD_BACK_EVENT],
            "payload": [{"strategy": name, "reason": reason} for name in ("LongOnly", "MACross")],
        }
    )
    fills = pd.DataFrame({"ts": pd.to_datetime(["2026-12-01T10:05:00Z"]), "strategy": ["MACross"]})
    session = Session(run, "binance", "MMDREX-PAPER", 1, "running", pd.DataFrame(), fills, events)

    # Act
    now = datetime(2026, 12, 1, 11, tzinfo=UTC)
    text = format_status(session, CacheState([], [], [], {}, {}), now)

    # Assert
    assert f"Held back: LongOnly since 2026-12-01 10:00:00 UTC: {reason}" in text
    assert "Held back: MACross" not in text


def test_an_earlier_session_whose_trader_a_later_one_reused_leaves_its_state_unknown(
    tmp_path: Path,
) -> None:
    # Arrange: two paper sessions of trader MMDREX-001, then a live one of another trader.
    with Journal(tmp_path / "journal.sqlite") as journal:
        for n, (run_id, mode, trader) in enumerate(
            [("p1", "paper", "MMDREX-001"), ("p2", "paper", "MMDREX-001"), ("l1", "live", "L-1")]
        ):
            journal.start_run(RunRecord(run_id, mode, "BTCUSDT", "1m", "uniform", {}))
            journal.record_event(run_id, n, NODE_STARTED_EVENT, {"trader_id": trader})

        # Act
        earlier, later = latest_session(journal, "p1"), latest_session(journal, "p2")
    text = format_status(
        earlier, CacheState([], [], [], {}, {"last_bar": {"ts": 1, "equity": 1e5, "close": 1.0}}),
        datetime(2026, 12, 1, 11, tzinfo=UTC),
    )  # fmt: skip

    # Assert: Redis holds p2's state, which is not p1's.
    assert (earlier.superseded_by, later.superseded_by) == ("p2", None)
    assert "Redis: the state of trader MMDREX-001 there is the later session p2's" in text
    assert "unknown (see Redis above)" in text and "Equity" not in text
