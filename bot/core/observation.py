"""The router's observation at a decision bar t: one code path for datasets, backtests and live.

`build_observation(bars, stats, config)` reads only the rows it is given (the caller passes the
bars up to and including t) and, of those, only the last `REQUIRED_BARS`. It returns the two
chart views (`bot.core.charts`), the standardised 100 x 17 feature matrix (`bot.core.features`),
the text
summary of MM-DREX Tables 13-14 and the full prompt of the paper's Listing 3. The prompt's
account line (cash, units held, total value) comes from the `Account` the caller passes: the
router actor's live or backtest portfolio; a dataset, which has no portfolio (holdings depend on
the policy being trained), passes a flat book at the backtest capital (`Account.flat`).

Backtests and live trading feed nautilus bars one at a time into a `BarHistory`, whose `frame()`
equals `bot.engine.catalog.from_nautilus_bars` of the same bars; datasets slice the same kind of
frame.
Note that nautilus bars carry prices at the instrument's precision, so a dataset must slice
frames rounded the same way (e.g. read back from the catalog) to match backtests byte for byte.
"""

import hashlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import structlog
from nautilus_trader.model.data import Bar, BarType
from PIL import Image

from bot.core.bars import bar_interval, from_nautilus_bars
from bot.core.charts import chart_views
from bot.core.errors import ConfigError, DataError
from bot.core.features import (
    LOOKBACK,
    REQUIRED_BARS,
    FeatureStats,
    Indicators,
    compute_indicators,
    feature_matrix,
)
from strategies import EXPERTS, STRATEGIES

log = structlog.get_logger(__name__)

PATCH = 28  # Qwen2.5-VL's vision patch: image sides must be multiples of it
_UNITS = {"MINUTE": "m", "HOUR": "h", "DAY": "d"}
_STABLE_VOLATILITY = 0.05  # ATR within +/-5% of its 14-bar mean counts as stable
_VOLUME_MEAN_BARS = 5  # as in Listing 3's "5-day avg"

_EXPERT_TITLES = {
    "trend": "Trend Following Strategies",
    "reversal": "Reversal Strategies",
    "breakout": "Breakout Strategies",
    "position": "Position Strategies",
}
# One line per strategy, with the parameters our implementations use.
DESCRIPTIONS = {
    "MACross": "moving-average crossover (5/20-bar MA golden cross / death cross)",
    "Momentum": "momentum (blended 10-bar rate of change beyond +/-2%)",
    "Turtle": "Turtle trading (20-bar high/low breakout, 10-bar exit)",
    "Bollinger": "Bollinger-band reversal (touch the 20-bar 1.8-sigma band, revert to the middle)",
    "RSI": "RSI reversal (RSI(14) < 35 buy, > 65 sell)",
    "KDJ": "KDJ reversal (J < 10 or K < 20 buy, J > 90 or K > 80 sell)",
    "VolumeBreakout": "volume breakout (20-bar range break with 1.5x the 5-bar volume)",
    "ATRBreakout": "ATR breakout (close beyond MA20 +/- 1.5 x ATR20)",
    "LongOnly": "always hold long",
    "ShortOnly": "always hold short",
    "Cash": "always hold cash (no risk)",
}


@dataclass(frozen=True)
class ObservationConfig:
    """How observations are drawn and worded.

    Parameters
    ----------
    image_size : int
        Side of both square chart views in pixels, a multiple of 28 (Qwen2.5-VL patches).
    alpha : float
        Share of the chart (rightmost bars) that the local view zooms into, in (0, 1].
    symbol : str
        Asset name used in the prompt; empty means "the asset".
    """

    image_size: int = 224
    alpha: float = 0.25
    symbol: str = ""

    def __post_init__(self) -> None:
        if self.image_size < PATCH or self.image_size % PATCH:
            raise ConfigError(
                f"Observation image_size must be a positive multiple of {PATCH} (the vision "
                f"patch size), was {self.image_size}; use e.g. 224 or 448."
            )
        if not 0.0 < self.alpha <= 1.0:
            raise ConfigError(
                f"Observation alpha (the local view's share of the chart) must be in (0, 1], "
                f"was {self.alpha}; the paper's default is 0.25."
            )


@dataclass(frozen=True)
class Account:
    """Listing 3's account line: the venue account's cash, the instrument's units held (net of
    every strategy, signed) and the total (mark-to-market) value, in the quote currency."""

    balance: float
    units: float
    total: float

    @classmethod
    def flat(cls, capital: float) -> "Account":
        """All in cash, nothing held."""
        return cls(balance=capital, units=0.0, total=capital)

    def line(self) -> str:
        """The prompt line, worded as in Listing 3."""
        return (
            f"Account balance: ${self.balance:.2f}, Shares held: {self.units:.6g}, "
            f"Total value: ${self.total:.2f}"
        )


@dataclass(frozen=True, eq=False)
class Observation:
    """What the router sees at one decision.

    `ts` is the OPEN time of the decision bar t in UTC nanoseconds, as in the bar frame's index
    (a nautilus bar's `ts_event` is its close time: ts_event - interval). The arrays are
    read-only: `global_view` and `local_view` are (size, size, 3) uint8 RGB, `features` is
    (LOOKBACK, 17) float32 in `FEATURE_NAMES` order.
    """

    ts: int
    global_view: np.ndarray
    local_view: np.ndarray
    features: np.ndarray
    summary: str
    prompt: str

    def __post_init__(self) -> None:
        for array in (self.global_view, self.local_view, self.features):
            array.setflags(write=False)

    def digest(self) -> str:
        """SHA-256 over every field, for the journal's inputs hash."""
        sha = hashlib.sha256(int(self.ts).to_bytes(8, "big", signed=True))
        for array in (self.global_view, self.local_view, self.features):
            sha.update(f"{array.dtype.str}{array.shape}".encode())
            sha.update(np.ascontiguousarray(array).tobytes())
        for text in (self.summary, self.prompt):
            encoded = text.encode()
            sha.update(len(encoded).to_bytes(8, "big") + encoded)
        return sha.hexdigest()

    def save_chart(self, path: str | Path) -> Path:
        """Write the global view as a PNG (creating folders) and return its path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(self.global_view).save(target, format="PNG")
        return target


def build_observation(
    bars: pd.DataFrame,
    stats: FeatureStats | None = None,
    config: ObservationConfig = ObservationConfig(),  # noqa: B008 - frozen, so safe to share
    account: Account | None = None,
) -> Observation:
    """The observation at the last row of `bars` (a bar frame of the bars up to and including
    t). `stats=None` standardises the features per window (see `bot.core.features`); `account`
    fills the prompt's account line (None leaves the line out). Raises DataError for too few
    bars or non-finite features."""
    ts = int(pd.Timestamp(bars.index[-1]).value)
    return observe(compute_indicators(bars), ts, stats, config, account)


def observe(
    ind: Indicators,
    ts: int,
    stats: FeatureStats | None = None,
    config: ObservationConfig = ObservationConfig(),  # noqa: B008 - frozen, so safe to share
    account: Account | None = None,
) -> Observation:
    """`build_observation` from the indicators of its bars (`compute_indicators`) and the
    decision bar's open time `ts` (ns): for a caller that reads the same indicators for
    something else too (the dataset's raw features), so they are computed once."""
    features = feature_matrix(ind, stats)
    global_view, local_view = chart_views(ind, config.image_size, config.alpha)
    summary = market_summary(ind)
    return Observation(
        ts=ts,
        global_view=global_view,
        local_view=local_view,
        features=features,
        summary=summary,
        prompt=build_prompt(ind, summary, config.symbol, account),
    )


@dataclass(frozen=True)
class _Reading:
    """The numbers of Tables 13-14 at bar t."""

    latest_return: float
    amplitude: float
    volume_ratio: float
    volatility: float
    atr: float
    atr_change: float
    ma_order: str
    rsi_zone: str
    band_width: float
    band_position: float
    prior_volume: float


def _read(ind: Indicators) -> _Reading:
    close, previous = ind.close[-1], ind.close[-2]
    log_returns = np.diff(np.log(ind.window("close", LOOKBACK + 1)))
    prior_volume = ind.volume[-_VOLUME_MEAN_BARS - 1 : -1].mean()
    prior_atr = ind.atr[-15:-1].mean()
    upper, middle, lower = ind.boll_upper[-1], ind.boll_middle[-1], ind.boll_lower[-1]
    return _Reading(
        latest_return=close / previous - 1.0,
        amplitude=(ind.high[-1] - ind.low[-1]) / previous,
        volume_ratio=ind.volume[-1] / prior_volume if prior_volume > 0 else 0.0,
        volatility=float(np.std(log_returns, ddof=1)),
        atr=float(ind.atr[-1]),
        atr_change=ind.atr[-1] / prior_atr - 1.0,
        ma_order=_ma_order(ind.ma10[-1], ind.ma20[-1], ind.ma100[-1]),
        rsi_zone=_rsi_zone(ind.rsi[-1]),
        band_width=(upper - lower) / middle,
        band_position=(close - lower) / (upper - lower) if upper > lower else 0.5,
        prior_volume=float(prior_volume),
    )


def _ma_order(ma10: float, ma20: float, ma100: float) -> str:
    if ma10 > ma20 > ma100:
        return "bullish"
    if ma10 < ma20 < ma100:
        return "bearish"
    return "mixed"


def _rsi_zone(value: float) -> str:
    if value < 30:
        return "oversold"
    return "overbought" if value > 70 else "neutral"


def _volatility_trend(change: float) -> str:
    if change > _STABLE_VOLATILITY:
        return "increasing"
    return "decreasing" if change < -_STABLE_VOLATILITY else "stable"


_TREND_WORDS = {"bullish": "up-trend", "bearish": "down-trend", "mixed": "no clear trend"}


def market_summary(ind: Indicators) -> str:
    """The text summary of MM-DREX Tables 13-14 at the last bar."""
    r = _read(ind)
    volatility = _volatility_trend(r.atr_change)
    return "\n".join(
        [
            f"Latest return: {r.latest_return:+.2%}",
            f"Price amplitude: {r.amplitude:.2%}",
            f"Volume ratio (vs the {_VOLUME_MEAN_BARS}-bar mean): {r.volume_ratio:.2f}",
            f"Historical volatility ({LOOKBACK}-bar std of log returns): {r.volatility:.2%}",
            f"ATR(14): {_price(r.atr)} ({r.atr / ind.close[-1]:.2%} of price)",
            f"Moving averages: {r.ma_order} order of MA10, MA20, MA100",
            f"RSI(14): {ind.rsi[-1]:.2f} ({r.rsi_zone})",
            f"Bollinger band width ratio: {r.band_width:.2%}",
            f"Volatility: {volatility} (ATR(14) {r.atr_change:+.1%} vs its 14-bar mean)",
            f"Market summary: {_TREND_WORDS[r.ma_order]}, {r.rsi_zone} momentum, {volatility} "
            f"volatility, price at {r.band_position:.0%} of the Bollinger band.",
        ]
    )


def build_prompt(
    ind: Indicators, summary: str, symbol: str = "", account: Account | None = None
) -> str:
    """The full router prompt of MM-DREX Listing 3 (plus our Tables 13-14 summary)."""
    r = _read(ind)
    close = ind.close[-1]
    momentum = close / ind.close[-11] - 1.0
    span = (ind.high[-20:].max() - ind.low[-20:].min()) / close
    lines = [
        "You are a professional quantitative trading expert; you need to choose the best "
        f"trading strategies for {symbol or 'the asset'}.",
        f"Current price: {_price(close)}",
        *([account.line()] if account is not None else []),
        "",
        "Available trading strategies:",
        *_strategy_menu(),
        "Market condition analysis:",
        f"Price data (last 10 bars): [{', '.join(_price(x) for x in ind.close[-10:])}]",
        f"Moving-average system: MA10 = {_price(ind.ma10[-1])}, MA20 = {_price(ind.ma20[-1])}, "
        f"MA100 = {_price(ind.ma100[-1])}",
        f"RSI(14): {ind.rsi[-1]:.2f} ({r.rsi_zone} zone)",
        f"Bollinger bands: Upper = {_price(ind.boll_upper[-1])}, "
        f"Middle = {_price(ind.boll_middle[-1])}, Lower = {_price(ind.boll_lower[-1])}",
        f"Price at Bollinger-band {r.band_position:.1%} position",
        f"KDJ: K = {ind.kdj_k[-1]:.1f}, D = {ind.kdj_d[-1]:.1f}, J = {ind.kdj_j[-1]:.1f}",
        f"Volume: Current = {_amount(ind.volume[-1])}, {_VOLUME_MEAN_BARS}-bar avg = "
        f"{_amount(r.prior_volume)}, Volume ratio = {r.volume_ratio:.2f}",
        f"Price change: {r.latest_return:+.2%}, Amplitude: {r.amplitude:.2%}",
        "",
        "Summary:",
        summary,
        "",
        "Market judgment:",
        f"- Moving averages in {r.ma_order} alignment, {_TREND_WORDS[r.ma_order]}",
        f"- 10-bar momentum: {momentum:+.2%}",
        f"- 20-bar price-volatility range: {span:.2%}",
        "",
        "Based on the above historical data and technical analysis, judge the market regime "
        "(uptrend, downtrend or consolidation), then select the trading strategies most suitable "
        "for the current market conditions.",
    ]
    return "\n".join(lines)


def _strategy_menu() -> list[str]:
    lines: list[str] = []
    for expert in EXPERTS:
        lines.append(f"[{_EXPERT_TITLES[expert]}]")
        lines += [f"- {s.name}: {DESCRIPTIONS[s.name]}" for s in STRATEGIES if s.expert == expert]
        lines.append("")
    return lines


def _price(value: float) -> str:
    return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"


def _amount(value: float) -> str:
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.2f}"


class BarHistory:
    """The last `maxlen` bars of one bar type, pushed one at a time (backtests and live).

    `frame()` is exactly `from_nautilus_bars` of those bars. A bar not later than the last one
    (a replay after a reconnect) is ignored with a warning; another bar type is an error.
    """

    def __init__(self, maxlen: int = REQUIRED_BARS) -> None:
        if maxlen < 1:
            raise ConfigError(f"BarHistory maxlen must be >= 1, was {maxlen}.")
        self._bars: deque[Bar] = deque(maxlen=maxlen)
        self._bar_type: BarType | None = None
        self._size = ""

    def __len__(self) -> int:
        return len(self._bars)

    def push(self, bar: Bar) -> None:
        """Append `bar`, dropping the oldest bar when full."""
        if self._bar_type is None:
            self._bar_type, self._size = bar.bar_type, _bar_size(bar.bar_type)
        elif bar.bar_type != self._bar_type:
            raise DataError(
                f"BarHistory holds {self._bar_type} bars but got a {bar.bar_type} bar; use one "
                "history per bar type."
            )
        if self._bars and bar.ts_event <= self._bars[-1].ts_event:
            log.warning("bar ignored: not after the last bar", bar_type=str(bar.bar_type),
                        ts_event=bar.ts_event, last=self._bars[-1].ts_event)  # fmt: skip
            return
        self._bars.append(bar)

    def frame(self) -> pd.DataFrame:
        """The held bars as a bar frame (open-time index), oldest first."""
        # With no bar yet the size is unknown, and an empty frame does not depend on it.
        return from_nautilus_bars(list(self._bars), self._size or "1d")


def _bar_size(bar_type: BarType) -> str:
    step, unit = str(bar_type.spec).split("-")[:2]
    size = f"{step}{_UNITS.get(unit, unit)}"
    bar_interval(size)  # ConfigError for sizes the bot does not support
    return size
