"""The chart the router sees, rasterised straight into a pixel canvas (matplotlib is ~100x slower).

One chart of the last `LOOKBACK` bars, top to bottom: candles with the Bollinger band (shaded,
20 bars, 2 sigma) and MA10/20/100; volume; MACD(12, 26, 9) with its histogram; RSI(14) with the
30/70 lines; KDJ(9) with the 20/80 lines. Colours follow mplfinance's "yahoo" style (green up,
red down, grey wicks, light face) with matplotlib's tab10 colours for the lines.

The chart is drawn at twice the output height and four times as wide, then box-filtered:
- global view: the whole chart resized to size x size;
- local view: the rightmost `alpha` share (the last 25 bars at the default 0.25) cropped and
  resized to size x size, so it is a sharp zoom on the bars just before the decision.
Panel names are written on each view after resizing, so that they stay legible. Drawing uses
integer pixel coordinates only, so the same bars always give the same bytes.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bot.core.features import LOOKBACK, Indicators

_SUPERSAMPLE = 2
CANVAS_ASPECT = 4  # width / height: the default alpha's crop is square before resizing
_BODY = 0.34  # half the candle body width, as a share of one bar's slot
_FACE = "#fafafa"
_UP, _DOWN, _WICK = "#00b060", "#fe3032", "#606060"
_VOLUME_UP, _VOLUME_DOWN = "#4dc790", "#fd6b6c"
_BAND_FILL, _BAND_EDGE = "#e3eaf5", "#9fb4d8"
_BLUE, _ORANGE, _PURPLE = "#1f77b4", "#ff7f0e", "#9467bd"
_SEPARATOR, _LEVEL = "#a8a8a8", "#e2e2e2"
_MOVING_AVERAGES = (("ma10", _BLUE), ("ma20", _ORANGE), ("ma100", _PURPLE))
_TEXT = "#404040"
# (name, share of the height), top to bottom.
LAYOUT = (("", 0.46), ("VOL", 0.12), ("MACD", 0.14), ("RSI", 0.14), ("KDJ", 0.14))
PAD = 0.06  # blank share at the top and bottom of each panel
RSI_LEVELS, KDJ_LEVELS = (30.0, 70.0), (20.0, 80.0)


@dataclass(frozen=True)
class _Panel:
    top: int
    bottom: int
    lo: float
    hi: float

    def y(self, values: np.ndarray) -> np.ndarray:
        span = self.hi - self.lo if self.hi > self.lo else 1.0
        inner = (self.bottom - self.top) * (1.0 - 2.0 * PAD)
        pixels = self.bottom - (self.bottom - self.top) * PAD - (values - self.lo) / span * inner
        return np.rint(pixels).astype(np.int64)


def chart_views(ind: Indicators, size: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The global and local views, each a (size, size, 3) uint8 array."""
    return views_of(chart_canvas(ind, size * _SUPERSAMPLE), size, alpha)


def chart_canvas(ind: Indicators, height: int) -> Image.Image:
    """The whole chart before resizing: `height` pixels high and `CANVAS_ASPECT` times as wide,
    bar i centred on pixel column round((i + 0.5) * width / LOOKBACK)."""
    width = height * CANVAS_ASPECT
    canvas = Image.new("RGB", (width, height), _FACE)
    _draw_chart(ImageDraw.Draw(canvas), ind, width, height)
    return canvas


def views_of(canvas: Image.Image, size: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The global and local views of a chart canvas (from any renderer), with panel names."""
    width, height = canvas.size
    crop = canvas.crop((width - round(alpha * width), 0, width, height))
    return _finish(canvas, size), _finish(crop, size)


def panel_bounds(height: int) -> list[int]:
    """The top pixel row of each panel in `LAYOUT`, then the bottom row, for a chart this high."""
    shares = np.cumsum([0.0] + [share for _, share in LAYOUT])
    return [round(s * height) for s in shares]


def _finish(image: Image.Image, size: int) -> np.ndarray:
    width, height = image.size
    if width % size or height % size:
        view = image.resize((size, size), Image.Resampling.BOX)
    else:  # an exact box filter, twice as fast as resize() for whole factors
        view = image.reduce((width // size, height // size))
    draw = ImageDraw.Draw(view)
    font = _font()
    for (name, _), top in zip(LAYOUT, panel_bounds(size), strict=False):
        if name:
            draw.text((2, top + 1), name, fill=_TEXT, font=font)
    return np.asarray(view, dtype=np.uint8)


@cache
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=9)


def panel_ranges(ind: Indicators) -> list[tuple[float, float]]:
    """The value range each panel of `LAYOUT` spans (before its `PAD` margins)."""
    price = [ind.window(name) for name in ("boll_upper", "boll_lower", "low", "high")]
    price += [ind.window(name) for name, _ in _MOVING_AVERAGES]
    macd = [ind.window(name) for name in ("macd", "macd_signal", "macd_hist")]
    kdj = [ind.window(name) for name in ("kdj_k", "kdj_d", "kdj_j")]
    return [
        _range(price),
        (0.0, float(np.max(ind.window("volume")))),
        _range([*macd, np.zeros(1)]),
        (0.0, 100.0),
        _range([*kdj, np.array([0.0, 100.0])]),
    ]


def _draw_chart(draw: ImageDraw.ImageDraw, ind: Indicators, width: int, height: int) -> None:
    tops = panel_bounds(height)
    slot = width / LOOKBACK
    centres = np.rint((np.arange(LOOKBACK) + 0.5) * slot).astype(np.int64)
    half = max(1, round(_BODY * slot))
    price, volume, macd_panel, rsi_panel, kdj_panel = (
        _Panel(top, bottom, lo, hi)
        for top, bottom, (lo, hi) in zip(tops[:-1], tops[1:], panel_ranges(ind), strict=True)
    )
    _draw_price(draw, ind, price, centres, half)
    rising = ind.window("close") >= ind.window("open")
    _draw_bars(draw, volume, centres, half, ind.window("volume"), rising)
    macd = [ind.window(name) for name in ("macd", "macd_signal", "macd_hist")]
    _draw_bars(draw, macd_panel, centres, half, macd[2], macd[2] >= 0)
    _draw_lines(draw, macd_panel, centres, [(macd[0], _BLUE), (macd[1], _ORANGE)])
    _draw_levels(draw, rsi_panel, width, RSI_LEVELS)
    _draw_lines(draw, rsi_panel, centres, [(ind.window("rsi"), _PURPLE)])
    kdj = [ind.window(name) for name in ("kdj_k", "kdj_d", "kdj_j")]
    _draw_levels(draw, kdj_panel, width, KDJ_LEVELS)
    _draw_lines(draw, kdj_panel, centres, list(zip(kdj, (_BLUE, _ORANGE, _PURPLE), strict=True)))
    for top in tops[1:-1]:
        draw.line([(0, top), (width, top)], fill=_SEPARATOR, width=_SUPERSAMPLE)


def _range(series: Sequence[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate(series)
    return float(np.min(values)), float(np.max(values))


def _draw_price(
    draw: ImageDraw.ImageDraw, ind: Indicators, panel: _Panel, xs: np.ndarray, half: int
) -> None:
    upper, lower = panel.y(ind.window("boll_upper")), panel.y(ind.window("boll_lower"))
    outline = np.concatenate([np.column_stack([xs, upper]), np.column_stack([xs, lower])[::-1]])
    draw.polygon([tuple(point) for point in outline.tolist()], fill=_BAND_FILL)
    _draw_lines(draw, panel, xs, [(ind.window("boll_upper"), _BAND_EDGE)])
    _draw_lines(draw, panel, xs, [(ind.window("boll_lower"), _BAND_EDGE)])
    opens, closes = panel.y(ind.window("open")), panel.y(ind.window("close"))
    highs, lows = panel.y(ind.window("high")), panel.y(ind.window("low"))
    rising = ind.window("close") >= ind.window("open")
    for x, o, c, h, lo, up in zip(xs, opens, closes, highs, lows, rising, strict=True):
        draw.line([(x, h), (x, lo)], fill=_WICK, width=_SUPERSAMPLE)
        draw.rectangle([x - half, min(o, c), x + half, max(o, c) + 1], fill=_UP if up else _DOWN)
    _draw_lines(draw, panel, xs, [(ind.window(n), colour) for n, colour in _MOVING_AVERAGES])


def _draw_bars(
    draw: ImageDraw.ImageDraw,
    panel: _Panel,
    xs: np.ndarray,
    half: int,
    values: np.ndarray,
    positive: np.ndarray,
) -> None:
    base = int(panel.y(np.zeros(1))[0])
    tips = panel.y(values)
    for x, tip, up in zip(xs, tips, positive, strict=True):
        draw.rectangle(
            [x - half, min(tip, base), x + half, max(tip, base)],
            fill=_VOLUME_UP if up else _VOLUME_DOWN,
        )


def _draw_levels(
    draw: ImageDraw.ImageDraw, panel: _Panel, width: int, levels: tuple[float, float]
) -> None:
    for y in panel.y(np.array(levels)).tolist():
        draw.line([(0, y), (width, y)], fill=_LEVEL, width=_SUPERSAMPLE)


def _draw_lines(
    draw: ImageDraw.ImageDraw, panel: _Panel, xs: np.ndarray, lines: list[tuple[np.ndarray, str]]
) -> None:
    for values, colour in lines:
        points = list(zip(xs.tolist(), panel.y(values).tolist(), strict=True))
        draw.line(points, fill=colour, width=_SUPERSAMPLE)
