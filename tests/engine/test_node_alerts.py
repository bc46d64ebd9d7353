"""Alerts from a live node on the fake Binance futures API, received by a local webhook: the
kill switch, stale data, and a storm of router fallbacks."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.model.router_model import RouterModel
from tests.fakes.binance import FakeBinance
from tests.fakes.waiting import kline_around, wait_for
from tests.support.alert_receiver import alert_receiver
from tests.support.binance_node import push_closed_klines, running, venue_qty

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHIPPED = "model:models/daily-equities"


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """The alerts received; requested before `node`, whose secrets then carry the URL."""
    with alert_receiver() as (url, received):
        monkeypatch.setenv("BOT_ALERT_WEBHOOK_URL", url)
        yield received


def _kinds(received: list[dict]) -> list[str]:
    return [alert["kind"] for alert in received]


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "router.policy": "fixed",
            "router.weights": {"LongOnly": 0.5, "Cash": 0.5},
            "risk.max_drawdown": 0.1,
        }
    ],
)
def test_a_kill_switch_trip_alerts_once(webhook, binance: FakeBinance, node) -> None:
    # Act: a long position, then a 29% crash on the next minute's bar (a bar again for a minute
    # already seen is dropped, so the crash must come on a new one).
    with running(node, binance):
        push_closed_klines(binance, [42_000.0, 42_010.0])
        wait_for(lambda: venue_qty(binance) > 0, 10, "the long fill")
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        binance.push_kline("BTCUSDT", minute, kline_around(30_000.0))
        wait_for(lambda: "kill_switch" in _kinds(webhook), 10, "the kill-switch alert")
        time.sleep(1.0)

    # Assert
    assert _kinds(webhook) == ["kill_switch"]
    assert "max_drawdown 10.0%" in webhook[0]["message"] and webhook[0]["details"]["equity"] > 0


@pytest.mark.parametrize("overrides", [{"risk.stale_after_bars": 0.05}])  # 3 s of 1-minute bars
def test_bars_that_stop_coming_alert_once_and_again_after_they_resume(
    webhook, binance: FakeBinance, node
) -> None:
    # Act: one bar, then silence; one more bar, then silence again.
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    with running(node, binance):
        binance.push_kline("BTCUSDT", minute - timedelta(minutes=2), kline_around(42_000.0))
        wait_for(lambda: "stale_data" in _kinds(webhook), 15, "the stale-data alert")
        binance.push_kline("BTCUSDT", minute - timedelta(minutes=2), kline_around(42_000.0))
        time.sleep(4.0)  # more timer ticks, and the same bar again: no second alert
        quiet = list(webhook)
        binance.push_kline("BTCUSDT", minute - timedelta(minutes=1), kline_around(42_001.0))
        wait_for(lambda: len(webhook) == 2, 15, "the second stale-data alert")

    # Assert
    assert _kinds(quiet) == ["stale_data"]
    assert _kinds(webhook) == ["stale_data", "stale_data"]
    assert "new orders are stopped" in webhook[0]["message"]


@pytest.mark.parametrize("overrides", [{"router.policy": SHIPPED, "router.window": 1}])
def test_three_fallbacks_in_a_row_alert_once(
    webhook, binance: FakeBinance, node, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: the shipped model loads (a model that does not would refuse the node's start),
    # then fails at every decision.
    def failing(self, observation):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(RouterModel, "decide", failing)

    # Act: five decisions, each falling back to uniform.
    with running(node, binance):
        push_closed_klines(binance, [42_000.0, 42_001.0, 42_002.0, 42_003.0, 42_004.0])
        wait_for(lambda: "fallback_storm" in _kinds(webhook), 15, "the fallback-storm alert")
        time.sleep(1.0)

    # Assert
    storms = [a for a in webhook if a["kind"] == "fallback_storm"]
    assert len(storms) == 1
    assert "fell back 3 decisions in a row" in storms[0]["message"]
    assert storms[0]["details"] == {
        "policy": SHIPPED,
        "fallback": "uniform",
    }
