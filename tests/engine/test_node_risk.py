"""The risk guard at the fake Binance USDT-M futures API: a fill that lands after the kill switch
tripped is closed, once, and the node stays halted; a kill switch whose journal write fails
still flattens; a position worth more than
`risk.max_order_notional` can still be closed when its strategy fails; a failed strategy whose
close the venue rejected tries again on the next bar until it is flat.

One strategy trades (LongOnly), so every order at the fake is its own or the guard's."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import OrderStatus

from bot.engine.journal import Journal
from bot.engine.policy import Decision, PolicySpec, complete, expert_weights
from bot.engine.risk import KILL_SWITCH_TAG, RiskGuard
from strategies.base import RoutedStrategy
from tests.fakes.binance import FakeBinance
from tests.fakes.faults import DelayedFill, FaultPlan, OrderReject
from tests.fakes.waiting import kline_around, wait_for
from tests.support import binance_node
from tests.support.binance_node import (
    LONG_ONLY,
    components,
    held,
    push_closed_klines,
    running,
    submits,
    venue_qty,
)

pytestmark = pytest.mark.integration

STEP = {"router.policy": "model:/step", "router.window": 1, "risk.max_drawdown": 0.05}


class _Step:
    """LongOnly at a quarter of the capital on the first decision, half from the second on."""

    name = "model:/step"
    needs_observation, needs_context = False, True

    def __init__(self) -> None:
        self.calls = 0

    def decide(self, observation=None, context=None) -> Decision:
        self.calls += 1
        share = 0.25 if self.calls == 1 else 0.5
        weights = complete({"LongOnly": share, "Cash": 1.0 - share})
        return Decision(weights, expert_weights(weights), self.name)


@pytest.fixture(autouse=True)
def _step_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The `node` fixture loads model policies through this name: `model:/step` is `_Step`.
    real = binance_node.load_policy

    def load(spec: PolicySpec):
        return _Step() if spec.name == _Step.name else real(spec)

    monkeypatch.setattr(binance_node, "load_policy", load)


def _long_only(node: TradingNode) -> RoutedStrategy:
    return next(s for s in components(node)[1] if s.name == "LongOnly")


def _guard(node: TradingNode) -> RiskGuard:
    return next(a for a in node.trader.actors() if isinstance(a, RiskGuard))


def _fail_holding(
    binance: FakeBinance, node: TradingNode, strategy: RoutedStrategy, close: float
) -> datetime:
    """`strategy` fills on a first bar, then raises on the next (closing at `close`, the
    minute returned)."""
    push_closed_klines(binance, [42_000.0])
    wait_for(lambda: held(node, strategy) > 0, 10, "the first fill")

    def boom(window):
        raise RuntimeError("bug in the strategy (simulated)")

    strategy.decide = boom
    minute = _minute()
    binance.push_kline("BTCUSDT", minute, kline_around(close))
    return minute


def _minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [STEP])
@pytest.mark.parametrize("faults", [FaultPlan(delayed_fills=[DelayedFill(delay_s=2.0, nth=2)])])
def test_a_fill_that_lands_after_the_kill_switch_tripped_is_closed_once_and_trading_stays_halted(
    binance: FakeBinance, node: TradingNode
) -> None:
    # Arrange: LongOnly holds a quarter of the capital, then adds a quarter on the next bar; the
    # add fills at the venue at once but is reported 2 s late, after a crash bar trips the kill
    # switch (max_drawdown 5%).
    long_only, guard = _long_only(node), _guard(node)

    # Act
    with running(node, binance):
        push_closed_klines(binance, [42_000.0])
        wait_for(lambda: held(node, long_only) > 0, 10, "the first fill")
        minute = _minute()
        binance.push_kline("BTCUSDT", minute, kline_around(42_010.0))
        wait_for(lambda: len(node.cache.orders(strategy_id=long_only.id)) == 2, 10, "the add")
        add = node.cache.orders(strategy_id=long_only.id)[1]
        wait_for(lambda: add.status == OrderStatus.ACCEPTED, 10, "the add accepted")
        binance.push_kline("BTCUSDT", minute + timedelta(minutes=1), kline_around(30_000.0))
        wait_for(lambda: guard.halted, 10, "the trip")
        add_at_trip = add.status
        wait_for(lambda: add.status == OrderStatus.FILLED, 10, "the late fill")
        wait_for(lambda: venue_qty(binance) == 0, 10, "the venue flat again")
        time.sleep(0.5)  # room for a wrong second close
        venue, cached, halted = venue_qty(binance), held(node, long_only), guard.halted
        orders = node.cache.orders(strategy_id=long_only.id)

    # Assert: the trip closed what was filled; the late fill was closed on its own, once.
    assert add_at_trip in (OrderStatus.ACCEPTED, OrderStatus.PENDING_CANCEL)  # not filled yet
    assert (venue, cached, halted) == (0.0, 0, True)
    first = orders[0]
    closes = [o for o in orders if KILL_SWITCH_TAG in o.tags]
    assert [o.quantity for o in closes] == [first.quantity, add.quantity]
    assert all(o.status == OrderStatus.FILLED and not o.is_buy for o in closes)
    assert [r.status for r in submits(binance)] == [200] * 4
    assert not guard.allows_new_orders()


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [STEP])
def test_a_kill_switch_whose_journal_write_fails_still_flattens_and_halts(
    binance: FakeBinance,
    node: TradingNode,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture,
) -> None:
    # Arrange: every journal event fails, as on a full disk; LongOnly holds a quarter of the
    # capital when a crash bar trips the kill switch (max_drawdown 5%).
    def full_disk(journal, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Journal, "record_event", full_disk)
    long_only, guard = _long_only(node), _guard(node)

    # Act
    with running(node, binance):
        push_closed_klines(binance, [42_000.0])
        wait_for(lambda: held(node, long_only) > 0, 10, "the first fill")
        binance.push_kline("BTCUSDT", _minute(), kline_around(30_000.0))
        wait_for(lambda: guard.halted, 10, "the trip")
        wait_for(lambda: venue_qty(binance) == 0, 10, "the venue flat again")
        cached = held(node, long_only)

    # Assert: the guard flattened and halted; the lost event is in the log.
    assert cached == 0 and not guard.allows_new_orders()
    logged = "".join(capfd.readouterr())  # nautilus' log: errors go to stderr
    assert "could not journal the kill_switch event" in logged


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    # LongOnly buys 1.19047 BTC at 42,000 (49,999.74 USDT): inside the per-order limit, until
    # the price rises to 44,100 (52,499.73 USDT).
    [LONG_ONLY | {"risk.max_order_notional": 50_500.0, "risk.max_instrument_notional": 1e6}],
)
def test_a_failed_strategy_closes_a_position_worth_more_than_max_order_notional(
    binance: FakeBinance, node: TradingNode
) -> None:
    long_only = _long_only(node)

    # Act
    with running(node, binance):
        _fail_holding(binance, node, long_only, 44_100.0)
        wait_for(lambda: venue_qty(binance) == 0, 10, "the failed strategy's close")
        wait_for(lambda: long_only.is_stopped, 10, "the strategy stopped")
        orders = node.cache.orders(strategy_id=long_only.id)

    # Assert
    assert "bug in the strategy" in long_only.failure
    assert held(node, long_only) == 0 and long_only.held_back is None
    assert [o.tags for o in orders] == [["LongOnly target +100%"], ["LongOnly failed"]]
    assert orders[1].quantity == orders[0].quantity
    assert [r.status for r in submits(binance)] == [200, 200]


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [LONG_ONLY])
@pytest.mark.parametrize("faults", [FaultPlan(rejects=[OrderReject(nth=2, code=-2010)])])
def test_a_failed_strategy_whose_close_was_rejected_closes_on_the_next_bar_then_stops(
    binance: FakeBinance, node: TradingNode
) -> None:
    long_only = _long_only(node)

    # Act
    with running(node, binance):
        minute = _fail_holding(binance, node, long_only, 42_010.0)
        wait_for(lambda: len(submits(binance)) == 2, 10, "the close, rejected")
        time.sleep(0.5)  # room for a wrong retry within the same bar
        after_reject = (venue_qty(binance), long_only.is_running)
        binance.push_kline("BTCUSDT", minute + timedelta(minutes=1), kline_around(42_020.0))
        wait_for(lambda: venue_qty(binance) == 0, 10, "the close, tried again")
        wait_for(lambda: long_only.is_stopped, 10, "the strategy stopped")

    # Assert
    assert after_reject[0] > 0 and after_reject[1]
    assert [r.status for r in submits(binance)] == [200, 400, 200]
    assert held(node, long_only) == 0
    assert "bug in the strategy" in long_only.failure
