"""Folders written whole or not at all: built in a hidden sibling, then renamed into place."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """Yield an empty hidden sibling of `target` to write into. When the block ends normally it
    takes `target`'s place (a folder already there is replaced); on an error or an interrupt it
    is removed and `target` stays as it was. A sibling, so the rename stays on one file system
    and a reader sees the old folder or the new one, never a half-written one."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed process with this pid
    staging.mkdir()
    try:
        yield staging
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap(staging: Path, target: Path) -> None:
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        if old.exists():
            old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)
