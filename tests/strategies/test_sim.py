"""The simulated venue: fill convention, slippage, fees and refusals."""

import numpy as np
import pytest
from nautilus_trader.model.objects import Price

from bot.core.errors import ConfigError
from bot.engine.instruments import make_instrument
from bot.engine.sim import BpsSlippageFillModel, new_engine
from tests.strategies.harness import frame, make_strategy, run, to_bars


def _flat(price: float, n: int = 5, volume: float = 1_000.0):
    return frame(np.full(n, price), volume=np.full(n, volume))


def _long_only_fills(instrument, df, **kwargs):
    engine = new_engine(instrument, to_bars(df, instrument), slippage_bps=0.0, **kwargs)
    strategy = make_strategy("LongOnly", instrument)
    strategy.weight = 1.0  # no router: the strategy holds its full weight from the start
    engine.add_strategy(strategy)
    engine.run()
    fills = engine.trader.generate_fills_report()
    engine.dispose()
    return fills


def test_a_market_order_fills_in_full_at_the_next_bar_open_by_default(stock):
    # Decided on bar 0's close (100); bar 1 opens at 100.5: the first price a live node gets.
    df = frame([100.0, 101.0, 102.0], open_=[99.0, 100.5, 101.5], volume=[1.0, 1.0, 1.0])

    fills = _long_only_fills(stock, df)

    assert len(fills) == 1
    fill = fills.iloc[0]
    assert float(fill["last_px"]) == 100.5
    assert df.index[0] < fill["ts_event"] < df.index[1]  # after bar 0, before bar 1 closes
    assert float(fill["last_qty"]) == np.floor(100_000 / 100.0)  # sized at the decision close


def test_same_close_fills_are_an_explicit_option(stock):
    df = frame([100.0, 101.0, 102.0], open_=[99.0, 100.5, 101.5], volume=[1.0, 1.0, 1.0])

    fills = _long_only_fills(stock, df, fill="close")

    fill = fills.iloc[0]
    assert fill["ts_event"] == df.index[0]
    assert float(fill["last_px"]) == 100.0


def test_an_order_decided_on_the_last_bar_never_fills(stock):
    df = frame([100.0], volume=[1.0])

    assert _long_only_fills(stock, df).empty


def test_an_unknown_fill_convention_is_refused(stock):
    with pytest.raises(ConfigError, match="next_open"):
        new_engine(stock, to_bars(_flat(100.0), stock), fill="open")


def test_index_units_are_fractional_and_whole_units_leave_a_sizing_gap():
    # 30% of 10,000 in an index at 5,000 points is 0.6 units: whole units cannot hold it.
    df = frame(np.full(4, 5_000.0), volume=np.full(4, 1_000.0))
    held = {}
    for fractional in (True, False):
        index = make_instrument("IDX", "index", fractional=fractional)
        strategy = make_strategy("LongOnly", index)
        result = run(index, df, [strategy], {0: {"LongOnly": 0.3, "Cash": 0.7}}, capital=10_000)
        held[fractional] = (result.fills_of("LongOnly")["qty"].sum(), strategy.sizing_gap)

    assert held[True][0] == pytest.approx(0.6, rel=1e-3)
    assert abs(held[True][1]) < 1e-5
    assert held[False][0] == 0
    assert held[False][1] == pytest.approx(0.6, rel=1e-3)


@pytest.mark.parametrize(
    ("price", "bps", "ask", "bid"),
    [
        (100.00, 1.0, "100.01", "99.99"),  # exactly 1 bp
        (20.00, 1.0, "20.01", "19.99"),  # 0.5 bp is below one tick: rounded away from the mid
        (100.00, 0.0, "100.00", "100.00"),
        (250.00, 10.0, "250.25", "249.75"),
    ],
)
def test_slippage_is_at_least_the_bps_rounded_away_to_the_tick(stock, price, bps, ask, bid):
    model = BpsSlippageFillModel(bps)
    quote = Price(price, stock.price_precision)

    book = model.get_orderbook_for_fill_simulation(stock, None, quote, quote)

    assert book.best_ask_price() == Price.from_str(ask)
    assert book.best_bid_price() == Price.from_str(bid)


def test_fills_pay_slippage_in_price_and_the_fee_in_commission(stock):
    df = _flat(100.0)
    strategies = [make_strategy("LongOnly", stock), make_strategy("ShortOnly", stock)]

    result = run(stock, df, strategies, {0: {"LongOnly": 0.5, "ShortOnly": 0.5}}, slippage_bps=1.0)

    buy, sell = result.fills_of("LongOnly").iloc[0], result.fills_of("ShortOnly").iloc[0]
    assert (buy["price"], sell["price"]) == (100.01, 99.99)
    for fill in (buy, sell):
        assert fill["commission"] == pytest.approx(
            0.001 * abs(fill["qty"]) * fill["price"], abs=0.01
        )


def test_an_instrument_with_another_fee_is_refused():
    cheap = make_instrument("TEST", "equity", fee_bps=5.0)

    with pytest.raises(ConfigError, match="5 bps"):
        new_engine(cheap, [], fee_bps=10.0)


@pytest.mark.parametrize(
    "kwargs", [{"account": "futures"}, {"capital": 0.0}, {"slippage_bps": -1.0}]
)
def test_bad_engine_settings_are_refused(stock, kwargs):
    with pytest.raises(ConfigError):
        new_engine(stock, to_bars(_flat(100.0), stock), **kwargs)
