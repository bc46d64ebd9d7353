"""Router checkpoints: weights next to a `meta.json` of provenance, checked on load.

A checkpoint folder holds:
- `model.safetensors`: the whole compact model, or for the hf backbone the heads and the
  temporal encoder (keys `backbone.temporal.*`);
- `adapter/`: the hf backbone's LoRA adapters in peft format, one subfolder per role (or the
  shared one at its root); the base model stays where `model_config.hf_model_dir` points;
- `meta.json`: the strategy table, the feature schema and stats, the model config, library
  versions, the git sha, a sha-256 of every weights file, and the caller's `extra` (data
  windows, config hash, validation metrics);
- `fingerprint.npy`: the price fingerprint of the bars training and validation read
  (`bot.core.fingerprint`), when the caller gives one, so runs on the same prices are flagged.

Loading refuses (CheckpointError) a missing or corrupt file, another strategy table or another
feature schema: the model's action space and inputs would silently mean something else.
"""

import json
import platform
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import structlog
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from bot.core import fingerprint
from bot.core.digests import changed_file, sha256_file
from bot.core.errors import CheckpointError, ConfigError
from bot.core.features import FEATURE_NAMES, LOOKBACK, FeatureStats
from bot.core.saved_meta import META, read_saved_meta
from bot.core.staging import staged_folder
from bot.model.router_model import ModelConfig, RouterModel
from strategies import STRATEGIES

log = structlog.get_logger(__name__)

FORMAT = 1
WEIGHTS = "model.safetensors"
ADAPTER = "adapter"
FINGERPRINT = fingerprint.FILE
CHECKPOINT_ENTRIES = frozenset({META, WEIGHTS, ADAPTER, FINGERPRINT})  # all a save writes
_TEMPORAL = "backbone.temporal."
_LIBRARIES = ("torch", "transformers", "peft", "nautilus_trader")


def strategy_table() -> list[dict]:
    """This version's strategy table as saved in meta.json."""
    return [{"name": spec.name, "expert": spec.expert} for spec in STRATEGIES]


def feature_schema() -> dict:
    """This version's feature schema as saved in meta.json."""
    return {"names": list(FEATURE_NAMES), "lookback": LOOKBACK}


def save_checkpoint(
    model: RouterModel,
    directory: str | Path,
    *,
    stats: FeatureStats | None = None,
    extra_meta: dict | None = None,
    prices: np.ndarray | None = None,
) -> Path:
    """Write `model` (weights and meta.json) to `directory`, replacing what is there; returns the
    folder. `prices` is the training data's price fingerprint. Written whole in a hidden sibling
    first (`staged_folder`), so a save that fails (a full disk, an interrupt) leaves an earlier
    checkpoint there as it was."""
    with staged_folder(directory, "checkpoint", CHECKPOINT_ENTRIES) as staging:
        _write(model, staging, stats, extra_meta, prices)
    log.info("checkpoint saved", path=str(directory), backbone=model.config.backbone)
    return Path(directory)


def _write(
    model: RouterModel,
    folder: Path,
    stats: FeatureStats | None,
    extra_meta: dict | None,
    prices: np.ndarray | None,
) -> None:
    if prices is not None:
        np.save(folder / FINGERPRINT, prices)
    if model.config.backbone == "compact":
        tensors = model.state_dict()
    else:
        tensors = _hf_tensors(model)
        model.backbone.save_adapter(folder / ADAPTER)
    save_file(
        {name: t.detach().contiguous().cpu() for name, t in tensors.items()}, folder / WEIGHTS
    )
    meta = {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "strategies": strategy_table(),
        "feature_schema": feature_schema(),
        "feature_stats": None if stats is None else stats.to_dict(),
        "model_config": model.config.to_dict(),
        "versions": _versions(),
        "git_sha": _git_sha(),
        "files": {name: sha256_file(folder / name) for name in _weight_files(folder)},
        "extra": extra_meta or {},
    }
    (folder / META).write_text(json.dumps(meta, indent=2, sort_keys=True))


def init_checkpoint(directory: str | Path, config: ModelConfig | None = None) -> Path:
    """Save a randomly initialised model (for `bot train init` and tests)."""
    return save_checkpoint(RouterModel(config or ModelConfig()), directory)


def load_checkpoint(
    directory: str | Path, hf_model_dir: str | None = None
) -> tuple[RouterModel, dict, FeatureStats | None]:
    """The model (eval mode), its meta and its feature stats (None when it was saved without).
    `hf_model_dir` says where an hf checkpoint's base model is now, when it moved since
    training. Raises CheckpointError for a missing or corrupt checkpoint or a mismatched
    table/schema."""
    folder = Path(directory)
    meta = verify_checkpoint(folder)
    config, stats = _config_and_stats(meta, folder)
    if hf_model_dir and config.backbone == "hf":
        config = replace(config, hf_model_dir=str(hf_model_dir))
    try:
        adapter = folder / ADAPTER if config.backbone == "hf" else None
        model = RouterModel(config, adapter_dir=adapter)
    except (ConfigError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"Checkpoint {folder} cannot be rebuilt: {error}") from error
    try:
        tensors = load_file(folder / WEIGHTS, device=str(model.device))
        if config.backbone == "compact":
            model.load_state_dict(tensors)
        else:
            _load_hf_tensors(model, tensors)
    except (SafetensorError, RuntimeError, OSError) as error:
        raise _unloadable(folder, error) from error
    model.eval()
    return model, meta, stats


def verify_checkpoint(directory: str | Path) -> dict:
    """The checkpoint's meta, after every check of `load_checkpoint` that builds no model (so
    cheap for an hf one too): meta.json, the strategy table and feature schema, the sha-256 of
    every weights file, the fingerprint, the model config, the feature stats and the weights
    file's safetensors header. Raises CheckpointError, naming the file, where loading would."""
    folder = Path(directory)
    meta = read_meta(folder)
    _check_compatible(meta, folder)
    _check_files(meta, folder)
    _config_and_stats(meta, folder)
    try:
        with safe_open(folder / WEIGHTS, "pt"):
            pass
    except (SafetensorError, OSError) as error:
        raise _unloadable(folder, error) from error
    return meta


def read_meta(directory: str | Path) -> dict:
    """The checkpoint's meta.json, or CheckpointError when missing, unreadable, without the
    `model_config` and `extra` objects that callers read by key, or with `feature_stats` or
    `versions` neither an object nor null."""
    meta = read_saved_meta(
        directory,
        what="a checkpoint",
        written_by="`bot train`",
        expected={"format": FORMAT},
        sections=("model_config", "extra"),
    )
    # Read by key on loading too, but null is allowed: a model saved without feature stats.
    for key in ("feature_stats", "versions"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise CheckpointError(
                f"{Path(directory) / META} has no {key!r} object (found {meta[key]!r}): the file "
                "was edited or damaged. Restore its original meta.json, or re-create it with "
                "`bot train`."
            )
    return meta


def _config_and_stats(meta: dict, folder: Path) -> tuple[ModelConfig, FeatureStats | None]:
    try:
        config = ModelConfig.from_dict(_as_config(meta["model_config"]))
        saved = meta["feature_stats"]
        return config, None if saved is None else FeatureStats.from_dict(saved)
    except (ConfigError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"Checkpoint {folder} cannot be rebuilt: {error}") from error


def _unloadable(folder: Path, error: Exception) -> CheckpointError:
    return CheckpointError(
        f"Checkpoint weights {folder / WEIGHTS} do not load: {error}. Re-create the "
        "checkpoint (`bot train init` or retrain)."
    )


def _check_compatible(meta: dict, folder: Path) -> None:
    if meta.get("strategies") != strategy_table():
        saved = [row.get("name") for row in meta.get("strategies") or [] if isinstance(row, dict)]
        raise CheckpointError(
            f"Checkpoint {folder} was trained for strategies {saved}, but this version's table "
            f"is {[spec.name for spec in STRATEGIES]}: its actions would map to the wrong "
            "strategies. Retrain it with this strategy table."
        )
    if meta.get("feature_schema") != feature_schema():
        raise CheckpointError(
            f"Checkpoint {folder} expects features {meta.get('feature_schema')}, but this "
            f"version builds {feature_schema()}: its inputs would mean something else. Retrain "
            "it with this feature schema."
        )
    for library, saved in (meta.get("versions") or {}).items():
        if library in _LIBRARIES and saved != _version(library):
            log.warning("checkpoint library version differs", library=library, saved=saved)


def _check_files(meta: dict, folder: Path) -> None:
    files = meta.get("files")
    if not isinstance(files, dict) or WEIGHTS not in files:
        raise CheckpointError(f"{folder / META} lists no weights; re-create the checkpoint.")
    changed = changed_file(folder, files)
    if changed is not None and not changed.is_file():
        raise CheckpointError(
            f"Checkpoint file {changed} is missing; copy the whole checkpoint folder."
        )
    if changed is not None:
        raise CheckpointError(
            f"Checkpoint file {changed} is corrupt (its sha-256 differs from {META}); copy it "
            "again or re-create the checkpoint."
        )
    # meta.json records no digest of the fingerprint (read after a run, for the in-sample flag),
    # so it is read here: a damaged one stops the run before its work, not after.
    prices = folder / FINGERPRINT
    if prices.is_file():
        try:
            np.load(prices)
        except (ValueError, OSError) as error:
            raise CheckpointError(
                f"Checkpoint file {prices} is corrupt ({error}); copy it again or re-create the "
                "checkpoint."
            ) from error


def _hf_tensors(model: RouterModel) -> dict:
    tensors = dict(model.heads.state_dict())
    if model.backbone.temporal is not None:
        temporal = model.backbone.temporal.state_dict()
        tensors |= {f"{_TEMPORAL}{name}": t for name, t in temporal.items()}
    return tensors


def _load_hf_tensors(model: RouterModel, tensors: dict) -> None:
    temporal = {k.removeprefix(_TEMPORAL): v for k, v in tensors.items() if k.startswith(_TEMPORAL)}
    model.heads.load_state_dict({k: v for k, v in tensors.items() if not k.startswith(_TEMPORAL)})
    if model.backbone.temporal is not None:
        model.backbone.temporal.load_state_dict(temporal)
    elif temporal:
        raise RuntimeError("the weights hold a temporal encoder that the model config lacks")


def _as_config(data: dict) -> dict:
    return {**data, "lora_targets": tuple(data.get("lora_targets", ()))}


def _weight_files(folder: Path) -> list[str]:
    adapter = [path for path in (folder / ADAPTER).rglob("*") if path.is_file()]
    return [WEIGHTS, *sorted(str(path.relative_to(folder)) for path in adapter)]


def _version(library: str) -> str | None:
    try:
        return version(library)
    except PackageNotFoundError:
        return None


def _versions() -> dict:
    return {"python": platform.python_version(), **{name: _version(name) for name in _LIBRARIES}}


def _git_sha() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None
