"""The routed-strategy base: turns a strategy's signal into orders sized by its router weight.

A subclass implements `decide(window) -> float`, its algorithm's target exposure in [-1, 1], and
`_attach(indicators)`, which takes the incremental indicators it reads (`bar_indicators`). The
base feeds it one bar at a time (`signal`), and trades the difference between the target
position, weight x equity x signal / price, and the position it holds plus its pending orders:
- the position is per strategy (NETTING OMS): it closes, then opens, on a sign change; no order
  ever flips a position and none is reduce-only, since reduce-only is checked against the whole
  netting account, not this strategy's share of it;
- a change smaller than `tolerance` x weight x equity is ignored, except a close or a flip;
- what a trade cannot order (the size step's rounding, a cash account's limit, the venue's
  minimum quantity or notional: `venue_filters`) is kept in `sizing_gap`; an order below the
  venue's minimum is not sent, is logged with the reason and counted in `below_minimum`;
- no order goes out while one of the strategy's own is in flight (SUBMITTED, PENDING_*): its
  outcome is unknown until the venue answers or nautilus' in-flight check asks it;
- a strategy that raises is flattened and stopped, and its `failure` says why; while its close
  is refused (the venue's minimum, a reject), it tries again on each new bar until it is flat
  (`strategies.fencing`);
- every order carries the rule that caused it as its one tag: the algorithm's entry, add or
  exit rule when its target changed (`Layers.reason`), else the router's weight, so the
  report's trade list and the journal say which rule opened and closed each trade.
The strategy's own fills are kept by `strategies.ledger`, its orders not yet closed and the
checks before one goes out by `strategies.orders`, and the arithmetic of what it orders (the
close-then-open, the band, the step and cash limits) by `strategies.sizing`.
"""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from nautilus_trader.common.component import LiveClock
from nautilus_trader.config import NonNegativeFloat, PositiveFloat, PositiveInt, StrategyConfig
from nautilus_trader.model.data import Bar, BarType, DataType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price
from nautilus_trader.trading.strategy import Strategy

from bot.core.errors import ConfigError
from strategies.bar_indicators import BarIndicators
from strategies.equity import VenueEquity
from strategies.fencing import FailureFence
from strategies.indicators import BarWindow
from strategies.layers import Layers
from strategies.ledger import FillLedger
from strategies.orders import (
    OncePerChange,
    OrderCheck,
    OwnOrders,
    market_order,
    pending_orders,
    refusal,
)
from strategies.sizing import order_size, plan
from strategies.weights import RouterWeights, decode


class RoutedStrategyConfig(StrategyConfig, kw_only=True, frozen=True):
    """Settings shared by every routed strategy.

    Parameters
    ----------
    instrument_id, bar_type :
        What to trade, and on which bars.
    tolerance :
        Rebalance band as a fraction of the strategy's allocation: a change of position notional
        below tolerance x weight x equity is not traded. 0.1 keeps price drift from trading every
        bar, while a layer change (at least 1/5 of the allocation) always trades.
    long_only :
        Clip the signal to [0, 1], for spot cash accounts that cannot short.
    warmup_bars :
        Bars before the first signal; also the length of the trailing window the indicators see.
    max_layers :
        Most layers (pyramid units) the algorithm holds; exposure is side x layers / max_layers.
    cash_reserve :
        In cash accounts, the share of the free cash that the buys of one bar (of all the
        strategies) leave unspent, for fees, slippage and the move to the next open.
    """

    instrument_id: InstrumentId
    bar_type: BarType
    tolerance: NonNegativeFloat = 0.1
    long_only: bool = False
    warmup_bars: PositiveInt = 100
    max_layers: PositiveInt = 1
    cash_reserve: NonNegativeFloat = 0.01
    oms_type: str | None = "NETTING"

    def __post_init__(self) -> None:
        if self.oms_type != "NETTING":
            raise ConfigError(
                f"oms_type={self.oms_type!r}: routed strategies need NETTING, so that each keeps "
                "one position of its own. Remove the setting."
            )
        if not 0.0 <= self.tolerance < 1.0 or not 0.0 <= self.cash_reserve < 1.0:
            raise ConfigError(
                f"tolerance={self.tolerance} and cash_reserve={self.cash_reserve} must lie in "
                "[0, 1): they are fractions of the strategy's capital."
            )
        if self.warmup_bars < 1:
            raise ConfigError(f"warmup_bars={self.warmup_bars} must be at least 1.")


class LayeredConfig(RoutedStrategyConfig, kw_only=True, frozen=True):
    """Settings of the eight indicator algorithms (1-8), which pyramid layers under an ATR stop.

    The defaults are the parameters most of the paper's algorithms share (ATR 14, m=1.8, L=3);
    each strategy's config overrides only those its algorithm sets otherwise.

    Parameters
    ----------
    atr_period :
        Bars of the ATR that scales stops (and, in some algorithms, add steps).
    atr_mult :
        The stop distance m, in ATRs beyond the (average) entry against the trade.
    max_layers :
        Most layers L the algorithm pyramids to.
    """

    atr_period: PositiveInt = 14
    atr_mult: PositiveFloat = 1.8
    max_layers: PositiveInt = 3


class RoutedStrategy(FailureFence, Strategy):
    """Base of the eleven strategies: sizing by router weight, warm-up and failure fencing."""

    def __init__(self, config: RoutedStrategyConfig) -> None:
        super().__init__(config)
        self.failure: str | None = None
        self.weight = 0.0
        self.target = 0.0
        self.sizing_gap = 0.0  # units the last rebalance wanted but could not order
        self.below_minimum = 0  # orders not sent: below the venue's minimum quantity or notional
        self.held_back: str | None = None  # why the last order it wanted was not sent
        self._refused = OncePerChange()  # logged once, not on each bar the refusal repeats
        self._why: str | None = None  # the rule behind a target change not yet ordered
        self.indicators = BarIndicators(config.bar_type)
        self.indicators.readers.append(self)
        self.window = self.indicators.window(config.warmup_bars)
        self._attach(self.indicators)
        self.layers = Layers(config.max_layers)
        self._instrument: Instrument | None = None
        self._equity: VenueEquity | None = None
        self._last_ts = -1
        self._last_price: Price | None = None
        self._orders = OwnOrders()  # this strategy's orders not yet closed
        self._ledger = FillLedger()  # this strategy's fills: its units and PnL
        # Set by a risk guard (live nodes): whether new orders may go out at all, and why one
        # order (instrument, signed quantity, price) would break the notional limits (None: ok).
        self.gate: Callable[[], bool] | None = None
        self.order_check: OrderCheck | None = None

    @property
    def name(self) -> str:
        """The strategy's table name, which keys its router weight."""
        return type(self).__name__

    @property
    def is_warm(self) -> bool:
        """True once `warmup_bars` bars have been seen: signals and orders start then."""
        return self.window.count >= self.config.warmup_bars

    def decide(self, window: BarWindow) -> float:
        """The algorithm's target exposure in [-1, 1] after the newest bar in `window`."""
        raise NotImplementedError

    def _attach(self, indicators: BarIndicators) -> None:
        # Take the indicator lines `decide` reads (none here).
        pass

    def share_indicators(self, indicators: BarIndicators) -> None:
        """Read the indicators from `indicators`, shared with the other strategies on the same
        bars (`build_strategies`), instead of a private instance; before the first bar only."""
        if indicators.bar_type != self.config.bar_type:
            raise ConfigError(
                f"indicators on {indicators.bar_type} given to {self.name} on "
                f"{self.config.bar_type}: strategies share indicators only on the same bars."
            )
        if self.window.count:
            raise ConfigError(f"{self.name} has seen bars: share its indicators before the first.")
        self.indicators = indicators
        indicators.readers.append(self)
        self.window = indicators.window(self.config.warmup_bars)
        self._attach(indicators)

    def signal(self, bar: Bar) -> float:
        """Feed one bar; return the target exposure (0 until warm, clipped for long-only)."""
        self._last_price = bar.close
        self.indicators.feed(bar)  # the window and the indicators, once for all the readers
        if not self.is_warm:
            return 0.0
        low = 0.0 if self.config.long_only else -1.0
        return min(max(float(self.decide(self.window)), low), 1.0)

    @property
    def units(self) -> float:
        """Signed position from this strategy's own fills."""
        return self._ledger.units

    @property
    def _position(self) -> Decimal:
        return self._ledger.position  # the same units, exact: what the next order nets against

    def pnl(self, price: float) -> float:
        """Mark-to-market PnL at `price` of this strategy's fills in the cache (a live node's
        cache in Redis keeps them across restarts), net of fees charged in the quote currency.
        O(1): the router may call it every bar."""
        return self._ledger.pnl(price)

    # -- nautilus handlers -------------------------------------------------------------------

    def on_start(self) -> None:
        self._instrument = self.cache.instrument(self.config.instrument_id)
        if self._instrument is None:
            self._fail(ConfigError(f"instrument {self.config.instrument_id} is not in the cache"))
            return
        self._orders = OwnOrders(pending_orders(self.cache, self.config.instrument_id, self.id))
        self._ledger = FillLedger(self._instrument, self.cache.orders(strategy_id=self.id))
        self._equity = VenueEquity(self.portfolio, self.cache, self._instrument)
        self._equity.seed()
        self.msgbus.subscribe(_POSITION_EVENTS, self._equity.on_position)
        self.subscribe_bars(self.config.bar_type)
        self.subscribe_data(DataType(RouterWeights))
        _request_warmup_once(self, self.indicators)

    def on_stop(self) -> None:
        if self._equity is not None:
            self.msgbus.unsubscribe(_POSITION_EVENTS, self._equity.on_position)

    def on_historical_data(self, data) -> None:
        if not isinstance(data, Bar):
            return
        for reader in self.indicators.readers:  # in step: each decides on the bar in turn
            if reader.failure is None and reader._accept(data):
                reader._guarded(reader._observe, data)

    def on_bar(self, bar: Bar) -> None:
        if not self._accept(bar):
            return
        if self.failure is None:
            self._guarded(self._trade, bar)
        else:
            self._flatten_failed(bar.close.as_double())

    def on_data(self, data) -> None:
        if isinstance(data, RouterWeights) and self.failure is None:
            self._guarded(self._on_weights, data)

    def on_order_filled(self, fill) -> None:
        self._ledger.add(fill)

    def on_order_event(self, event) -> None:
        self._orders.on_event(event)

    # -- internals ---------------------------------------------------------------------------

    def _accept(self, bar: Bar) -> bool:
        if bar.ts_event <= self._last_ts:
            return False  # a bar already seen (history overlapping the live feed)
        self._last_ts = bar.ts_event
        return True

    def _observe(self, bar: Bar) -> None:
        self.target = self.signal(bar)

    def _on_weights(self, data: RouterWeights) -> None:
        self.weight = decode(data).get(self.name, 0.0)
        latest = self.cache.bar(self.config.bar_type)
        if latest is None or latest.ts_event <= self._last_ts:  # else on_bar is about to trade
            self._rebalance()

    def _trade(self, bar: Bar) -> None:
        before = self.target
        self.target = self.signal(bar)
        if self.target != before:
            self._why = self.layers.reason or f"{self.name} target {self.target:+.0%}"
        self._rebalance()

    def _rebalance(self) -> None:
        if not self.is_warm or self._instrument is None:
            return
        if self._orders.in_flight() or (self.gate is not None and not self.gate()):
            # An order the venue has not answered may still fill: wait until nautilus' in-flight
            # check resolves it. Halted or stale data: the position is the risk guard's business.
            return
        self.sizing_gap = 0.0
        held = self._orders.expected(self._position)
        if held == 0 and (self.weight == 0 or self.target == 0):
            self._refused.clear()  # no order wanted: a later refusal is news
            return
        price = self.window.close[-1]
        equity = self._equity.value(self._last_price)
        multiplier = self._instrument.multiplier.as_double()
        target = self.weight * equity * self.target / (price * multiplier)
        band = self.config.tolerance * self.weight * equity
        close, delta = plan(held, target, price, multiplier, band)
        why = None  # the reason, formatted only for an order (the close's, for a flip's open)
        if close != 0:
            why = self._reason()
            if not self._submit_exact(close, why):  # close first: never one order that flips
                return  # denied by the notional limits: hold until the next rebalance
        if delta == 0:
            self._refused.clear()
            return
        reserve = self.config.cash_reserve
        sized = order_size(delta, price, self.portfolio, self.cache, self._instrument, reserve)
        self.sizing_gap = delta - float(sized)  # what the step and the cash leave unordered
        if sized != 0:
            self._submit_exact(sized, why or self._reason())

    def _reason(self) -> str:
        # The rule behind an order: the target change not yet ordered, else the router's weight.
        return self._why or f"router weight {self.weight:.0%}"

    def _submit_exact(self, qty: Decimal, rule: str, price: float | None = None) -> bool:
        # False when the venue's minimums or the risk guard's limits deny it: nothing is sent.
        # `rule`, the rule behind the order, goes out as its tag; `price` (default: the last
        # close in the window) is what the checks value it at.
        if price is None and self.window.count:
            price = self.window.close[-1]
        why, minimum = refusal(self._instrument, qty, price, self.order_check)
        self.below_minimum += minimum
        if why is not None:
            self.sizing_gap += float(qty)
            self.held_back = f"order of {qty} not sent: {why}"
            if self._refused.news(why):
                self.log.warning(f"{self.name}: {self.held_back}")
            return False
        self.held_back = self._why = None
        self._refused.clear()
        order = market_order(self.order_factory, self._instrument, qty, rule)
        self._orders.add(order)
        self.submit_order(order)
        return True


def _request_warmup_once(component, indicators: BarIndicators) -> None:
    # One request, by the first of them to start, warms up all the strategies sharing
    # `indicators`: as many bars as the longest warm-up among them.
    if not indicators.warmup_requested:
        indicators.warmup_requested = True
        bars = max(reader.config.warmup_bars for reader in indicators.readers)
        request_warmup(component, indicators.bar_type, bars)


def request_warmup(component, bar_type: BarType, bars: int) -> None:
    """Live only: ask the venue for enough history for `bars` bars of `bar_type`; they arrive
    in `component.on_historical_data`. Backtests warm up on their first bars instead."""
    if not isinstance(component.clock, LiveClock):
        return
    span = bar_type.spec.timedelta * bars
    component.request_bars(bar_type, component.clock.utc_now() - 3 * span - _CLOSED)


_POSITION_EVENTS = "events.position.*"  # every strategy's: equity counts the whole venue

# Market closures (weekends, holidays, nights for intraday equity bars) hide bars from the
# live warm-up request: ask for three times the span plus four days, the buffer keeps the last.
_CLOSED = timedelta(days=4)
