"""Observation building per core: chart view pairs/s (fast renderer and mplfinance), the 17
features/s, and the observation stage of dataset building with each renderer (per decision: the
observation from the bars up to it, its raw features, both views PNG-encoded as the dataset
stores them), extrapolated to 60 instruments x 2,000 decisions. Runs on one thread.
"""

import io
import time
from unittest import mock

from PIL import Image

from bot.core.charts import chart_views
from bot.core.charts_mpf import reference_views
from bot.core.features import REQUIRED_BARS, compute_indicators, raw_features
from bot.core.observation import ObservationConfig, build_observation
from bot.engine.data import load_bars

SIZE, ALPHA = 224, 0.25
FULL_DATASET = 60 * 2_000  # decisions: the 60 instruments x 2,000 decision points


def _rate(work, count: int) -> float:
    work(0)  # warm-up (fonts, caches)
    began = time.perf_counter()
    for i in range(count):
        work(i)
    return count / (time.perf_counter() - began)


def _dataset_stage(bars, decisions: int) -> float:
    """Decisions/s of the dataset's observation stage (training/dataset.py `_observe`)."""
    config = ObservationConfig(SIZE, ALPHA, "SPX")

    def decide(i: int) -> None:
        window = bars.iloc[: REQUIRED_BARS + 5 * i]
        observation = build_observation(window, None, config)
        raw_features(compute_indicators(window))
        for view in (observation.global_view, observation.local_view):
            Image.fromarray(view).save(io.BytesIO(), format="PNG", compress_level=1)

    return _rate(decide, decisions)


def run(quick: bool) -> dict:
    """Rates per core for both renderers; the dataset-stage speed-up of the fast one."""
    bars = load_bars("SPX", start="2000-01-01", end="2024-06-26")
    indicators = compute_indicators(bars.tail(REQUIRED_BARS))
    fast_n, slow_n = (100, 8) if quick else (500, 30)
    fast = _rate(lambda i: chart_views(indicators, SIZE, ALPHA), fast_n)
    slow = _rate(lambda i: reference_views(indicators, SIZE, ALPHA), slow_n)
    features = _rate(lambda i: compute_indicators(bars.iloc[i : i + REQUIRED_BARS]), fast_n)
    stage_fast = _dataset_stage(bars, fast_n)
    # The same stage with mplfinance drawing the views: everything else unchanged.
    with mock.patch("bot.core.observation.chart_views", reference_views):
        stage_slow = _dataset_stage(bars, slow_n)
    return {
        "chart_pairs_per_s_per_core": {"fast": round(fast, 1), "mplfinance": round(slow, 2)},
        "chart_speedup": round(fast / slow, 1),
        "feature_sets_per_s_per_core": round(features, 1),
        "dataset_stage_decisions_per_s_per_core": {
            "fast": round(stage_fast, 1),
            "mplfinance": round(stage_slow, 2),
        },
        "dataset_stage_speedup": round(stage_fast / stage_slow, 1),
        "full_dataset_60x2000_minutes_per_core": {
            "fast": round(FULL_DATASET / stage_fast / 60, 1),
            "mplfinance": round(FULL_DATASET / stage_slow / 60, 1),
        },
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=False)))
