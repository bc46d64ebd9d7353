"""Drawing a dataset's samples in chunks of decisions, each chunk one task of the build's fan-out
(`bot.core.parallel`): a worker gets only the bars its decisions read and sends back the sample
rows, the raw feature matrices and the charts as PNG bytes, which the builder writes.

Each decision's observation is `bot.core.observation.observe` of the indicators of the last
`REQUIRED_BARS` bars up to t, the path `build_observation` takes; the indicators are computed
once and also give the raw features. Charts are named by the SHA-256 of their pixels and encoded
once per chunk.
"""

import hashlib
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.core.errors import DataError
from bot.core.features import REQUIRED_BARS, compute_indicators, raw_features
from bot.core.observation import Account, ObservationConfig, observe

# Decisions per task: large enough that a task's start-up (shipping its bars, a fresh Ray
# worker every few tasks) stays small beside drawing it, small enough to share out the work.
CHUNK = 256


@dataclass(frozen=True)
class Chunk:
    """Consecutive decisions of one symbol and the bars they read."""

    bars: pd.DataFrame  # from REQUIRED_BARS - 1 bars before the first decision to the last
    offset: int  # the symbol's bar index of bars' first row
    decisions: pd.DataFrame  # t (the symbol's bar index), split, label
    observation: ObservationConfig
    account: Account
    interval_ns: int  # bar length: a decision's ts is its bar's close


@dataclass(frozen=True)
class Drawn:
    """A chunk's samples: rows (without their feature row), float32 (n, 100, 17) raw features,
    and the PNG bytes of each distinct chart by its path relative to the dataset."""

    rows: list[dict]
    raws: np.ndarray
    charts: dict[str, bytes]


def chunks(
    bars: pd.DataFrame, plan: pd.DataFrame, observation: ObservationConfig, account: Account,
    interval_ns: int,
) -> list[Chunk]:  # fmt: skip
    """One symbol's decisions (`plan`) cut into `Chunk`s of at most `CHUNK` decisions."""
    out = []
    for start in range(0, len(plan), CHUNK):
        decisions = plan.iloc[start : start + CHUNK].reset_index(drop=True)
        first = int(decisions["t"].iloc[0]) + 1 - REQUIRED_BARS
        last = int(decisions["t"].iloc[-1])
        window = bars.iloc[first : last + 1]
        out.append(Chunk(window, first, decisions, observation, account, interval_ns))
    return out


def draw(chunk: Chunk) -> Drawn:
    """The samples of `chunk` (runs in a worker process, or in the builder when serial)."""
    rows, raws, charts = [], [], {}
    symbol = chunk.observation.symbol
    for t, split, label in chunk.decisions.itertuples(index=False):
        end = int(t) + 1 - chunk.offset
        window = chunk.bars.iloc[end - REQUIRED_BARS : end]
        ind = compute_indicators(window)
        try:
            observation = observe(
                ind, window.index[-1].value, None, chunk.observation, chunk.account
            )
        except DataError as error:
            raise DataError(f"{symbol} at {window.index[-1]}: {error}") from error
        rows.append(
            {
                "symbol": symbol,
                "split": split,
                "ts": observation.ts + chunk.interval_ns,
                "t": int(t),
                "label": int(label),
                "global_chart": _chart(observation.global_view, charts),
                "local_chart": _chart(observation.local_view, charts),
                "summary": observation.summary,
                "prompt": observation.prompt,
            }
        )
        raws.append(raw_features(ind))
    return Drawn(rows, np.stack(raws).astype(np.float32), charts)


def _chart(view: np.ndarray, charts: dict[str, bytes]) -> str:
    relative = f"charts/{hashlib.sha256(view.tobytes()).hexdigest()}.png"
    if relative not in charts:
        charts[relative] = png(view)
    return relative


def png(view: np.ndarray) -> bytes:
    """`view` ((h, w, 3) uint8 RGB) as a PNG with no row filter at zlib level 1: charts are flat
    colours, so this is about four times faster to encode than Pillow's adaptive filters at
    its level 1, and smaller. Any PNG reader gives back the same pixels."""
    height, width, _ = view.shape
    rows = np.zeros((height, width * 3 + 1), dtype=np.uint8)  # a 0 (no filter) byte per row
    rows[:, 1:] = view.reshape(height, -1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    body = zlib.compress(rows.tobytes(), 1)
    return b"\x89PNG\r\n\x1a\n" + _part(b"IHDR", header) + _part(b"IDAT", body) + _part(b"IEND")


def _part(kind: bytes, data: bytes = b"") -> bytes:
    checksum = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)
