"""The fast chart renderer against mplfinance: the same candles on the same pixels.

Both canvases are read bar by bar in the price panel: the pixel columns holding candle-body
colour, the rows the body spans, and whether the body is the up or the down colour.
"""

import numpy as np
import pytest

from bot.core.charts import CANVAS_ASPECT, chart_canvas, chart_views, panel_bounds
from bot.core.charts_mpf import reference_canvas, reference_views
from bot.core.features import LOOKBACK, compute_indicators
from bot.engine.data import load_bars

HEIGHT = 448  # the canvas of the default 224-pixel views


@pytest.fixture(scope="module", params=["2018-01-01", "2020-01-01"])
def indicators(request):
    end = request.param
    return compute_indicators(load_bars("SPX", start="2016-01-01", end=end).tail(300))


def _bodies(canvas: np.ndarray) -> list[tuple[str, float, int, int] | None]:
    """Per bar: (colour, centre column, top row, bottom row) of its body, None if too thin."""
    price = canvas[: panel_bounds(HEIGHT)[1]].astype(int)
    r, g, b = price[..., 0], price[..., 1], price[..., 2]
    # Body colours only: orange (MA20) and blue (MA10) lines must not count as candles.
    masks = {"up": (g > r + 60) & (g > b + 40), "down": (r > 180) & (g < 100) & (b < 100)}
    slot = canvas.shape[1] / LOOKBACK
    found = []
    for i in range(LOOKBACK):
        lo, hi = int(i * slot) + 1, int((i + 1) * slot) - 1
        best = max(masks, key=lambda name: masks[name][:, lo:hi].sum())
        cells = np.argwhere(masks[best][:, lo:hi])
        if len(cells) < 12:  # a doji: its body is a line under the wick
            found.append(None)
            continue
        columns = np.flatnonzero(masks[best][:, lo:hi].any(axis=0)) + lo
        rows = cells[:, 0]
        found.append((best, float(columns.mean()), int(rows.min()), int(rows.max())))
    return found


def test_candles_sit_on_the_same_pixels_with_the_same_colours(indicators):
    # Arrange
    fast = np.asarray(chart_canvas(indicators, HEIGHT))
    reference = np.asarray(reference_canvas(indicators, HEIGHT))

    # Act
    ours, theirs = _bodies(fast), _bodies(reference)

    # Assert
    assert fast.shape == reference.shape == (HEIGHT, HEIGHT * CANVAS_ASPECT, 3)
    pairs = [(a, b) for a, b in zip(ours, theirs, strict=True) if a and b]
    assert len(pairs) >= 0.6 * LOOKBACK  # most bars have a readable body in both
    assert [a[0] for a, _ in pairs] == [b[0] for _, b in pairs]  # up/down colour per bar
    centres = np.array([[a[1], b[1]] for a, b in pairs])
    assert np.abs(centres[:, 0] - centres[:, 1]).max() <= 1.5  # same pixel columns
    tops = np.array([[a[2], b[2]] for a, b in pairs])
    bottoms = np.array([[a[3], b[3]] for a, b in pairs])
    # Same vertical scale: body ends on the same rows (moving-average lines may cover an end).
    assert np.median(np.abs(tops[:, 0] - tops[:, 1])) <= 1
    assert np.median(np.abs(bottoms[:, 0] - bottoms[:, 1])) <= 1
    assert np.mean(np.abs(tops[:, 0] - tops[:, 1]) <= 3) >= 0.9
    assert np.mean(np.abs(bottoms[:, 0] - bottoms[:, 1]) <= 3) >= 0.9


def test_views_of_both_renderers_share_size_and_layout(indicators):
    # Arrange / Act
    fast = chart_views(indicators, 224, 0.25)
    reference = reference_views(indicators, 224, 0.25)

    # Assert: same shape and type, and the views look alike pixel for pixel on average
    for ours, theirs in zip(fast, reference, strict=True):
        assert ours.shape == theirs.shape == (224, 224, 3) and ours.dtype == theirs.dtype
        difference = np.abs(ours.astype(int) - theirs.astype(int)).mean()
        assert difference < 20, difference
