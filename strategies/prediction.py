"""All-in/all-out on a precomputed prediction series (LLMoE's trading rule).

Not one of the eleven routed strategies (and not in `strategies.STRATEGIES`): it trades a
series of next-day predictions made outside the engine. At each bar whose time has a target,
it buys with all its equity (less a reserve for fees and slippage) when the target is long and
it is flat, and sells everything when the target is flat and it is long. Orders fill at the next
bar's open (`bot.engine.sim`), so a prediction made from the bars up to t is held from t + 1's
open.
"""

import json
import math

from nautilus_trader.config import NonNegativeFloat, StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Quantity
from nautilus_trader.trading.strategy import Strategy

from bot.core.errors import ConfigError
from strategies.equity import account_equity


class PredictionStrategyConfig(StrategyConfig, kw_only=True, frozen=True):
    """What to trade and the targets.

    Parameters
    ----------
    instrument_id, bar_type :
        What to trade, and on which bars.
    targets_json :
        JSON object {bar ts_event in ns (as a string): 1 for all-in, 0 for all-out}; bars
        without a target keep the position.
    cash_reserve :
        Share of equity a buy leaves unspent, so that the fee and slippage fit.
    """

    instrument_id: InstrumentId
    bar_type: BarType
    targets_json: str = "{}"
    cash_reserve: NonNegativeFloat = 0.005
    oms_type: str | None = "NETTING"


class PredictionStrategy(Strategy):
    """Goes all-in when the target is 1 and all-out when it is 0; records its equity."""

    def __init__(self, config: PredictionStrategyConfig) -> None:
        super().__init__(config)
        try:
            self._targets = {int(ts): int(v) for ts, v in json.loads(config.targets_json).items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(f"targets_json must map ns timestamps to 0 or 1: {exc}") from None
        if set(self._targets.values()) - {0, 1}:
            raise ConfigError("targets_json values must be 0 (all-out) or 1 (all-in).")
        self.equity: list[tuple[int, float]] = []  # (bar ts_event, mark-to-market equity)
        self.exposure: list[float] = []  # position notional / equity, per bar

    def on_start(self) -> None:
        self._instrument = self.cache.instrument(self.config.instrument_id)
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        equity = account_equity(self.portfolio, self.cache, self._instrument, bar.close)
        position = self._position()
        held = position.quantity.as_double() * bar.close.as_double() if position else 0.0
        self.equity.append((bar.ts_event, equity))
        self.exposure.append(held / equity if equity > 0 else 0.0)
        target = self._targets.get(bar.ts_event)
        if target is None or self.cache.orders_open(strategy_id=self.id):
            return
        if target == 1 and position is None:
            self._buy(equity * (1.0 - self.config.cash_reserve), bar.close.as_double())
        elif target == 0 and position is not None:
            self._send(OrderSide.SELL, position.quantity)

    def _position(self):
        open_ = self.cache.positions_open(strategy_id=self.id)
        return open_[0] if open_ else None

    def _buy(self, budget: float, price: float) -> None:
        step = self._instrument.size_increment.as_double()
        units = math.floor(budget / price / step) * step
        if units > 0:
            self._send(OrderSide.BUY, Quantity(units, self._instrument.size_precision))

    def _send(self, side: OrderSide, quantity: Quantity) -> None:
        order = self.order_factory.market(self.config.instrument_id, side, quantity)
        self.submit_order(order)
