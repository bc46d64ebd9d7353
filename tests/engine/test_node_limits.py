"""The venue's limits, made visible at the fake Binance USDT-M futures API: a 429 burst is
logged with Binance's own words, counted for the metrics and alerted when it opens the circuit
breaker; an order below the instrument's MIN_NOTIONAL is never sent (no -4164) and the reason
is logged and counted."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nautilus_trader.live.node import TradingNode

from bot.app.monitoring import NodeMetrics
from bot.core.alerts import RATE_LIMIT
from bot.engine.journal import Journal
from bot.engine.risk import RiskGuard
from bot.engine.router_journal import HELD_BACK_EVENT
from tests.fakes.binance import FakeBinance
from tests.fakes.faults import FaultPlan, HttpFault
from tests.fakes.waiting import kline_around, wait_for
from tests.support.binance_node import (
    ORDER,
    components,
    held,
    push_closed_klines,
    running,
    submits,
)

pytestmark = pytest.mark.integration

VENUE_WORDS = "Too much request weight used"


class _Recorded:
    def __init__(self) -> None:
        self.alerts: list[tuple[str, str]] = []

    def send(self, kind, message, details=None) -> None:
        self.alerts.append((kind, message))


def _guard(node: TradingNode) -> RiskGuard:
    return next(a for a in node.trader.actors() if isinstance(a, RiskGuard))


def _metric(node: TradingNode, name: str) -> dict[tuple, float]:
    router = components(node)[0]
    family = next(f for f in NodeMetrics(router, _guard(node)).collect() if f.name == name)
    return {tuple(s.labels.values()): s.value for s in family.samples if s.name.endswith("_total")}


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        {
            "router.policy": "fixed",
            "router.weights": {"LongOnly": 0.5, "Cash": 0.5},
            "risk.backoff_initial_s": 0.5,
        }
    ],
)
def test_a_429_burst_is_logged_with_the_venues_words_counted_and_alerted(
    binance: FakeBinance, faults: FaultPlan, node: TradingNode
) -> None:
    # Arrange: the first two submits are throttled, each after the breaker closed again.
    faults.http.append(HttpFault(429, path=ORDER, times=2))
    recorded = _Recorded()
    _guard(node).notifier = recorded
    long_only = next(s for s in components(node)[1] if s.name == "LongOnly")

    # Act
    with running(node, binance):
        push_closed_klines(binance, [42_000.0])
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        deadline = time.monotonic() + 20
        while held(node, long_only) == 0 and time.monotonic() < deadline:
            time.sleep(0.7)  # LongOnly, still flat, tries again on every new bar
            binance.push_kline("BTCUSDT", minute, kline_around(42_010.0))
            minute += timedelta(minutes=1)
        wait_for(lambda: held(node, long_only) > 0, 10, "the fill after the throttling")
        counted = _metric(node, "bot_rate_limited")
        throttled = dict(_guard(node).throttled)
        words = dict(_guard(node).throttle_words)

    # Assert
    assert [r.status for r in submits(binance)].count(429) == 2
    assert throttled == {("BINANCE", 429): 2}
    assert counted == {("BINANCE", "429"): 2.0}
    rate_alerts = [message for kind, message in recorded.alerts if kind == RATE_LIMIT]
    assert len(rate_alerts) == 2 and all(VENUE_WORDS in m for m in rate_alerts)
    # The words the client logged each 429 with (nautilus' Rust logger is set up once per
    # process, so a test cannot rely on reading the log itself).
    assert VENUE_WORDS in words[("BINANCE", 429)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    # 0.0005 of the fake's 100,000 USDT is 50 USDT: below BTCUSDT-PERP's MIN_NOTIONAL of 100.
    [{"router.policy": "fixed", "router.weights": {"LongOnly": 0.0005, "Cash": 0.9995}}],
)
def test_an_order_below_min_notional_is_never_sent_and_the_reason_is_logged(
    binance: FakeBinance, node: TradingNode, journal_path: Path
) -> None:
    # Arrange
    long_only = next(s for s in components(node)[1] if s.name == "LongOnly")

    # Act
    with running(node, binance):
        # Held back on each bar; the router journals it on the second, not again on the third.
        push_closed_klines(binance, [42_000.0, 42_005.0])
        wait_for(lambda: long_only.below_minimum >= 2, 15, "the order held back")
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        binance.push_kline("BTCUSDT", minute, kline_around(42_010.0))
        wait_for(lambda: long_only.below_minimum >= 3, 15, "the third bar")
        time.sleep(1.0)
        counted = _metric(node, "bot_orders_below_venue_minimum")

    # Assert
    assert submits(binance) == []  # nothing sent, so no -4164 rejection either
    assert held(node, long_only) == 0
    assert counted[("LongOnly",)] >= 1
    assert "below the venue's minimum 100" in long_only.held_back  # the reason it logged
    with Journal(journal_path) as journal:
        held_back = journal.events(journal.latest_run().run_id, HELD_BACK_EVENT)["payload"]
    # Journalled once for `bot status`, although later bars held it back again.
    assert [p["strategy"] for p in held_back] == ["LongOnly"]
    assert "below the venue's minimum 100" in held_back.iloc[0]["reason"]
