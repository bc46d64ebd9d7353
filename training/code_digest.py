"""The digest of the code that made a derived artefact: a cached return path or a dataset is
reused only while the code that would rebuild it is the same."""

import hashlib
from functools import cache
from pathlib import Path
from types import ModuleType

import nautilus_trader


@cache
def code_digest(*packages: ModuleType) -> str:
    """SHA-256 of the nautilus_trader version and every Python source of `packages`."""
    sha = hashlib.sha256(nautilus_trader.__version__.encode())
    for package in packages:
        root = Path(package.__file__).parent
        for source in sorted(root.rglob("*.py")):
            sha.update(f"{package.__name__}/{source.relative_to(root)}".encode())
            sha.update(source.read_bytes())
    return sha.hexdigest()
