"""Rules of the breakout expert's strategies (Algorithms 7-8) on crafted patterns."""

from strategies.indicators import atr, donchian, sma
from tests.strategies import patterns
from tests.strategies.harness import trade, transitions

WEIGHT = 0.5


def _hlc(df):
    return (df[c].to_numpy() for c in ("high", "low", "close"))


def test_volume_breakout_pyramids_and_closes_on_volume_exhaustion(stock):
    df = patterns.volume_breakout(
        [101.5, 102.5, 103.5, 104.0, 103.8, 103.0, 102.0, 101.8, 101.5, 101.2],
        [4000, 2500, 2500, 1200, 500, 500, 500, 500, 500, 500],
    )
    high, low, close = _hlc(df)
    volume = df["volume"].to_numpy()
    recent_high, _ = donchian(high, low, 20)

    exposure, result = trade("VolumeBreakout", df, stock, WEIGHT)

    # 100: above the 20-bar high on 4x the 5-bar volume (> 2 x 1.5) -> 2 of 3 layers
    # 101: a new high, volume still high -> the third layer
    # 107: back under the 10-bar MA while the 5-bar volume is below the 20-bar volume
    assert close[100] > recent_high[100] and close[101] > recent_high[101]
    assert transitions(exposure) == [(100, 0.667), (101, 1.0), (107, 0.0)]
    assert close[107] < sma(close, 10)[107]
    assert volume[103:108].mean() < volume[88:108].mean()
    assert result.fills_of("VolumeBreakout")["bar"].tolist() == [100, 101, 107]
    assert result.held("VolumeBreakout")[107] == 0


def test_volume_breakout_stops_out_at_entry_minus_atr(stock):
    df = patterns.volume_breakout([101.5, 98.0, 97.0], [2000, 1000, 1000])
    high, low, close = _hlc(df)

    exposure, result = trade("VolumeBreakout", df, stock, WEIGHT)

    # 2x volume: a breakout, but not a strong one -> 1 layer; the stop is fixed at entry
    stop = close[100] - 1.8 * atr(high, low, close, 14)[100]
    assert transitions(exposure) == [(100, 0.333), (101, 0.0)]
    assert close[101] < stop
    assert result.held("VolumeBreakout")[100] > 0 and result.held("VolumeBreakout")[101] == 0


def test_atr_breakout_enters_above_the_channel_adds_and_exits_inside_it(stock):
    df = patterns.volume_breakout(
        [101.5, 102.5, 103.5, 104.5, 104.0, 103.0, 102.5, 102.0], [1000] * 8
    )
    high, low, close = _hlc(df)
    ma, band = sma(close, 20), atr(high, low, close, 20)

    exposure, result = trade("ATRBreakout", df, stock, WEIGHT)

    assert close[101] < ma[101] + 1.5 * band[101] < close[102]  # first close above the channel
    assert transitions(exposure) == [(102, 0.333), (103, 0.667), (107, 0.0)]
    assert close[107] < ma[107] + 0.75 * band[107]  # back inside the exit line
    assert result.fills_of("ATRBreakout")["bar"].tolist() == [102, 103, 107]
    assert result.held("ATRBreakout")[107] == 0


def test_atr_breakout_shorts_below_the_channel(stock):
    df = patterns.volume_breakout([98.5, 97.5, 96.5, 97.5, 98.5, 99.0], [1000] * 6)
    high, low, close = _hlc(df)
    ma, band = sma(close, 20), atr(high, low, close, 20)

    exposure, result = trade("ATRBreakout", df, stock, WEIGHT)

    assert close[102] < ma[102] - 1.5 * band[102]
    assert transitions(exposure) == [(102, -0.333), (104, 0.0)]
    assert close[104] > ma[104] - 0.75 * band[104]
    assert result.held("ATRBreakout")[102] < 0 and result.held("ATRBreakout")[104] == 0
