"""The `meta.json` of a saved model folder (router checkpoint, LightGBM router), read one way."""

import json
from pathlib import Path

from bot.errors import CheckpointError

META = "meta.json"


def read_saved_meta(folder: str | Path, *, what: str, written_by: str, expected: dict) -> dict:
    """`folder`'s meta.json; CheckpointError when it is missing, unreadable, or any of the
    `expected` keys differs. `what` names the kind of folder (e.g. "a checkpoint"), `written_by`
    the command that writes one, so each message says what to do."""
    path = Path(folder) / META
    if not path.is_file():
        raise CheckpointError(
            f"No {META} in {folder}: it is not {what}, or its save did not finish. Point at a "
            f"folder written by {written_by}."
        )
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(
            f"{path} is corrupt ({error}); re-create it with {written_by}."
        ) from error
    if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in expected.items()):
        raise CheckpointError(
            f"{path} is not {what} of this version ({expected}); re-create it with {written_by}."
        )
    return meta
