"""Sha-256 digests of saved files, and the check of a folder against the digests recorded for
it (checkpoints, datasets)."""

import hashlib
from pathlib import Path


def changed_file(folder: Path, files: dict[str, str]) -> Path | None:
    """The first of `files` (path relative to `folder` -> sha-256, as `sha256_file` gives it)
    that is missing or whose content differs; None when every one matches."""
    for name, digest in files.items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != digest:
            return path
    return None


def sha256_file(path: Path) -> str:
    """The hex sha-256 of the file at `path`, read in blocks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
