"""Folders written whole or not at all: built in a hidden sibling, then renamed into place."""

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.core.errors import ConfigError


@contextmanager
def staged_folder(target: str | Path, what: str, owns: frozenset[str]) -> Iterator[Path]:
    """Yield an empty hidden sibling of `target` to write a `what` into. When the block ends
    normally it takes `target`'s place; on an error or an interrupt it is removed and `target`
    stays as it was. A sibling, so the rename stays on one file system and a reader sees the old
    folder or the new one, never a half-written one. Siblings left by a killed process (no longer
    running) are cleared first; one that holds the only copy of `target` is put back there.

    A folder already at `target` is replaced whole, so it may hold only entries named in `owns`
    (what a `what` writes): anything else there is refused (ConfigError) before any work, so a
    mistyped path never deletes a user's files."""
    target = Path(target)
    _clear_dead_siblings(target)
    check_replaceable(target, what, owns)
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


def check_replaceable(target: Path, what: str, owns: frozenset[str]) -> None:
    """ConfigError unless `staged_folder` may replace `target` (see there): for a command to
    call before its work, so that a long run is not refused only when it saves."""
    if not target.exists():
        return
    if not target.is_dir():
        raise ConfigError(f"{target} is a file, not a {what} folder: choose another folder.")
    others = sorted(entry.name for entry in target.iterdir() if entry.name not in owns)
    if others:
        raise ConfigError(
            f"{target} holds {', '.join(others[:5])}, which no {what} holds, and writing a {what} "
            f"replaces the whole folder: choose a new or empty folder, or an earlier {what}."
        )


def _clear_dead_siblings(target: Path) -> None:
    # A SIGKILL skips `staged_folder`'s own cleanup; a live process's siblings are a concurrent
    # save, so they stay.
    if not target.parent.is_dir():
        return
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(staging|old)-(\d{{1,9}})")
    for sibling in sorted(target.parent.iterdir()):
        found = pattern.fullmatch(sibling.name)
        if found is None or _alive(int(found[2])):
            continue
        if found[1] == "old" and not target.exists():
            sibling.rename(target)  # it died between `_swap`'s renames: the only copy
        else:
            shutil.rmtree(sibling, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    return True


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
