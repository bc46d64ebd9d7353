"""Rules of the trend expert's strategies (Algorithms 1-3) on crafted patterns."""

import numpy as np
import pytest

from bot.core.errors import ConfigError
from strategies.indicators import atr, roc, sma
from strategies.ma_cross import MACrossConfig
from tests.strategies import patterns
from tests.strategies.harness import (
    bar_type_for,
    expected_fill_bars,
    sizing_gap,
    trade,
    transitions,
)

WEIGHT = 0.5


def _fill_bars(result, name):
    return result.fills_of(name)["bar"].tolist()


def test_macross_enters_pyramids_stops_out_and_reverses(stock):
    df = patterns.trend_then_crash()
    close = df["close"].to_numpy()

    exposure, result = trade("MACross", df, stock, WEIGHT)

    # golden cross entry, three adds on the widening ramp, stop on the crash, then a death cross
    # with a falling 5-bar trend opens a short that pyramids as the slide continues
    assert transitions(exposure) == [
        (100, 0.25),
        (104, 0.5),
        (105, 0.75),
        (106, 1.0),
        (112, 0.0),
        (114, -0.25),
        (115, -0.5),
        (116, -0.75),
        (117, -1.0),
    ]
    # the exit at 112 is the ATR stop, not a cross: the fast MA is still above the slow one
    assert sma(close[:113], 5)[-1] > sma(close[:113], 20)[-1]
    assert _fill_bars(result, "MACross")[:9] == [100, 104, 105, 106, 112, 114, 115, 116, 117]
    assert _fill_bars(result, "MACross") == expected_fill_bars(result, "MACross", exposure, WEIGHT)
    held = result.held("MACross")
    assert held[111] > 0 and held[112] == 0 and held[117] < 0
    assert np.all(sizing_gap(result, "MACross", exposure, np.full(len(df), WEIGHT)) <= 0)


def test_macross_long_entry_is_a_quarter_of_the_allocation(stock):
    df = patterns.trend_then_crash()

    _, result = trade("MACross", df, stock, WEIGHT)

    first = result.fills_of("MACross").iloc[0]
    expected = WEIGHT * result.equity[100] * 0.25 / df["close"].iloc[100]
    assert first["bar"] == 100
    assert first["qty"] == pytest.approx(expected, abs=1.0)


def test_momentum_pyramids_on_a_volume_surge_and_exits_when_momentum_fades(stock):
    df = patterns.momentum_surge()
    close = df["close"].to_numpy()

    exposure, result = trade("Momentum", df, stock, WEIGHT)

    assert transitions(exposure) == [(101, 0.333), (102, 0.667), (103, 1.0), (119, 0.0)]
    blend = 0.5 * roc(close, 10) + 0.3 * roc(close, 5) + 0.2 * roc(close, 20)
    assert blend[118] >= 0.005 > blend[119]  # the exit is the momentum exit threshold
    assert _fill_bars(result, "Momentum") == [101, 102, 103, 119]
    assert result.held("Momentum")[119] == 0


def test_momentum_stops_out_below_entry_minus_atr(stock):
    df = patterns.momentum_then_drop()
    high, low, close = (df[c].to_numpy() for c in ("high", "low", "close"))

    exposure, result = trade("Momentum", df, stock, WEIGHT)

    assert transitions(exposure) == [(101, 0.333), (102, 0.667), (103, 1.0), (104, 0.0)]
    average_entry = close[101:104].mean()
    assert close[104] < average_entry - 1.5 * atr(high[:105], low[:105], close[:105], 14)[-1]
    assert _fill_bars(result, "Momentum") == [101, 102, 103, 104]
    assert result.held("Momentum")[104] == 0


def test_turtle_pyramids_units_takes_partial_profit_exits_and_goes_short(stock):
    df = patterns.staircase_then_slide()

    exposure, result = trade("Turtle", df, stock, WEIGHT)

    assert transitions(exposure) == [
        (100, 0.2),  # close above the 20-bar high
        (101, 0.4),  # each +1 step is more than 0.5 ATR beyond the last unit
        (102, 0.6),
        (103, 0.8),
        (104, 1.0),  # U = 5 units
        (113, 0.8),  # profit > 10% with several units: one unit taken off, no more adds
        (123, 0.0),  # close below the 10-bar low
        (127, -0.2),  # close below the 20-bar low
        (128, -0.4),
        (129, -0.6),
        (130, -0.8),
        (131, -1.0),
    ]
    held = result.held("Turtle")
    price = df["close"].iloc[113]
    assert held[113] < held[112]  # the partial profit is a sale, down to 4 units' worth
    assert held[113] == pytest.approx(WEIGHT * result.equity[113] * 0.8 / price, abs=1.0)
    assert held[123] == 0 and held[131] < 0
    assert _fill_bars(result, "Turtle") == expected_fill_bars(result, "Turtle", exposure, WEIGHT)


@pytest.mark.parametrize(("fast", "slow"), [(20, 20), (30, 20)])
def test_macross_refuses_a_fast_average_that_is_not_faster(stock, fast, slow):
    with pytest.raises(ConfigError, match=rf"fast={fast} is not below slow={slow}"):
        MACrossConfig(instrument_id=stock.id, bar_type=bar_type_for(stock), fast=fast, slow=slow)
