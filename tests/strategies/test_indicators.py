"""Indicator math and the bar ring buffer."""

import numpy as np
import pytest

from strategies.indicators import (
    BarWindow,
    adx,
    atr,
    bollinger,
    donchian,
    kdj,
    macd,
    roc,
    rsi,
    sma,
    volume_ratio,
)


@pytest.fixture(scope="module")
def ohlc():
    rng = np.random.default_rng(11)
    close = 100 + np.cumsum(rng.normal(0, 1, 200))
    high = close + rng.uniform(0.1, 1.0, 200)
    low = close - rng.uniform(0.1, 1.0, 200)
    return high, low, close


def test_kdj_follows_the_chinese_recursion(ohlc):
    high, low, close = ohlc
    k_ref, d_ref = [], []
    k_prev = d_prev = 50.0
    for t in range(8, len(close)):
        hh, ll = high[t - 8 : t + 1].max(), low[t - 8 : t + 1].min()
        rsv = 100 * (close[t] - ll) / (hh - ll)
        k_prev = (2 * k_prev + rsv) / 3
        d_prev = (2 * d_prev + k_prev) / 3
        k_ref.append(k_prev)
        d_ref.append(d_prev)

    k, d, j = kdj(high, low, close, 9)

    assert np.isnan(k[:8]).all()
    np.testing.assert_allclose(k[8:], k_ref, rtol=1e-12)
    np.testing.assert_allclose(d[8:], d_ref, rtol=1e-12)
    np.testing.assert_allclose(j, 3 * k - 2 * d)


def test_kdj_is_neutral_on_a_flat_range():
    flat = np.full(30, 10.0)

    k, d, _ = kdj(flat, flat, flat, 9)

    assert k[-1] == pytest.approx(50.0) and d[-1] == pytest.approx(50.0)


def test_donchian_excludes_the_current_bar(ohlc):
    high, low, _ = ohlc

    upper, lower = donchian(high, low, 20)

    assert np.isnan(upper[20 - 1])
    assert upper[50] == high[30:50].max() and lower[50] == low[30:50].min()


def test_atr_is_wilder_smoothed(ohlc):
    high, low, close = ohlc
    true_range = np.maximum(high[1:], close[:-1]) - np.minimum(low[1:], close[:-1])

    values = atr(high, low, close, 14)

    # Wilder: ATR_t = (13 ATR_{t-1} + TR_t) / 14, not a simple average
    np.testing.assert_allclose(values[30:], (13 * values[29:-1] + true_range[29:]) / 14)


def test_rsi_is_on_the_0_to_100_scale(ohlc):
    _, _, close = ohlc

    values = rsi(close, 14)

    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 100 and np.nanmax(values) > 1
    assert rsi(np.arange(1.0, 40.0), 14)[-1] == pytest.approx(100.0)


def test_bollinger_uses_the_population_deviation(ohlc):
    _, _, close = ohlc

    upper, middle, lower = bollinger(close, 20, 1.8)

    np.testing.assert_allclose(middle[19:], sma(close, 20)[19:])
    assert upper[60] - middle[60] == pytest.approx(1.8 * close[41:61].std(ddof=0))
    assert middle[60] - lower[60] == pytest.approx(upper[60] - middle[60])


def test_macd_histogram_is_line_minus_signal_and_adx_is_bounded(ohlc):
    high, low, close = ohlc

    line, signal, hist = macd(close)
    strength, plus, minus = adx(high, low, close, 14)

    np.testing.assert_allclose(hist[40:], line[40:] - signal[40:])
    for series in (strength, plus, minus):
        assert np.nanmin(series) >= 0 and np.nanmax(series) <= 100


def test_roc_and_volume_ratio_look_back_only():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])

    assert roc(x, 2)[4] == pytest.approx(16 / 4 - 1)
    assert volume_ratio(x, 2)[4] == pytest.approx(16 / 6)  # the mean of the 2 bars before


def test_bar_window_keeps_the_last_bars_in_order_as_contiguous_views():
    window = BarWindow(4)

    for i in range(3):
        window.push(i, i + 1, i - 1, i + 0.5, 10 * i)
    partial = window.close.copy()
    for i in range(3, 10):
        window.push(i, i + 1, i - 1, i + 0.5, 10 * i)

    np.testing.assert_array_equal(partial, [0.5, 1.5, 2.5])
    np.testing.assert_array_equal(window.close, [6.5, 7.5, 8.5, 9.5])
    np.testing.assert_array_equal(window.volume, [60, 70, 80, 90])
    assert len(window) == 4 and window.count == 10
    assert window.high.flags["C_CONTIGUOUS"]
