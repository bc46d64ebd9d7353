"""The incremental indicators against the windowed numpy ones they replace, and their sharing."""

import numpy as np
import pytest

from bot.core.errors import ConfigError
from strategies import build_strategies
from strategies.bar_indicators import BarIndicators
from strategies.indicators import atr, bollinger, donchian, kdj, roc, rsi, sma, volume_ratio
from tests.strategies import patterns
from tests.strategies.harness import bar_type_for, frame, make_strategy, signals, to_bars

WINDOW = 100  # the strategies' default warm-up: the window the old values were computed over


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(5)
    n = 260
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    high = close + rng.uniform(0.1, 1.0, n)
    low = close - rng.uniform(0.1, 1.0, n)
    volume = rng.uniform(500, 1500, n)
    return high, low, close, volume


def _feed(series, ask):
    """Feed the series bar by bar; per bar, what each line reads then (as `ask` named them)."""
    high, low, close, volume = series
    hub = BarIndicators(None)
    lines = {name: request(hub) for name, request in ask.items()}
    readings = {name: [] for name in ask}
    for t in range(len(close)):
        hub.update(t, close[t], high[t], low[t], close[t], volume[t])
        for name, line in lines.items():
            readings[name].append(line[-1])
    return {name: np.array(values) for name, values in readings.items()}


def _windowed(function, arrays, t):
    """The old value at bar t: the function over the trailing window ending at t."""
    return function(*(a[t - WINDOW + 1 : t + 1] for a in arrays))


def test_window_free_indicators_equal_their_windowed_values(series):
    high, low, close, volume = series
    new = _feed(
        series,
        {
            "sma": lambda hub: hub.sma(20),
            "roc": lambda hub: hub.roc(5),
            "bands": lambda hub: hub.bollinger(20, 1.8),
            "channel": lambda hub: hub.channel(20),
            "ratio": lambda hub: hub.volume_ratio(20),
            "kdj": lambda hub: hub.kdj(9),
        },
    )
    for t in range(WINDOW - 1, len(close)):
        assert new["sma"][t] == pytest.approx(_windowed(lambda c: sma(c, 20), [close], t)[-1])
        assert new["roc"][t] == pytest.approx(_windowed(lambda c: roc(c, 5), [close], t)[-1])
        bands = [b[-1] for b in _windowed(lambda c: bollinger(c, 20, 1.8), [close], t)]
        assert new["bands"][t] == pytest.approx(bands)
        old_channel = [x[-1] for x in _windowed(lambda h, lo: donchian(h, lo, 20), [high, low], t)]
        assert new["channel"][t - 1] == pytest.approx(old_channel)  # the bars before t
        old_ratio = _windowed(lambda v: volume_ratio(v, 20), [volume], t)[-1]
        assert new["ratio"][t] == pytest.approx(old_ratio)
        old_kdj = _windowed(lambda h, lo, c: kdj(h, lo, c, 9), [high, low, close], t)
        assert new["kdj"][t] == pytest.approx([x[-1] for x in old_kdj])


def test_wilder_indicators_differ_from_windowed_ta_lib_only_by_the_seed(series):
    high, low, close, _ = series
    new = _feed(series, {"atr": lambda hub: hub.atr(14), "rsi": lambda hub: hub.rsi(14)})
    for t in range(WINDOW - 1, len(close)):
        old_atr = _windowed(lambda h, lo, c: atr(h, lo, c, 14), [high, low, close], t)[-1]
        # the windowed ta-lib value still carries its own seed at (13/14)**86 ~ 2e-3
        assert new["atr"][t] == pytest.approx(old_atr, rel=2e-3)
        assert new["rsi"][t] == pytest.approx(
            _windowed(lambda c: rsi(c, 14), [close], t)[-1], abs=0.2
        )


def test_lines_are_nan_until_their_look_back_fills(series):
    new = _feed(series, {"sma": lambda hub: hub.sma(20), "atr": lambda hub: hub.atr(14)})
    assert np.isnan(new["sma"][:19]).all() and not np.isnan(new["sma"][19:]).any()
    assert np.isnan(new["atr"][:13]).all() and not np.isnan(new["atr"][13:]).any()


def test_the_eleven_strategies_share_one_instance_fed_once_per_bar(stock):
    bar_type = bar_type_for(stock)
    strategies = build_strategies(stock.id, bar_type)
    shared = {id(s.indicators) for s in strategies}
    atrs = {id(s.atr) for s in strategies if s.name in ("MACross", "RSI", "KDJ")}
    bars = to_bars(frame(100 + np.sin(np.arange(150) / 5) * 10), stock)

    together = np.array([[s.signal(bar) for s in strategies] for bar in bars])

    assert len(shared) == 1 and len(atrs) == 1
    for i, strategy in enumerate(strategies):  # each alone, on indicators of its own
        alone = signals(make_strategy(strategy.name, stock), bars)
        assert np.array_equal(together[:, i], alone), strategy.name


def test_sharing_indicators_on_other_bars_or_after_the_first_bar_is_refused(stock, btc):
    strategy = build_strategies(stock.id, bar_type_for(stock))[0]
    with pytest.raises(ConfigError, match="only on the same bars"):
        strategy.share_indicators(BarIndicators(bar_type_for(btc)))
    strategy.signal(to_bars(frame([100.0]), stock)[0])
    with pytest.raises(ConfigError, match="before the first"):
        strategy.share_indicators(BarIndicators(bar_type_for(stock)))


def test_the_warm_up_history_of_one_request_reaches_every_strategy_in_step(stock):
    bars = to_bars(patterns.regime(), stock)[:220]
    strategies = build_strategies(stock.id, bar_type_for(stock))

    for bar in bars:
        strategies[0].on_historical_data(bar)  # unregistered: any order attempt would fail it

    for strategy in strategies:
        alone = make_strategy(strategy.name, stock)
        expected = signals(alone, bars)[-1]
        assert strategy.failure is None and strategy.window.count == len(bars), strategy.name
        assert strategy.target == expected and strategy.layers == alone.layers, strategy.name
    assert any(s.layers.side != 0 for s in strategies if s.name not in ("LongOnly", "ShortOnly"))


def test_the_strategies_share_one_bar_window_as_deep_as_the_deepest_warm_up(stock):
    strategies = build_strategies(stock.id, bar_type_for(stock))
    bars = to_bars(frame(100 + np.arange(5.0)), stock)

    for bar in bars:
        for strategy in strategies:
            strategy.signal(bar)

    window = strategies[0].window
    assert all(s.window is window for s in strategies)
    assert window.capacity == max(s.config.warmup_bars for s in strategies)
    assert window.count == len(bars) and list(window.close) == [100.0, 101.0, 102.0, 103.0, 104.0]
    with pytest.raises(ValueError, match="before the first"):
        window.deepen(window.capacity + 1)
