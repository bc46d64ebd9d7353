"""The dataset's per-strategy return paths, cached once per instrument and reused by every later
build over the same bars (another stride, horizon, image size, cut, or a rebuilt dataset).

A path is the per-bar simple return of each strategy's equity in a single-strategy backtest over
the whole history (`training.dataset`). It is decided by, and keyed on:
- the bars exactly as the backtests trade them (SHA-256 of their open times and rounded OHLCV);
  not `bot.core.fingerprint`, which ignores price levels and flat runs on purpose;
- the instrument (symbol, asset class) and the backtest settings (bar size, fees, slippage, fill
  convention, fractional units, data policy, capital, strategy parameters);
- the strategy table and the code that runs it: the source of the `bot` and `strategies`
  packages and the nautilus_trader version, so an engine or strategy change is never served
  stale paths.
The router window is not part of it: a single-strategy run's weights never change and its
strategy rebalances every bar, so the window does not change the path.

Each entry is `<cache>/<symbol>-<key>.parquet` (one column per strategy in table order, indexed
by bar open time), written atomically with page checksums and the SHA-256 of its content. An
entry that does not read back as written, or does not fit the bars and the table, is logged as
a warning and rebuilt.
"""

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import structlog

import bot
import strategies
from bot.core.bars import BAR_COLUMNS
from bot.engine.backtest_request import BacktestRequest
from training.code_digest import code_digest

log = structlog.get_logger(__name__)

# Request fields that say where a run reads and writes, or which strategy it runs, not what a
# path holds (the symbol stays in the key through the instrument).
_PLACE_FIELDS = ("policy", "window", "catalog", "journal", "run_id", "report_dir", "progress")
_CONTENT = b"returns_content_sha256"  # parquet schema metadata: the digest of the paths


def returns_key(bars: pd.DataFrame, asset_class: str, request: BacktestRequest) -> str:
    """The cache key of one instrument's paths: `bars` as the backtests trade them, and the
    settings of its single-strategy `request` (any of them; they differ only by policy)."""
    sha = hashlib.sha256()
    sha.update(bars.index.asi8.tobytes())
    sha.update(np.ascontiguousarray(bars[list(BAR_COLUMNS)], dtype=np.float64).tobytes())
    settings = {k: v for k, v in asdict(request).items() if k not in _PLACE_FIELDS}
    content = {
        "settings": settings,
        "asset_class": asset_class,
        "code": code_digest(bot, strategies),
    }
    sha.update(json.dumps(content, sort_keys=True, default=str).encode())
    return sha.hexdigest()


def entry_path(folder: str | Path, symbol: str, key: str) -> Path:
    """Where the paths of `symbol` under `key` live in the cache `folder`."""
    return Path(folder) / f"{symbol}-{key}.parquet"


def load_returns(path: Path, index: pd.DatetimeIndex, names: list[str]) -> pd.DataFrame | None:
    """The cached paths at `path`, or None when there are none; an entry that does not read
    back as written, or does not fit `index` and the strategy `names`, is logged as a warning
    and None returned (so it is rebuilt)."""
    if not path.exists():
        return None
    try:
        table = pq.read_table(path, page_checksum_verification=True)
        frame = table.to_pandas()
    except Exception as error:  # noqa: BLE001 - any damage (I/O, Arrow, pandas metadata): rebuild
        return _unusable(path, f"unreadable: {error!r}")
    if (table.schema.metadata or {}).get(_CONTENT) != _content_digest(frame).encode():
        return _unusable(path, "its content differs from what was written")
    if list(frame.columns) != names or not frame.index.equals(index):
        return _unusable(path, "it does not fit the bars or the strategy table")
    return frame


def store_returns(path: Path, frame: pd.DataFrame) -> None:
    """Write `frame` to the cache at `path` atomically (a crash leaves no half-written entry),
    with the digest of its content, checked on loading."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame)
    table = table.replace_schema_metadata(
        table.schema.metadata | {_CONTENT: _content_digest(frame).encode()}
    )
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    pq.write_table(table, partial, write_page_checksum=True)
    os.replace(partial, path)


def _unusable(path: Path, why: str) -> None:
    log.warning("returns cache entry unusable; rebuilding it", path=str(path), why=why)


def _content_digest(frame: pd.DataFrame) -> str:
    sha = hashlib.sha256(json.dumps([str(c) for c in frame.columns]).encode())
    sha.update(frame.index.asi8.tobytes())
    sha.update(np.ascontiguousarray(frame.to_numpy(dtype=np.float64)).tobytes())
    return sha.hexdigest()
