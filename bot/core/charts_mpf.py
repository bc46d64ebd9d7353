"""The router's chart drawn by mplfinance: the reference the fast renderer (bot.core.charts) meets.

The same panels, layout and value ranges as `bot.core.charts.chart_canvas`, in mplfinance's "yahoo"
style (the style of the human reports), on axes that fill the figure edge to edge: bar i sits on
x = i, the x limits are (-0.5, LOOKBACK - 0.5) and each panel's y limits add the same `PAD`, so a
candle lands on the same pixel columns and rows in both renderings. A test compares them
structurally; the benchmark times dataset building with each (this one is some 50x slower).
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mplfinance as mpf  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from bot.core.charts import (
    CANVAS_ASPECT,
    KDJ_LEVELS,
    PAD,
    RSI_LEVELS,
    panel_bounds,
    panel_ranges,
    views_of,
)
from bot.core.features import LOOKBACK, Indicators  # noqa: E402

_DPI = 100
_STYLE = mpf.make_mpf_style(base_mpf_style="yahoo")


def reference_canvas(ind: Indicators, height: int) -> Image.Image:
    """The chart as mplfinance draws it, the size of `bot.core.charts.chart_canvas(ind, height)`."""
    width = height * CANVAS_ASPECT
    fig = mpf.figure(style=_STYLE, figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    try:
        axes = _axes(fig, height)
        ranges = panel_ranges(ind)
        mpf.plot(
            _ohlcv(ind),
            type="candle",
            ax=axes[0],
            volume=axes[1],
            addplot=_addplots(ind, axes),
            xlim=(-0.5, LOOKBACK - 0.5),
            ylim=_limits(*ranges[0]),
            warn_too_much_data=LOOKBACK + 1,
        )
        for ax, (lo, hi) in zip(axes, ranges, strict=True):
            ax.set_axis_off()
            ax.set_xlim(-0.5, LOOKBACK - 0.5)
            ax.set_ylim(*_limits(lo, hi))
        fig.canvas.draw()
        pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3]
        return Image.fromarray(np.ascontiguousarray(pixels))
    finally:
        plt.close(fig)


def reference_views(ind: Indicators, size: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """`bot.core.charts.chart_views`, with the canvas drawn by mplfinance."""
    return views_of(reference_canvas(ind, size * 2), size, alpha)


def _axes(fig, height: int) -> list:
    bounds = panel_bounds(height)
    return [
        fig.add_axes((0.0, 1.0 - bottom / height, 1.0, (bottom - top) / height))
        for top, bottom in zip(bounds, bounds[1:], strict=False)
    ]


def _limits(lo: float, hi: float) -> tuple[float, float]:
    # bot.core.charts leaves PAD of each panel blank above hi and below lo.
    span = hi - lo if hi > lo else 1.0
    margin = span * PAD / (1.0 - 2.0 * PAD)
    return lo - margin, lo + span + margin


def _ohlcv(ind: Indicators) -> pd.DataFrame:
    names = ("open", "high", "low", "close", "volume")
    index = pd.date_range("2000-01-03", periods=LOOKBACK, freq="D")  # mplfinance wants dates
    return pd.DataFrame({name.capitalize(): ind.window(name) for name in names}, index=index)


def _addplots(ind: Indicators, axes: list) -> list[dict]:
    price, _, macd, rsi, kdj = axes
    upper, lower = ind.window("boll_upper"), ind.window("boll_lower")
    band = dict(y1=upper, y2=lower, color="#e3eaf5", zorder=0)  # under the candles
    lines = [mpf.make_addplot(upper, ax=price, color="#9fb4d8", fill_between=band)]
    lines.append(mpf.make_addplot(lower, ax=price, color="#9fb4d8"))
    for name, colour in (("ma10", "tab:blue"), ("ma20", "tab:orange"), ("ma100", "tab:purple")):
        lines.append(mpf.make_addplot(ind.window(name), ax=price, color=colour))
    hist = ind.window("macd_hist")
    colours = np.where(hist >= 0, "#4dc790", "#fd6b6c").tolist()
    lines.append(mpf.make_addplot(hist, ax=macd, type="bar", color=colours))
    lines.append(mpf.make_addplot(ind.window("macd"), ax=macd, color="tab:blue"))
    lines.append(mpf.make_addplot(ind.window("macd_signal"), ax=macd, color="tab:orange"))
    lines.append(mpf.make_addplot(ind.window("rsi"), ax=rsi, color="tab:purple"))
    for level in RSI_LEVELS:
        lines.append(mpf.make_addplot(np.full(LOOKBACK, level), ax=rsi, color="#e2e2e2"))
    for name, colour in (("kdj_k", "tab:blue"), ("kdj_d", "tab:orange"), ("kdj_j", "tab:purple")):
        lines.append(mpf.make_addplot(ind.window(name), ax=kdj, color=colour))
    for level in KDJ_LEVELS:
        lines.append(mpf.make_addplot(np.full(LOOKBACK, level), ax=kdj, color="#e2e2e2"))
    return lines
