"""Risk controls: nautilus' pre-trade limits, a drawdown kill switch and a stale-data watchdog.

- `risk_engine_config` maps `[risk]` onto nautilus' own `RiskEngineConfig`: the per-order
  notional limit and the order-submit rate. Nautilus 1.221 checks the notional only on cash
  accounts and, for market orders, only once it holds a quote or trade tick for the instrument;
  `notional_breach` is the same check for the strategies' own order path, which covers margin
  accounts and bar-only data, plus the per-instrument position limit nautilus lacks. The
  RiskGuard runs it on every order of the strategies it watches (`RiskGuard.order_breach`). An
  order that only reduces the instrument's position, toward flat and never past it, is never
  refused by these limits: reducing risk must always be possible.
- `exec_engine_config` sets nautilus' in-flight checks, which resolve orders whose submit got
  no clear answer by asking the venue.
- `KillSwitch`, `StaleDataWatchdog` and `notional_breach` are pure (`bot.engine.risk_rules`).
  The circuit breaker for 429/418 responses lives in `bot.core.breaker`.
- `RiskGuard` (a nautilus Actor) feeds the kill switch the account equity on every new bar (a
  bar at or before the last one seen is dropped). When it trips it cancels every open order,
  closes every position of the watched strategies, journals the trip, and halts the nautilus
  RiskEngine once its closing orders are sent, so every later order is denied until an operator
  calls `reset`. While tripped, a fill that still lands (an order accepted or in flight at the
  trip) is closed at once: on each position event of a watched strategy the guard closes its
  net position less what its own closing orders still pending will close, letting that one
  order through the halt. It also counts the venue's 429/418 answers (`Throttled` events of
  the execution client) for the metrics, and alerts when one opened the circuit breaker.
"""

import json
import math
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig, LiveExecEngineConfig, RiskEngineConfig
from nautilus_trader.core.datetime import unix_nanos_to_dt
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide, OrderStatus, TradingState
from nautilus_trader.model.events import OrderDenied, OrderRejected, PositionEvent
from nautilus_trader.model.identifiers import InstrumentId, StrategyId
from nautilus_trader.model.objects import Quantity
from nautilus_trader.trading.strategy import Strategy

from bot.core.alerts import KILL_SWITCH, RATE_LIMIT, STALE_DATA, Notifier
from bot.core.breaker import THROTTLE_TOPIC, Throttled
from bot.core.errors import ConfigError
from bot.core.settings import RiskSettings
from bot.engine.journal import Journal
from bot.engine.risk_rules import KillSwitch, StaleDataWatchdog, notional_breach, reduces_only
from bot.engine.router_journal import write_or_log
from strategies.equity import account_equity

KILL_SWITCH_EVENT = "kill_switch"
KILL_SWITCH_TAG = "kill switch"  # the tag of its flattening orders, shown in the trade list
KILL_SWITCH_RESET_EVENT = "kill_switch_reset"


def risk_engine_config(
    risk: RiskSettings, instrument_ids: Iterable[InstrumentId | str]
) -> RiskEngineConfig:
    """Nautilus' RiskEngineConfig for `[risk]`: order-submit rate and notional per order."""
    per_order = {}
    if risk.max_order_notional is not None:
        # Nautilus reads the limit as a whole number of quote units; round down to stay inside.
        limit = int(math.floor(risk.max_order_notional))
        per_order = {str(iid): limit for iid in instrument_ids}
    return RiskEngineConfig(
        max_order_submit_rate=f"{risk.max_orders_per_second}/00:00:01",
        max_notional_per_order=per_order,
    )


def exec_engine_config(risk: RiskSettings) -> LiveExecEngineConfig:
    """Nautilus' live execution engine: start-up reconciliation with the venue, and in-flight
    checks that query orders without an answer (their outcome unknown) until the venue says."""
    return LiveExecEngineConfig(
        reconciliation=True,
        inflight_check_threshold_ms=round(risk.inflight_threshold_s * 1000),
        inflight_check_interval_ms=round(risk.inflight_interval_s * 1000),
        reconciliation_startup_delay_secs=risk.reconcile_delay_s,
    )


class RiskGuardConfig(ActorConfig, frozen=True):
    """RiskGuard settings (see `risk_guard_config` to build it from `[risk]`).

    Parameters
    ----------
    bar_type :
        The bars that drive the kill switch; equity is that instrument's venue account.
    max_drawdown, daily_loss_limit :
        Kill switch limits, fractions of equity.
    max_order_notional, max_instrument_notional :
        Notional limits of one order and of the instrument's whole position (None: off).
    stale_after_bars :
        Bar intervals without a new bar after which `allows_new_orders` says no.
    journal_path, run_id :
        Where the trip and resets are journalled; no journal when `journal_path` is None.
    """

    bar_type: BarType
    max_drawdown: float = 0.25
    daily_loss_limit: float | None = None
    max_order_notional: float | None = None
    max_instrument_notional: float | None = None
    stale_after_bars: float = 5.0
    journal_path: str | None = None
    run_id: str = ""


def risk_guard_config(
    risk: RiskSettings, bar_type: BarType, journal_path: Path | None = None, run_id: str = ""
) -> RiskGuardConfig:
    """The RiskGuard config for `[risk]` on `bar_type`."""
    return RiskGuardConfig(
        bar_type=bar_type,
        max_drawdown=risk.max_drawdown,
        daily_loss_limit=risk.daily_loss_limit,
        max_order_notional=risk.max_order_notional,
        max_instrument_notional=risk.max_instrument_notional,
        stale_after_bars=risk.stale_after_bars,
        journal_path=None if journal_path is None else str(journal_path),
        run_id=run_id,
    )


class RiskGuard(Actor):
    """Runs the kill switch: on a trip it flattens the watched strategies and halts trading;
    while tripped it closes any fill of theirs that still lands (an order the trip found
    accepted or in flight), once per position event.

    Register it before the strategies, so that on the bar that trips it the strategies' own
    orders come after the closing orders and are denied. The halt is set as soon as the closing
    orders have passed the RiskEngine (at once in a backtest; a live RiskEngine queues them).
    """

    def __init__(self, config: RiskGuardConfig) -> None:
        super().__init__(config)
        self.kill_switch = KillSwitch(config.max_drawdown, config.daily_loss_limit)
        self._limits = RiskSettings(
            max_order_notional=config.max_order_notional,
            max_instrument_notional=config.max_instrument_notional,
        )
        interval = config.bar_type.spec.timedelta.to_pytimedelta()
        self.watchdog = StaleDataWatchdog(interval * config.stale_after_bars)
        self._strategies: list[Strategy] = []
        self._by_id: dict[StrategyId, Strategy] = {}
        self._last_ts = -1  # the newest bar's ts_event: older and repeated bars are dropped
        self._risk_engine = None
        self._journal: Journal | None = None
        self._halt_pending = False
        self.last_bar: dict[str, float] | None = None  # time, close and equity, for `bot status`
        self.notifier: Notifier | None = None  # alerts (live nodes): trips and stale data
        self._stale_alerted = False
        self.order_errors = {"OrderRejected": 0, "OrderDenied": 0}  # for the metrics endpoint
        self.throttled: dict[tuple[str, int], int] = {}  # 429/418 answers by (venue, status)
        self.throttle_words: dict[tuple[str, int], str] = {}  # the venue's last words for each

    def watch(self, strategies: list[Strategy], risk_engine) -> None:
        """The strategies to flatten on a trip, and the nautilus RiskEngine to halt."""
        self._strategies = list(strategies)
        self._by_id = {strategy.id: strategy for strategy in self._strategies}
        self._risk_engine = risk_engine
        for strategy in self._strategies:
            strategy.gate = self.allows_new_orders  # no new orders while tripped or stale
            strategy.order_check = self.order_breach  # none beyond the notional limits

    @property
    def watched(self) -> list[Strategy]:
        """The strategies this guard watches."""
        return list(self._strategies)

    @property
    def halted(self) -> bool:
        """True while the RiskEngine denies every new order."""
        engine = self._risk_engine
        return engine is not None and engine.trading_state == TradingState.HALTED

    def allows_new_orders(self) -> bool:
        """False while the kill switch is tripped or the bars are stale (for strategies to ask
        before they order: stale bars alone do not halt the RiskEngine)."""
        return not self.kill_switch.tripped and self.watchdog.allows(self.clock.utc_now())

    def order_breach(self, instrument_id: InstrumentId, qty: float, price: float) -> str | None:
        """Why a market order of signed `qty` at about `price` breaks `[risk]`'s notional limits
        (one order; the instrument's position of every strategy, pending orders included, once
        it fills), or None when it may go. An order that only reduces that position, toward
        flat and never past it, is never refused, however large: reducing risk must always be
        possible. One that shrinks it across flat is held only to the per-order limit. Each
        denial counts in `order_errors`."""
        instrument = self.cache.instrument(instrument_id)
        scale = price * instrument.multiplier.as_double()
        before = self._net_qty(instrument_id)
        after = before + qty
        held = abs(after) * scale if abs(after) > abs(before) else 0.0
        reducing = reduces_only(before, after)
        breach = notional_breach(self._limits, abs(qty) * scale, held, reducing)
        if breach is not None:
            self.order_errors["OrderDenied"] += 1
        return breach

    def _net_qty(self, instrument_id: InstrumentId) -> float:
        qty = sum(p.signed_qty for p in self.cache.positions_open(instrument_id=instrument_id))
        for order in self.cache.orders(instrument_id=instrument_id):
            if not order.is_closed:  # open, in flight, or still queued in the RiskEngine
                qty += order.leaves_qty.as_double() * (1 if order.is_buy else -1)
        return qty

    def on_save(self) -> dict[str, bytes]:
        state = {"kill_switch": json.dumps(self.kill_switch.state()).encode()}
        if self.last_bar is not None:
            state["last_bar"] = json.dumps(self.last_bar).encode()
        return state

    def on_load(self, state: dict[str, bytes]) -> None:
        if "kill_switch" in state:
            self.kill_switch.restore(json.loads(state["kill_switch"]))

    def on_start(self) -> None:
        if self._risk_engine is None:
            raise ConfigError("RiskGuard.watch(strategies, risk_engine) must run before start.")
        if self.config.journal_path:
            self._journal = Journal(Path(self.config.journal_path))
        self.subscribe_bars(self.config.bar_type)
        for strategy in self._strategies:
            self.msgbus.subscribe(topic=f"events.order.{strategy.id}", handler=self._on_order)
            self.msgbus.subscribe(topic=f"events.position.{strategy.id}", handler=self._on_position)
        self.msgbus.subscribe(topic=THROTTLE_TOPIC, handler=self._on_throttled)
        if self.notifier is not None:  # no bar arrives to notice their absence: a timer must
            half = self.watchdog.stale_after / 2
            self.clock.set_timer("stale-data", half, callback=self._check_stale)
        if self.kill_switch.tripped:  # restored from a run that tripped: stay flat and halted
            self.log.error(f"kill switch still tripped: {self.kill_switch.reason}")
            self._flatten_and_halt()

    def on_stop(self) -> None:
        for strategy in self._strategies:
            self.msgbus.unsubscribe(topic=f"events.order.{strategy.id}", handler=self._on_order)
            topic = f"events.position.{strategy.id}"
            self.msgbus.unsubscribe(topic=topic, handler=self._on_position)
        self.msgbus.unsubscribe(topic=THROTTLE_TOPIC, handler=self._on_throttled)
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def _check_stale(self, event=None) -> None:
        last = self.watchdog.last_bar
        if last is None or self.watchdog.allows(self.clock.utc_now()):
            return
        if not self._stale_alerted:
            self._stale_alerted = True
            message = f"no new bar since {last:%Y-%m-%d %H:%M:%S} UTC: new orders are stopped"
            self.notifier.send(STALE_DATA, message, {"bar_type": str(self.config.bar_type)})

    def on_bar(self, bar: Bar) -> None:
        if bar.ts_event <= self._last_ts:
            return  # out of order or repeated: equity marked at its close would be stale
        self._last_ts = bar.ts_event
        self.watchdog.on_bar(unix_nanos_to_dt(bar.ts_event))
        self._stale_alerted = False  # a newer bar: the next silence alerts again
        instrument = self.cache.instrument(self.config.bar_type.instrument_id)
        equity = account_equity(self.portfolio, self.cache, instrument, bar.close)
        self.last_bar = {"ts": bar.ts_event, "close": bar.close.as_double(), "equity": equity}
        if self.kill_switch.update(unix_nanos_to_dt(bar.ts_event), equity):
            self._trip(bar.ts_event, equity)
        # A crash skips nautilus' save at stop: keep the peak and a trip in the cache every bar
        # (a no-op without a cache database, as in backtests).
        self.cache.update_actor(self)

    def reset(self, operator: str) -> None:
        """Operator reset: re-arm the kill switch and let orders through again."""
        reason = self.kill_switch.reason
        self.kill_switch.reset(operator)
        self._halt_pending = False
        if self._risk_engine.trading_state != TradingState.ACTIVE:
            self._risk_engine.set_trading_state(TradingState.ACTIVE)
        self.log.warning(f"kill switch reset by {operator}")
        self._record(KILL_SWITCH_RESET_EVENT, {"operator": operator, "was": reason})

    def _on_order(self, event) -> None:
        if isinstance(event, OrderRejected | OrderDenied):
            self.order_errors[type(event).__name__] += 1
        if self._halt_pending:
            self._halt_when_submitted()

    def _on_throttled(self, event: Throttled) -> None:
        key = (event.venue, event.status)
        self.throttled[key] = self.throttled.get(key, 0) + 1
        self.throttle_words[key] = event.message
        if event.opened and self.notifier is not None:
            message = (
                f"{event.venue} answered HTTP {event.status} ({event.message}): circuit breaker "
                f"open, new orders are denied for {event.wait_s:.1f}s"
            )
            self.notifier.send(RATE_LIMIT, message, {"venue": event.venue, "status": event.status})

    def _trip(self, ts: int, equity: float) -> None:
        self.log.error(f"kill switch tripped: {self.kill_switch.reason}; flattening and halting")
        self._flatten_and_halt()
        if self.notifier is not None:
            message = f"kill switch tripped: {self.kill_switch.reason}; flattened and halted"
            self.notifier.send(KILL_SWITCH, message, {"equity": equity})
        self._record(
            KILL_SWITCH_EVENT,
            {"reason": self.kill_switch.reason, "equity": equity, **self.kill_switch.state()},
            ts,
        )

    def _flatten_and_halt(self) -> None:
        for strategy in self._strategies:
            for iid in self._instruments_of(strategy):
                strategy.cancel_all_orders(iid)  # the open ones; nautilus skips those in flight
                self._close(strategy, iid)
        self._halt_pending = True
        self._halt_when_submitted()

    def _instruments_of(self, strategy: Strategy) -> set[InstrumentId]:
        # Where it holds a position or an order not yet closed: open, or in flight (SUBMITTED,
        # PENDING_*), whose fill may still come.
        sid = strategy.id
        held = self.cache.positions_open(strategy_id=sid) + self.cache.orders_open(strategy_id=sid)
        held += self.cache.orders_inflight(strategy_id=sid)
        return {item.instrument_id for item in held}

    def _on_position(self, event: PositionEvent) -> None:
        # While tripped, a fill that still lands (an order accepted or in flight at the trip) is
        # closed at once; the guard's own closing fills leave nothing to close, so no loop.
        strategy = self._by_id.get(event.strategy_id)
        if not self.kill_switch.tripped or strategy is None:
            return
        if self._unclosed(strategy.id, event.instrument_id) == 0:
            return
        if self._risk_engine.trading_state == TradingState.HALTED:
            self._risk_engine.set_trading_state(TradingState.ACTIVE)  # for this close alone
        self.log.warning(f"kill switch: {strategy.id} filled after the trip; closing it")
        self._close(strategy, event.instrument_id)
        self._halt_pending = True
        self._halt_when_submitted()

    def _close(self, strategy: Strategy, iid: InstrumentId) -> None:
        # One market order for what `_unclosed` finds, tagged as the kill switch's. reduce_only
        # is checked against the whole netting account: never use it here.
        qty = self._unclosed(strategy.id, iid)
        if qty == 0:
            return
        instrument = self.cache.instrument(iid)
        side = OrderSide.SELL if qty > 0 else OrderSide.BUY
        quantity = Quantity(abs(qty), instrument.size_precision)
        order = strategy.order_factory.market(iid, side, quantity, tags=[KILL_SWITCH_TAG])
        strategy.submit_order(order)

    def _unclosed(self, sid: StrategyId, iid: InstrumentId) -> Decimal:
        # The strategy's signed position on `iid` once the guard's closing orders still pending
        # fill: what is left to close. Its other orders count only once they fill.
        qty = Decimal(0)
        for position in self.cache.positions_open(instrument_id=iid, strategy_id=sid):
            qty += position.quantity.as_decimal() * (1 if position.is_long else -1)
        for order in self.cache.orders(instrument_id=iid, strategy_id=sid):
            if not order.is_closed and KILL_SWITCH_TAG in (order.tags or ()):
                qty += order.leaves_qty.as_decimal() * (1 if order.is_buy else -1)
        return qty

    def _halt_when_submitted(self) -> None:
        # HALTED denies closing orders too: wait until none is still queued in the RiskEngine.
        for strategy in self._strategies:
            for order in self.cache.orders(strategy_id=strategy.id):
                if order.status == OrderStatus.INITIALIZED:
                    return
        self._halt_pending = False
        self._risk_engine.set_trading_state(TradingState.HALTED)

    def _record(self, kind: str, payload: dict[str, Any], ts: int | None = None) -> None:
        if self._journal is None:
            return
        ts = self.clock.timestamp_ns() if ts is None else ts
        record = self._journal.record_event
        write_or_log(self.log, f"the {kind} event", record, self.config.run_id, ts, kind, payload)
