"""The live TradingNode from `bot.engine.node` against the fake Binance USDT-M futures API: it
loads the
instrument, subscribes to the kline stream, turns closed klines into bars that reach the router
actor and every strategy, and stops cleanly."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nautilus_trader.live.node import TradingNode

from bot.engine.journal import Journal
from bot.engine.risk import KILL_SWITCH_EVENT, RiskGuard
from tests.fakes.binance import FakeBinance
from tests.fakes.waiting import kline_around, wait_for
from tests.support.binance_node import (
    components,
    push_closed_klines,
    running,
    submits,
    venue_qty,
)

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_node_loads_the_instrument_streams_bars_to_every_component_and_stops(
    binance: FakeBinance, node: TradingNode
) -> None:
    # Arrange
    actor, strategies = components(node)
    bar_type = actor.config.bar_type

    # Act
    with running(node, binance) as runner:
        push_closed_klines(binance, [42_000.0, 42_001.0, 42_002.0])
        wait_for(lambda: len(actor.recorder.equity) >= 3, 10, "three bars at the router actor")
        time.sleep(0.3)  # room for a wrongly accepted unclosed kline to arrive

    # Assert
    assert str(bar_type) == "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"
    assert node.cache.instrument(bar_type.instrument_id) is not None
    assert len(strategies) == 11
    bars = node.cache.bars(bar_type)
    assert [bar.close.as_double() for bar in reversed(bars)] == [42_000.0, 42_001.0, 42_002.0]
    assert len(actor.recorder.equity) == 3
    assert len(actor.recorder.decisions) == 2  # window 2: on the first bar and the third
    assert all(s.failure is None for s in strategies), [s.failure for s in strategies]
    # one bar window shared by the strategies, as deep as the deepest warm-up
    deepest = max(s.config.warmup_bars for s in strategies)
    assert {len(s.window) for s in strategies} == {min(3, deepest)}
    assert not runner.is_alive()
    assert node.get_event_loop().is_closed()


@pytest.mark.slow
def test_warm_strategies_orders_fill_at_the_fake_and_net_to_its_position(
    binance: FakeBinance, node: TradingNode
) -> None:
    # Arrange: with uniform weights only the one-bar strategies are warm after two bars.
    actor, strategies = components(node)
    by_name = {s.name: s for s in strategies}

    def held(name: str) -> float:
        positions = node.cache.positions_open(strategy_id=by_name[name].id)
        return sum(p.signed_qty for p in positions)

    # Act
    with running(node, binance):
        push_closed_klines(binance, [42_000.0, 42_010.0])
        wait_for(lambda: held("LongOnly") > 0 and held("ShortOnly") < 0, 10, "both fills")
        venue = venue_qty(binance)

    # Assert
    assert held("LongOnly") == pytest.approx(-held("ShortOnly"))
    assert venue == pytest.approx(sum(held(name) for name in by_name))
    assert [r.status for r in submits(binance)] == [200, 200]
    assert all(held(name) == 0 for name in by_name if name not in ("LongOnly", "ShortOnly"))


@pytest.mark.slow
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
def test_kill_switch_flattens_at_the_fake_refuses_new_orders_and_is_journalled(
    binance: FakeBinance, node: TradingNode, journal_path: Path
) -> None:
    # Arrange: half the capital long through LongOnly, so a 29% crash costs about 15%.
    _, strategies = components(node)
    long_only = next(s for s in strategies if s.name == "LongOnly")
    guard = next(a for a in node.trader.actors() if isinstance(a, RiskGuard))

    # Act
    with running(node, binance):
        push_closed_klines(binance, [42_000.0, 42_010.0])
        wait_for(lambda: venue_qty(binance) > 0, 10, "the long fill")
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        binance.push_kline("BTCUSDT", minute, kline_around(30_000.0))  # a 29% crash closes
        wait_for(lambda: guard.halted and venue_qty(binance) == 0, 10, "the flatten")
        after_flatten = len(submits(binance))
        binance.push_kline("BTCUSDT", minute + timedelta(minutes=1), kline_around(42_000.0))
        time.sleep(1.0)  # room for a strategy to try again

    # Assert
    assert venue_qty(binance) == 0
    assert not node.cache.positions_open(strategy_id=long_only.id)
    assert len(submits(binance)) == after_flatten == 2  # the buy and the closing sell, no more
    with Journal(journal_path) as journal:
        run_id = journal.latest_run().run_id
        trips = journal.events(run_id, KILL_SWITCH_EVENT)
        fills = journal.fills(run_id)
    assert len(trips) == 1
    assert "max_drawdown 10.0%" in trips["payload"].iloc[0]["reason"]
    assert fills["side"].tolist() == ["BUY", "SELL"]  # the live router journals fills too
