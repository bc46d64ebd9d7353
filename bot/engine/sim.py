"""The simulated venue: one fresh nautilus BacktestEngine per backtest.

Fill conventions (`FILLS`, checked by tests/strategies/test_sim.py). Strategies see a bar once
it has closed and send market orders from `on_bar`:
- `next_open` (the default): the order fills at the NEXT bar's open, the first price a live node
  can trade at after the decision bar has closed. The engine holds each order in flight for 1 ns
  (nautilus' latency model) and gets, before every bar, a quote at that bar's open, stamped at
  its open time (or 1 ns after the previous bar's close, when bars touch); the order fills on
  that quote. An order sent on the last bar never fills.
- `close`: the order fills at the decision bar's own close, the price that made the signal: an
  optimistic convention kept for comparison with other tools.
Either way the fill is in full, moved against the order by the slippage below; there is no
partial fill and no volume limit (up to 1e9 units per order).

Costs:
- fees: the instrument's taker fee (market orders are takers), `fee_bps` per side of the fill
  notional, in the quote currency; `new_engine` refuses an instrument whose fee differs;
- slippage: `BpsSlippageFillModel` fills buys at ask x (1 + slippage_bps / 1e4) rounded UP to
  the tick, sells at bid x (1 - slippage_bps / 1e4) rounded DOWN. The slippage paid is therefore
  at least `slippage_bps` and at most one tick more (one tick is 1 bp of a $100 stock). The fill
  price carries it, so reports show it in fill prices, not in commissions.
"""

import math
from decimal import Decimal
from typing import Literal

import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.backtest.models import FillModel, LatencyModel
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import Bar, BookOrder, QuoteTick
from nautilus_trader.model.enums import AccountType, BookType, OmsType, OrderSide
from nautilus_trader.model.identifiers import TraderId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Money, Price, Quantity

from bot.core.errors import ConfigError, DataError

_DEPTH = 1_000_000_000  # units available at the slipped price: every order fills in full
FILLS = ("next_open", "close")


class BpsSlippageFillModel(FillModel):
    """Fills market orders in full, `bps` basis points worse than the top of book."""

    def __init__(self, bps: float, random_seed: int | None = None) -> None:
        super().__init__(random_seed=random_seed)
        if not math.isfinite(bps) or bps < 0:
            raise ConfigError(f"slippage_bps={bps} must be a finite number >= 0.")
        self.bps = bps

    def get_orderbook_for_fill_simulation(
        self, instrument: Instrument, order, best_bid: Price, best_ask: Price
    ) -> OrderBook:
        tick = instrument.price_increment.as_double()
        factor = self.bps / 1e4
        # The small epsilon keeps an exact tick multiple from being rounded one tick further.
        ask = math.ceil(best_ask.as_double() * (1 + factor) / tick - 1e-9) * tick
        bid = math.floor(best_bid.as_double() * (1 - factor) / tick + 1e-9) * tick
        book = OrderBook(instrument.id, BookType.L2_MBP)
        size = Quantity(_DEPTH, instrument.size_precision)
        for order_id, (side, price) in enumerate(((OrderSide.BUY, bid), (OrderSide.SELL, ask))):
            level = Price(max(price, tick), instrument.price_precision)
            book.add(BookOrder(side, level, size, order_id + 1), 0, 0)
        return book


def account_for(asset_class: str) -> Literal["margin", "cash"]:
    """The venue account `new_engine` should give `asset_class`: a cash account for spot crypto
    (whose strategies are then long-only), a margin account for everything else."""
    return "cash" if asset_class == "crypto" else "margin"


def new_engine(
    instrument: Instrument,
    bars: list[Bar],
    *,
    capital: float = 100_000,
    account: Literal["margin", "cash"] = "margin",
    fee_bps: float = 10.0,
    slippage_bps: float = 1.0,
    trader_id: str = "BACKTESTER-001",
    log_level: str = "ERROR",
    seed: int = 0,
    fill: str = "next_open",
) -> BacktestEngine:
    """A fresh engine holding one simulated venue, the instrument and its bars.

    The venue is named after the instrument's venue and nets positions. `account="margin"`
    (leverage 1, so shorts work) suits equities, indices and perpetuals; `"cash"` suits spot
    crypto, where strategies must be long-only (`account_for` picks one). `fill` is one of
    `FILLS` (module docstring). Add strategies and actors, then `run()`; an engine is not
    reusable, `dispose()` it after reading its results. More bars go in through `market_data`.
    """
    if fill not in FILLS:
        raise ConfigError(f"fill={fill!r} is unknown; use one of {', '.join(FILLS)}.")
    if account not in ("margin", "cash"):
        raise ConfigError(f"account={account!r} is unknown; use 'margin' or 'cash'.")
    if abs(float(instrument.taker_fee) - fee_bps / 1e4) > 1e-12:
        raise ConfigError(
            f"{instrument.id} charges a taker fee of {float(instrument.taker_fee) * 1e4:g} bps "
            f"but the backtest asks for {fee_bps:g} bps: the fee would silently differ. Build the "
            "instrument with the same fee_bps (bot.engine.instruments.make_instrument)."
        )
    if capital <= 0:
        raise ConfigError(f"capital={capital} must be positive.")
    if not bars:
        raise DataError(
            f"no bars for {instrument.id}: a backtest needs data. Check the requested span "
            "against `bot data list`."
        )
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId(trader_id),
            logging=LoggingConfig(log_level=log_level),
            run_analysis=False,
        )
    )
    is_cash = account == "cash"
    engine.add_venue(
        instrument.id.venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH if is_cash else AccountType.MARGIN,
        starting_balances=[Money(capital, instrument.quote_currency)],
        base_currency=None if is_cash else instrument.quote_currency,
        default_leverage=Decimal(1),
        fill_model=BpsSlippageFillModel(slippage_bps, random_seed=seed),
        # Orders wait in flight for the next open quote (market_data); 0 ns would fill at once.
        latency_model=LatencyModel(base_latency_nanos=1) if fill == "next_open" else None,
    )
    engine.add_instrument(instrument)
    engine.add_data(market_data(bars, instrument, fill), sort=True)
    return engine


def market_data(
    bars: list[Bar], instrument: Instrument, fill: str, previous: Bar | None = None
) -> list[Bar | QuoteTick]:
    """The engine's data for `bars`: the bars alone for `close` fills; for `next_open`, each
    bar preceded by a quote at its open (`previous` is the bar before `bars[0]`, when they
    continue a run)."""
    if fill == "close":
        return list(bars)
    data: list[Bar | QuoteTick] = []
    size = Quantity(_DEPTH, instrument.size_precision)
    for bar in bars:
        if previous is not None:
            opened = bar.ts_event - pd.Timedelta(bar.bar_type.spec.timedelta).value
            ts = max(opened, previous.ts_event + 1)  # after the orders sent at the last close
            data.append(QuoteTick(instrument.id, bar.open, bar.open, size, size, ts, ts))
        data.append(bar)
        previous = bar
    return data
