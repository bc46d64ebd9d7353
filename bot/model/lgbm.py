"""The LightGBM router baseline (`lgbm:<dir>`): a gradient-boosted classifier of the best expert.

Its inputs at decision bar t (`TREE_FEATURES`, `bar_features`) come from the one feature code
path: `bot.core.features.compute_indicators` over the bars up to t, then
- the decision bar's row of the raw 100 x 17 matrix of Table 12 (`bot.core.features.raw_features`);
- the mean of each of those 17 columns over the last `TRAIL` bars;
- the numbers of the text summary (`bot.core.observation.market_summary`), read back from its text.
A dataset sample holds the same raw matrix and summary, so training (`training.lgbm`) builds the
same vector with `tree_features`.

Its output is a probability per expert (`EXPERTS` order); each strategy gets its expert's
probability divided evenly among the expert's strategies. A model folder holds `model.txt`
(LightGBM's text format) and `meta.json` (strategy table, experts, features, the dataset's
provenance under `extra.dataset` as router checkpoints have it, and the sha-256 of model.txt);
loading refuses (CheckpointError, a ConfigError) a missing, corrupt or mismatched folder.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from bot.core.digests import sha256_file
from bot.core.errors import CheckpointError, DataError
from bot.core.features import FEATURE_NAMES, LOOKBACK, compute_indicators, raw_features
from bot.core.observation import Observation, market_summary
from bot.core.saved_meta import META, read_saved_meta
from bot.engine.policy import Decision, RouterContext, complete, expert_weights
from strategies import EXPERTS, STRATEGIES

FORMAT = 1
KIND = "lgbm"
MODEL = "model.txt"
TRAIL = 20  # bars of the trailing feature means
# The summary's numbers, as `market_summary` writes them (percentages stay in percent).
_SUMMARY = (
    ("latest_return", r"Latest return: (\S+)%"),
    ("amplitude", r"Price amplitude: (\S+)%"),
    ("volume_ratio", r"Volume ratio \(.*\): (\S+)"),
    ("volatility", r"Historical volatility \(.*\): (\S+)%"),
    ("atr_pct", r"ATR\(14\): \S+ \((\S+)% of price\)"),
    ("rsi", r"RSI\(14\): (\S+)"),
    ("band_width", r"Bollinger band width ratio: (\S+)%"),
    ("atr_change", r"\(ATR\(14\) (\S+)% vs"),
    ("band_position", r"price at (\S+)% of the Bollinger band"),
)
_MA_ORDER = {"bullish": 1.0, "mixed": 0.0, "bearish": -1.0}
TREE_FEATURES = (
    *(f"{name}_t" for name in FEATURE_NAMES),
    *(f"{name}_mean{TRAIL}" for name in FEATURE_NAMES),
    *(f"summary_{name}" for name, _ in _SUMMARY),
    "summary_ma_order",
)


def model_table() -> dict:
    """What a LightGBM router's meta.json must match: strategy table, experts and inputs."""
    return {
        "strategies": [{"name": spec.name, "expert": spec.expert} for spec in STRATEGIES],
        "experts": list(EXPERTS),
        "tree_features": list(TREE_FEATURES),
    }


def summary_numbers(summary: str) -> np.ndarray:
    """The numbers of a `market_summary` text in `_SUMMARY` order, then the MA order (+1
    bullish, 0 mixed, -1 bearish). DataError when the text has another format."""
    values = []
    for name, pattern in (*_SUMMARY, ("ma_order", r"Moving averages: (\w+) order")):
        found = re.search(pattern, summary)
        try:
            text = found.group(1) if found else ""
            values.append(_MA_ORDER[text] if name == "ma_order" else float(text))
        except (KeyError, ValueError):
            raise DataError(
                f"The market summary has no readable {name} ({pattern!r}): its format changed "
                "since the LightGBM router was written; update `bot.model.lgbm._SUMMARY`."
            ) from None
    return np.array(values, dtype=np.float64)


def tree_features(raw: np.ndarray, summary: str) -> np.ndarray:
    """The `TREE_FEATURES` vector of one decision from its raw (100, 17) matrix and summary."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.shape != (LOOKBACK, len(FEATURE_NAMES)):
        shape = (LOOKBACK, len(FEATURE_NAMES))
        raise DataError(f"A raw feature matrix is shaped {shape}, not {raw.shape}.")
    return np.concatenate([raw[-1], raw[-TRAIL:].mean(axis=0), summary_numbers(summary)])


def bar_features(bars: pd.DataFrame) -> np.ndarray:
    """The `TREE_FEATURES` vector at the last bar of `bars` (the bars up to and including the
    decision bar); DataError for too few bars or non-finite features."""
    ind = compute_indicators(bars)
    # float32, as a dataset stores the raw matrix: training and routing see the same numbers.
    features = tree_features(raw_features(ind).astype(np.float32), market_summary(ind))
    if not np.all(np.isfinite(features)):
        bad = [n for n, v in zip(TREE_FEATURES, features, strict=True) if not np.isfinite(v)]
        raise DataError(f"LightGBM router features are not finite at {bars.index[-1]}: {bad}.")
    return features


def read_meta(folder: str | Path) -> dict:
    """A LightGBM router's meta.json; CheckpointError when missing, unreadable or not one."""
    return read_saved_meta(
        folder,
        what="a LightGBM router",
        written_by="`bot train lgbm`",
        expected={"kind": KIND, "format": FORMAT},
    )


def load_model(folder: str | Path):
    """The LightGBM booster and meta of a folder written by `training.lgbm.save_model`.
    CheckpointError for a missing or corrupt file, or another strategy table or features."""
    import lightgbm  # the train extra; only this policy needs it

    folder = Path(folder)
    meta = read_meta(folder)
    mismatched = [key for key, value in model_table().items() if meta.get(key) != value]
    if mismatched:
        raise CheckpointError(
            f"LightGBM router {folder} was trained for another {', '.join(mismatched)} than this "
            "version's: its inputs or outputs would mean something else. Retrain it."
        )
    path = folder / MODEL
    if not path.is_file() or sha256_file(path) != meta.get("files", {}).get(MODEL):
        raise CheckpointError(
            f"LightGBM model file {path} is missing or corrupt (its sha-256 differs from "
            f"{META}); copy the whole folder again or retrain with `bot train lgbm`."
        )
    try:
        booster = lightgbm.Booster(model_file=str(path))
    except lightgbm.basic.LightGBMError as error:
        raise CheckpointError(f"LightGBM model {path} does not load: {error}") from error
    if booster.num_feature() != len(TREE_FEATURES):
        raise CheckpointError(
            f"LightGBM model {path} takes {booster.num_feature()} features, not "
            f"{len(TREE_FEATURES)}; retrain it."
        )
    return booster, meta


class LGBMPolicy:
    """Routes with a LightGBM classifier of the best expert, from the router's bar history."""

    needs_observation, needs_context = False, True

    def __init__(self, folder: Path) -> None:
        self.booster, meta = load_model(folder)
        self.name = f"lgbm:{folder}"
        self.version = str(meta.get("version", folder.name))
        self._sizes = {e: sum(s.expert == e for s in STRATEGIES) for e in EXPERTS}

    def decide(
        self, observation: Observation | None = None, context: RouterContext | None = None
    ) -> Decision:
        if context is None:
            raise DataError(f"{self.name} decides from the router's bar history; none was given")
        features = bar_features(context.bars)[None, :]
        probs = np.asarray(self.booster.predict(features, num_threads=1), dtype=np.float64)
        probs = probs.reshape(-1)
        if probs.shape != (len(EXPERTS),) or not np.all(np.isfinite(probs)) or probs.sum() <= 0:
            raise DataError(f"{self.name} predicted {probs}, not one probability per expert.")
        experts = dict(zip(EXPERTS, (probs / probs.sum()).tolist(), strict=True))
        weights = {s.name: experts[s.expert] / self._sizes[s.expert] for s in STRATEGIES}
        return Decision(
            weights=complete(weights),
            experts=expert_weights(weights),
            policy=self.name,
            version=self.version,
        )
