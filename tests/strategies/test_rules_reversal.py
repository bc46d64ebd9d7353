"""Rules of the reversal expert's strategies (Algorithms 4-6) on crafted patterns."""

import numpy as np

from strategies.indicators import bollinger, kdj, rsi
from tests.strategies import patterns
from tests.strategies.harness import expected_fill_bars, trade, transitions

WEIGHT = 0.5
RECOVERY = list(1.01 ** np.arange(1, 11)) + [1.01**10 * 0.995, 1.01**10 * 0.995 * 0.99]


def _fills(result, name):
    return result.fills_of(name)["bar"].tolist()


def test_bollinger_buys_a_heavy_spike_below_the_band_and_exits_at_the_middle(stock):
    df = patterns.spike(-1, [95.5, 97.0, 98.5, 100.2, 99.8, 99.5])
    close = df["close"].to_numpy()
    upper, middle, lower = bollinger(close, 20, 1.8)

    exposure, result = trade("Bollinger", df, stock, WEIGHT)

    # below the band with volume and a 5-bar drop (score 2 -> 2 of 3 layers); back above the
    # middle band, the first down bar closes it
    assert close[100] < lower[100]
    assert transitions(exposure) == [(100, 0.667), (105, 0.0)]
    assert close[104] >= middle[104] and close[105] >= middle[105] and close[105] < close[104]
    assert _fills(result, "Bollinger") == [100, 105]
    assert result.held("Bollinger")[100] > 0 and result.held("Bollinger")[105] == 0


def test_bollinger_adds_when_more_extreme_then_stops_out(stock):
    df = patterns.spike(-1, [95.0, 94.0, 93.0, 92.0, 91.0])

    exposure, result = trade("Bollinger", df, stock, WEIGHT)

    # 3 bars after entry and 0.5 ATR lower: the third layer; then the ATR stop
    assert transitions(exposure) == [(100, 0.667), (103, 1.0), (105, 0.0)]
    assert _fills(result, "Bollinger") == [100, 103, 105]
    assert result.held("Bollinger")[105] == 0


def test_bollinger_shorts_a_heavy_spike_above_the_band(stock):
    df = patterns.spike(1, [104.5, 103.0, 101.5, 99.8, 100.2])

    exposure, result = trade("Bollinger", df, stock, WEIGHT)

    # the mirrored rule: back below the middle band, the first UP bar closes the short
    assert transitions(exposure) == [(100, -0.667), (105, 0.0)]
    assert result.held("Bollinger")[100] < 0 and result.held("Bollinger")[105] == 0


def test_rsi_buys_a_bounce_from_oversold_and_exits_as_rsi_turns_down_above_50(stock):
    df = patterns.plunge_then_bounce([*(1.01 ** np.arange(1, 8)), 1.01**7 * 0.997, 1.01**7 * 0.99])
    close = df["close"].to_numpy()
    values = rsi(close, 14)

    exposure, result = trade("RSI", df, stock, WEIGHT)

    # the bounce bar: RSI < 35, rising, on a volume spike, still < 25 -> score 3 -> 2 layers
    assert values[106] < 25 and values[106] > values[105]
    assert transitions(exposure) == [(106, 0.667), (114, 0.0)]
    # mean reversion done: RSI above 50 and falling, before the 8% profit target
    assert 50 < values[114] < values[113] and close[114] / close[106] - 1 < 0.08
    assert _fills(result, "RSI") == [106, 114]
    assert result.held("RSI")[106] > 0 and result.held("RSI")[114] == 0


def test_rsi_takes_profit_above_8_percent_with_rsi_above_60(stock):
    df = patterns.plunge_then_bounce(RECOVERY)
    close = df["close"].to_numpy()
    values = rsi(close, 14)

    exposure, result = trade("RSI", df, stock, WEIGHT)

    assert transitions(exposure) == [(106, 0.667), (116, 0.0)]
    assert values[116] > 60 and values[116] > values[115]  # not the mean-reversion exit
    assert close[116] / close[106] - 1 > 0.08
    assert _fills(result, "RSI") == expected_fill_bars(result, "RSI", exposure, WEIGHT)
    assert result.held("RSI")[116] == 0


def test_rsi_adds_a_layer_on_a_further_drop(stock):
    df = patterns.plunge_then_bounce([0.96, *list(0.96 * 1.01 ** np.arange(1, 12))])

    exposure, result = trade("RSI", df, stock, WEIGHT)

    assert transitions(exposure) == [(106, 0.667), (107, 1.0)]
    fills = result.fills_of("RSI")
    assert fills["bar"].tolist()[:2] == [106, 107] and (fills["qty"][:2] > 0).all()


def test_kdj_buys_oversold_on_volume_adds_on_a_golden_cross_and_takes_profit(stock):
    df = patterns.plunge_then_bounce(RECOVERY)
    close = df["close"].to_numpy()
    k, d, j = kdj(*(df[c].to_numpy() for c in ("high", "low", "close")))

    exposure, result = trade("KDJ", df, stock, WEIGHT)

    # 106: K < 20, an up bar on 2x volume (score 2, no cross yet) -> 1 layer
    assert k[106] < 20 and close[106] > close[105] and not k[106] > d[106]
    # 108: a new golden cross with K < 30 adds a layer
    assert k[107] <= d[107] and k[108] > d[108] and k[108] < 30
    assert transitions(exposure) == [(106, 0.333), (108, 0.667), (115, 0.0)]
    # 115: profit on the average entry above 8% with J above 70
    assert close[115] / close[[106, 108]].mean() - 1 > 0.08 and j[115] > 70
    assert _fills(result, "KDJ") == expected_fill_bars(result, "KDJ", exposure, WEIGHT)
    assert result.held("KDJ")[108] > result.held("KDJ")[106] > 0 == result.held("KDJ")[115]


def test_kdj_shorts_overbought_on_heavy_selling_and_mirrors_the_long_rules(stock):
    df = patterns.rally_then_fade()
    close = df["close"].to_numpy()
    k, d, j = kdj(*(df[c].to_numpy() for c in ("high", "low", "close")))

    exposure, result = trade("KDJ", df, stock, WEIGHT)

    # 109: J > 90 and K > 80, a down bar on 2x volume (no death cross) -> short 1 layer
    assert j[109] > 90 and k[109] > 80 and k[109] > d[109] and close[109] < close[108]
    # 110: a death cross with K > 70, the mirror of a golden cross with K < 30, adds a layer
    assert k[110] < d[110] and k[110] > 70
    assert transitions(exposure) == [(109, -0.333), (110, -0.667), (114, 0.0)]
    held = result.held("KDJ")
    assert held[110] < held[109] < 0 and held[114] == 0
