"""Risk controls inside a nautilus BacktestEngine: nautilus' own pre-trade limits from `[risk]`,
the RiskGuard's notional limits on the strategies' orders, and its kill switch flattening and
halting on a crafted price crash."""

import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig, LoggingConfig, StrategyConfig
from nautilus_trader.model.data import Bar, BarType, QuoteTick
from nautilus_trader.model.enums import (
    AccountType,
    OmsType,
    OrderSide,
    OrderStatus,
    TradingState,
)
from nautilus_trader.model.identifiers import InstrumentId, TraderId
from nautilus_trader.model.objects import Money
from nautilus_trader.trading.strategy import Strategy

from bot.core.settings import RiskSettings
from bot.engine.instruments import make_instrument
from bot.engine.journal import Journal, RunRecord
from bot.engine.risk import KILL_SWITCH_EVENT, RiskGuard, risk_engine_config, risk_guard_config
from bot.engine.sim import new_engine
from tests.strategies.harness import (
    WeightsActor,
    WeightsActorConfig,
    bar_type_for,
    equity_instrument,
    frame,
    make_strategy,
    to_bars,
)

pytestmark = pytest.mark.integration

# -- nautilus RiskEngineConfig from [risk] --------------------------------------------------


class BurstConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    quantities: tuple[str, ...]  # market buys sent on the first quote, in order


class Burst(Strategy):
    """Sends its market orders all at once on the first quote."""

    def __init__(self, config: BurstConfig) -> None:
        super().__init__(config)
        self._sent = False

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.config.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        if self._sent:
            return
        self._sent = True
        instrument = self.cache.instrument(self.config.instrument_id)
        for qty in self.config.quantities:
            order = self.order_factory.market(
                self.config.instrument_id, OrderSide.BUY, instrument.make_qty(Decimal(qty))
            )
            self.submit_order(order)


def _run_burst(
    risk: RiskSettings, quantities: tuple[str, ...], account: AccountType = AccountType.CASH
) -> list:
    # The same pieces as bot.engine.sim.new_engine, plus the RiskEngineConfig it does not take yet.
    instrument = make_instrument("BTCUSDT", "crypto")
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId("TESTER-001"),
            logging=LoggingConfig(log_level="ERROR"),
            risk_engine=risk_engine_config(risk, [instrument.id]),
            run_analysis=False,
        )
    )
    engine.add_venue(
        instrument.id.venue,
        oms_type=OmsType.NETTING,
        account_type=account,
        starting_balances=[Money(1_000_000, instrument.quote_currency)],
        base_currency=None if account == AccountType.CASH else instrument.quote_currency,
        default_leverage=Decimal(1),
    )
    engine.add_instrument(instrument)
    start = pd.Timestamp("2024-01-01", tz="UTC").value
    quotes = [
        QuoteTick(
            instrument.id,
            instrument.make_price(100.0),
            instrument.make_price(100.0),
            instrument.make_qty(1_000),
            instrument.make_qty(1_000),
            start + i * 1_000_000_000,
            start + i * 1_000_000_000,
        )
        for i in range(3)
    ]
    engine.add_data(quotes, sort=True)
    strategy = Burst(BurstConfig(instrument_id=instrument.id, quantities=quantities))
    engine.add_strategy(strategy)
    engine.run()
    try:
        return [(str(o.quantity), o.status, o.events[-1]) for o in engine.cache.orders()]
    finally:
        engine.dispose()


def test_nautilus_denies_an_order_above_max_order_notional_and_fills_a_smaller_one():
    risk = RiskSettings(max_order_notional=5_000.0)

    orders = _run_burst(risk, ("60", "20"))  # 6,000 and 2,000 USDT at 100

    (big, big_status, big_event), (small, small_status, _) = orders
    assert (big, big_status) == ("60.000000", OrderStatus.DENIED)
    assert "NOTIONAL_EXCEEDS_MAX_PER_ORDER" in big_event.reason
    assert (small, small_status) == ("20.000000", OrderStatus.FILLED)


def test_nautilus_skips_the_notional_check_on_margin_accounts():
    # Pins the 1.221 gap that `bot.engine.risk_rules.notional_breach` exists for: margin orders pass
    # unchecked.
    risk = RiskSettings(max_order_notional=5_000.0)

    orders = _run_burst(risk, ("60",), account=AccountType.MARGIN)

    assert [status for _, status, _ in orders] == [OrderStatus.FILLED]


def test_nautilus_denies_orders_beyond_max_orders_per_second():
    risk = RiskSettings(max_orders_per_second=3)

    orders = _run_burst(risk, ("1", "1", "1", "1", "1"))

    statuses = [status for _, status, _ in orders]
    assert statuses.count(OrderStatus.FILLED) == 3
    assert statuses.count(OrderStatus.DENIED) == 2


# -- RiskGuard kill switch ------------------------------------------------------------------

CRASH_BAR = 12
RESET_BAR = 25


def _crash() -> pd.DataFrame:
    # Flat at 100, a crash to 40 over three bars, then a recovery to 100.
    close = np.r_[np.full(10, 100.0), [90.0, 70.0, 40.0], np.linspace(45.0, 100.0, 17)]
    return frame(close)


class OperatorConfig(ActorConfig, frozen=True):
    bar_type: BarType
    reset_bar: int


class Operator(Actor):
    """Resets the guard's kill switch on `reset_bar`, as a person at the console would."""

    def __init__(self, config: OperatorConfig, guard: RiskGuard) -> None:
        super().__init__(config)
        self._guard = guard
        self._index = -1

    def on_start(self) -> None:
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        self._index += 1
        if self._index == self.config.reset_bar:
            self._guard.reset("alice")


def _run_crash(tmp_path, reset_bar: int | None, df=None, state=None, risk=None, bars=None) -> dict:
    instrument = equity_instrument()
    bar_type = bar_type_for(instrument)
    if bars is None:
        bars = to_bars(_crash() if df is None else df, instrument)
    engine = new_engine(instrument, bars, capital=100_000.0, slippage_bps=0.0)
    journal_path = tmp_path / "journal.sqlite"
    with Journal(journal_path) as journal:
        journal.start_run(RunRecord("crash", "backtest", "TEST", "1d", "test"))
    strategies = [
        make_strategy("LongOnly", instrument, order_id_tag="001"),
        make_strategy("ShortOnly", instrument, order_id_tag="002"),
    ]
    weights = {"LongOnly": 0.9, "ShortOnly": 0.1}
    engine.add_actor(
        WeightsActor(WeightsActorConfig(bar_type=bar_type, schedule_json=json.dumps({0: weights})))
    )
    risk = risk or RiskSettings(max_drawdown=0.25)
    guard = RiskGuard(risk_guard_config(risk, bar_type, journal_path, run_id="crash"))
    guard.watch(strategies, engine.kernel.risk_engine)
    if state is not None:
        guard.on_load(state)  # as nautilus does on a restart with load_state
    engine.add_actor(guard)  # before the strategies, as RiskGuard asks
    for strategy in strategies:
        engine.add_strategy(strategy)
    if reset_bar is not None:
        engine.add_actor(Operator(OperatorConfig(bar_type=bar_type, reset_bar=reset_bar), guard))
    engine.run()
    try:
        cache = engine.cache
        return {
            "bars": [bar.ts_event for bar in bars],
            "orders": [(o.strategy_id.value, o.ts_init, o.status) for o in cache.orders()],
            "positions_open": cache.positions_open(),
            "positions": {s.name: cache.positions(strategy_id=s.id) for s in strategies},
            "state": engine.kernel.risk_engine.trading_state,
            "halted": guard.halted,
            "switch": guard.kill_switch.state(),
            "saved": guard.on_save(),
            "allows": guard.allows_new_orders(),
            "denied": guard.order_errors["OrderDenied"],
            "events": Journal(journal_path).events("crash"),
        }
    finally:
        engine.dispose()


def test_kill_switch_flattens_every_strategy_and_halts_after_a_crash(tmp_path):
    result = _run_crash(tmp_path, reset_bar=None)

    trip_ts = result["bars"][CRASH_BAR]
    assert result["switch"]["reason"] is not None
    assert "max_drawdown" in result["switch"]["reason"]
    # Both strategies held a position before the crash, and none is open afterwards.
    assert all(result["positions"][name] for name in ("LongOnly", "ShortOnly"))
    assert result["positions_open"] == []
    assert result["state"] == TradingState.HALTED
    assert result["halted"] is True
    assert result["allows"] is False
    # After the trip bar the gated strategies send nothing at all.
    assert [status for _, ts, status in result["orders"] if ts > trip_ts] == []
    events = result["events"]
    assert events["kind"].tolist() == [KILL_SWITCH_EVENT]
    assert events["ts"].iloc[0] == pd.Timestamp(trip_ts, tz="UTC")
    assert "drawdown" in events["payload"].iloc[0]["reason"]


def test_kill_switch_does_not_trip_above_the_drawdown_limit(tmp_path):
    # 0.9 long and 0.1 short: a 30% fall costs 24% of equity, below max_drawdown 0.25.
    result = _run_crash(tmp_path, reset_bar=None, df=frame([100.0] * 10 + [70.0] * 20))

    assert result["switch"]["reason"] is None
    assert result["allows"] is True
    assert result["halted"] is False
    assert result["state"] == TradingState.ACTIVE
    assert len(result["positions_open"]) == 2
    assert result["allows"] is True
    assert result["events"].empty


def test_a_repeated_bar_does_not_feed_the_kill_switch_the_equity_at_its_stale_close(tmp_path):
    # Arrange: flat at 100, but bar 15 comes twice, the repeat (same ts_event) closing at 40: a
    # crash that, marked on 0.8 of the equity net long, would trip max_drawdown 0.25.
    instrument = equity_instrument()
    bars = to_bars(frame([100.0] * 20), instrument)
    seen = bars[15]
    repeat = Bar(
        seen.bar_type,
        seen.open,
        seen.high,
        instrument.make_price(39.5),
        instrument.make_price(40.0),
        seen.volume,
        seen.ts_event,
        seen.ts_init,
    )

    # Act
    result = _run_crash(tmp_path, reset_bar=None, bars=[*bars[:16], repeat, *bars[16:]])

    # Assert
    assert result["switch"]["reason"] is None
    assert result["state"] == TradingState.ACTIVE
    assert result["events"].empty
    assert len(result["positions_open"]) == 2


@pytest.mark.parametrize(
    "limits",
    [
        {"max_instrument_notional": 50_000.0},
        {"max_order_notional": 20_000.0, "max_instrument_notional": 100_000.0},
    ],
    ids=["instrument", "order"],
)
def test_the_guard_denies_strategy_orders_beyond_the_notional_limits(tmp_path, limits):
    # Arrange: LongOnly wants 0.9 of 100,000 long (90,000 at 100), ShortOnly 0.1 short (10,000).
    risk = RiskSettings(max_drawdown=0.25, **limits)

    # Act
    result = _run_crash(tmp_path, reset_bar=None, df=frame([100.0] * 30), risk=risk)

    # Assert: LongOnly's order is denied before it is sent, on every bar; ShortOnly's goes.
    owners = {strategy for strategy, _, _ in result["orders"]}
    assert owners == {"ShortOnly-002"}
    assert {status for _, _, status in result["orders"]} == {OrderStatus.FILLED}
    assert result["denied"] >= 20
    assert [p.strategy_id.value for p in result["positions_open"]] == ["ShortOnly-002"]


def test_operator_reset_lets_the_strategies_trade_again(tmp_path):
    result = _run_crash(tmp_path, reset_bar=RESET_BAR)

    reset_ts = result["bars"][RESET_BAR]
    assert result["state"] == TradingState.ACTIVE
    assert result["events"]["kind"].tolist() == [KILL_SWITCH_EVENT, "kill_switch_reset"]
    assert result["events"]["payload"].iloc[1]["operator"] == "alice"
    trip_ts = result["bars"][CRASH_BAR]
    halted = {status for _, ts, status in result["orders"] if trip_ts < ts < reset_ts}
    after = {status for _, ts, status in result["orders"] if ts >= reset_ts}
    assert halted == set()
    assert after == {OrderStatus.FILLED}  # the operator sees the reset bar before the strategies
    assert len(result["positions_open"]) == 2
    assert result["allows"] is True


def test_a_trip_saved_before_a_restart_keeps_the_new_run_flat_and_halted(tmp_path):
    tripped = _run_crash(tmp_path / "first", reset_bar=None)["saved"]

    result = _run_crash(tmp_path / "second", reset_bar=None, df=frame([100.0] * 20), state=tripped)

    assert result["switch"]["reason"] is not None
    assert result["state"] == TradingState.HALTED
    assert result["orders"] == []  # restored tripped: the strategies never order
    assert result["positions_open"] == []
