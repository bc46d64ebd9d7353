"""The `meta.json` of a saved model folder (router checkpoint, LightGBM router), read one way,
what it says of the data a model was trained on (no model is loaded to read it), and which kind
of saved folder, a dataset included, a path holds."""

import json
from collections.abc import Iterator
from pathlib import Path

from bot.core.errors import CheckpointError, ConfigError

META = "meta.json"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# How each kind of saved model checks its meta.json (`read_saved_meta` keywords), by policy prefix.
SAVED = {
    "model:": {"what": "a checkpoint", "written_by": "`bot train`", "expected": {"format": 1}},
    "lgbm:": {
        "what": "a LightGBM router",
        "written_by": "`bot train lgbm`",
        "expected": {"kind": "lgbm", "format": 1},
    },
}


def read_saved_meta(
    folder: str | Path,
    *,
    what: str,
    written_by: str,
    expected: dict,
    sections: tuple[str, ...] = ("extra",),
) -> dict:
    """`folder`'s meta.json; CheckpointError when it is missing, unreadable, any of the
    `expected` keys differs, or any of the `sections` (read by key everywhere) is not a JSON
    object, nor, with an "extra" section, its `dataset` or the dataset's `config` or `symbols`
    where present. `what` names the kind of folder (e.g. "a checkpoint"), `written_by` the
    command that writes one, so each message says what to do."""
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
    for key, value in _objects(meta, sections):
        if not isinstance(value, dict):
            raise CheckpointError(
                f"{path} has no {key!r} object (found {value!r}): the file was edited or "
                f"damaged. Restore its original meta.json, or re-create it with {written_by}."
            )
    return meta


def _objects(meta: dict, sections: tuple[str, ...]) -> Iterator[tuple[str, object]]:
    # What callers read as objects, by key: `meta["extra"].get("dataset", {}).get("config", {})`.
    # Lazy, so each value is looked into only once the one above it was checked to be an object.
    for key in sections:
        yield key, meta.get(key)
    if "extra" in sections:
        dataset = meta["extra"].get("dataset", {})
        yield "extra.dataset", dataset
        for key in ("config", "symbols"):
            yield f"extra.dataset.{key}", dataset.get(key, {})


def saved_kind(folder: str | Path) -> str | None:
    """What `folder` holds by its meta.json: "checkpoint", "LightGBM router", "dataset" (`bot
    train data`), or None (no readable meta.json, or another one)."""
    try:
        meta = json.loads((Path(folder) / META).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(meta, dict):
        return None
    if meta.get("kind") == "lgbm":
        return "LightGBM router"
    if "model_config" in meta:
        return "checkpoint"
    return "dataset" if "config_hash" in meta else None


def project_relative(path: str | Path) -> str:
    """`path` relative to the project folder when it lies inside it, else absolute."""
    path = Path(path).resolve()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def checkpoint_path(policy: str) -> Path:
    """The checkpoint folder of a `model:<path>` (or `lgbm:<path>`) policy. A relative path that
    does not exist here is taken from the project folder, so `model:models/daily-equities` (the
    shipped router) works from any working directory."""
    path = Path(policy.removeprefix("model:").removeprefix("lgbm:"))
    if path.is_absolute() or path.exists():
        return path
    shipped = PROJECT_ROOT / path
    return shipped if shipped.exists() else path


def trained_on(policy: str) -> dict | None:
    """What a `model:` or `lgbm:` policy's checkpoint records of its training data (meta.json's
    `extra.dataset`: config, config hash, per-symbol splits); None for another policy or an
    unreadable checkpoint (the router reports that one itself)."""
    kind = next((k for k in SAVED if policy.startswith(k)), None)
    if kind is None:
        return None
    try:
        return read_saved_meta(checkpoint_path(policy), **SAVED[kind])["extra"].get("dataset", {})
    except ConfigError:
        return None


def trained_bar_warning(policy: str, dataset: dict | None, bar: str) -> str | None:
    """A warning when `policy` was trained (`dataset`, from `trained_on`) on other bars than
    `bar`: its charts and features would mean something else."""
    trained = (dataset or {}).get("config", {})
    if trained.get("bar", bar) == bar:
        return None
    return (
        f"MODEL MISMATCH: {policy} was trained on {trained['bar']} bars of "
        f"{', '.join(trained.get('symbols', []))}; this run trades {bar} bars."
    )
