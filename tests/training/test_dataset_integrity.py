"""A dataset is whole or refused: a failed or interrupted rebuild leaves the dataset already
there as it was, and loading refuses (DataError naming the file and the rebuild) a dataset whose
files are missing, damaged or edited, or that records no digests of them."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import training.dataset
from bot.core.errors import ConfigError, DataError
from tests.support.series import regime_switching_frame
from training.dataset import build_dataset
from training.dataset_config import DatasetConfig
from training.router_dataset import RouterDataset

BARS = 330  # REQUIRED_BARS history and some 30 decisions every 2 bars


def _config(**changes) -> DatasetConfig:
    base = {"symbols": ("SYN",), "horizon": 5, "window": 5, "stride": 2, "image_size": 56}
    return DatasetConfig(**(base | {"workers": 1} | changes))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return regime_switching_frame(BARS, seed=5, segment=30)[0]


@pytest.fixture(scope="module")
def original(tmp_path_factory, frame) -> Path:
    out = tmp_path_factory.mktemp("integrity") / "ds"
    build_dataset(_config(), out, frames={"SYN": (frame, "index")}, progress=False)
    return out


@pytest.fixture
def copy(original, tmp_path) -> Path:
    return Path(shutil.copytree(original, tmp_path / "ds"))


def _interrupt(*_):
    raise KeyboardInterrupt


@pytest.mark.parametrize("failure", ["short symbol", "interrupt"])
def test_a_failed_rebuild_leaves_the_dataset_as_it_was(copy, frame, monkeypatch, failure):
    # Arrange: other SYN bars, and a build that fails once they are read.
    other = frame.copy()
    other.iloc[:, :4] *= 2.0
    frames = {"SYN": (other, "index"), "TINY": (frame.iloc[:50], "index")}
    config = _config(symbols=("SYN", "TINY"))
    if failure == "interrupt":
        config = _config()
        monkeypatch.setattr(training.dataset, "_plan", _interrupt)
    before = _files(copy)

    # Act
    with pytest.raises(DataError if failure == "short symbol" else KeyboardInterrupt):
        build_dataset(config, copy, frames=frames, progress=False)

    # Assert: the old dataset, whole, and no half-built folder beside it.
    assert _files(copy) == before
    assert [p.name for p in copy.parent.iterdir()] == ["ds"]
    assert len(RouterDataset.load(copy)) > 0


def test_a_folder_holding_other_files_is_not_built_over(tmp_path, frame):
    (tmp_path / "notes.txt").write_text("keep me")

    with pytest.raises(ConfigError, match="notes.txt"):
        build_dataset(_config(), tmp_path, frames={"SYN": (frame, "index")}, progress=False)

    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def _edit_meta(root: Path, change) -> None:
    meta = json.loads((root / "meta.json").read_text())
    change(meta)
    (root / "meta.json").write_text(json.dumps(meta))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_returns(root: Path) -> None:
    path = root / "returns" / "SYN.parquet"
    returns = pd.read_parquet(path)
    returns.iloc[-1, 0] += 0.01
    returns.to_parquet(path)


def _first_chart(root: Path) -> Path:
    return root / pd.read_parquet(root / "samples.parquet")["global_chart"].iloc[0]


def _swap_chart(root: Path) -> None:
    charts = sorted((root / "charts").iterdir())
    charts[0].write_bytes(charts[1].read_bytes())


DAMAGE = {
    "meta.json truncated": (lambda root: _truncate(root / "meta.json"), "meta.json"),
    "stats deleted": (lambda root: _edit_meta(root, lambda m: m.pop("stats")), "meta.json"),
    # Was: an AttributeError traceback, or loaded as if the symbol had no splits.
    "stats not an object": (lambda root: _edit_meta(root, lambda m: m.update(stats="x")), "stats"),
    "symbols a list": (lambda root: _edit_meta(root, lambda m: m.update(symbols=[])), "symbols"),
    "splits not an object": (
        lambda root: _edit_meta(root, lambda m: m["symbols"]["SYN"].update(splits=None)),
        "symbols.SYN",
    ),
    "samples truncated": (lambda root: _truncate(root / "samples.parquet"), "samples.parquet"),
    "samples deleted": (lambda root: (root / "samples.parquet").unlink(), "samples.parquet"),
    "features truncated": (lambda root: _truncate(root / "features.npy"), "features.npy"),
    "chart deleted": (lambda root: _first_chart(root).unlink(), "charts/"),
    "chart replaced": (_swap_chart, "charts"),
    "returns deleted": (lambda root: (root / "returns/SYN.parquet").unlink(), "returns/SYN"),
    "returns edited": (_edit_returns, "returns/SYN"),
    "bars deleted": (lambda root: (root / "bars/SYN.parquet").unlink(), "bars/SYN"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_dataset_is_refused_naming_the_file(copy, damage):
    harm, named = DAMAGE[damage]
    harm(copy)

    with pytest.raises(DataError, match=f"{named}.*bot train data --out {re.escape(str(copy))}"):
        RouterDataset.load(copy)


def test_a_dataset_without_digests_is_refused_with_a_rebuild(copy):
    # As a build before datasets recorded digests wrote it.
    _edit_meta(copy, lambda m: [m.pop(k) for k in ("files", "charts_sha256")])

    with pytest.raises(DataError, match="built before .*bot train data --out"):
        RouterDataset.load(copy)


def test_a_fresh_build_loads_with_its_files_as_recorded(original):
    dataset = RouterDataset.load(original)

    assert set(dataset.meta["files"]) == {
        "samples.parquet", "features.npy", "bars/SYN.parquet", "returns/SYN.parquet"
    }  # fmt: skip
    assert np.isfinite(dataset.raw_features([0])).all()
