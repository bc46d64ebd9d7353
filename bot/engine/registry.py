"""The model registry: a local folder of router checkpoints and an "active" pointer.

Layout of `[registry] path`:
- `<name>/`: a checkpoint folder as `bot train` writes it (meta.json and weights), plus the
  `evaluation.json` of `bot evaluate` when it was evaluated;
- `active.json`: `{"active": <name or null>, "history": [<names active before, oldest first>]}`,
  replaced atomically, so a node reading it mid-write sees the old or the new pointer.

The router policy `registry` routes with whatever model is active: the router actor re-reads the
pointer every window and switches to a newly promoted (or rolled back) model at the next one.
"""

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.core.errors import CheckpointError, ConfigError
from bot.core.names import check_name
from bot.core.saved_meta import PROJECT_ROOT
from bot.core.staging import staged_folder

POINTER = "active.json"
SHIPPED = "models"  # the project's folder of shipped checkpoints, `model:models/<name>`
REGISTRY_POLICY = "registry"
EVALUATION = "evaluation.json"
SCORES = ("total_return", "sharpe", "max_drawdown")  # evaluation.json's average.router, shown


@dataclass(frozen=True)
class Entry:
    """One registered checkpoint, as `bot models list` shows it."""

    name: str
    path: Path
    created: str
    bar: str
    symbols: tuple[str, ...]
    evaluation: dict[str, Any] | None
    active: bool
    evaluation_error: str | None = None  # why a stored evaluation.json was left out


class Registry:
    """Checkpoints under `root` and the pointer to the active one."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def entries(self) -> list[Entry]:
        """Every registered checkpoint, oldest first."""
        if not self.root.is_dir():
            return []
        active = self.active()
        folders = [
            p for p in self.root.iterdir() if (p / "meta.json").is_file() and p.name[0] != "."
        ]
        entries = [_entry(folder, folder.name == active) for folder in folders]
        return sorted(entries, key=lambda e: (e.created, e.name))

    def add(
        self,
        checkpoint: Path,
        name: str | None = None,
        evaluation: Path | None = None,
        verify: Callable[[Path], None] | None = None,
    ) -> Entry:
        """Copy the checkpoint folder in as `name` (default: its folder name), with the
        `evaluation.json` of `bot evaluate` when given; refuses a folder that is not a
        checkpoint, a bad or taken name, an unreadable evaluation, or a checkpoint that `verify`
        refuses, before copying anything. `verify` loads the model: the model layer sits above
        the engine, so the application passes it in."""
        checkpoint = Path(checkpoint)
        _meta(checkpoint)
        name = name or checkpoint.name
        _check_name(name)
        target = self.root / name
        if target.exists():
            raise ConfigError(f"the registry already holds {name!r}; pick another --name.")
        if evaluation is not None:
            _check_evaluation(evaluation)
        if verify is not None:
            verify(checkpoint)
        # Staged, so a copy that fails half-way (a full disk) leaves no half model that `list`
        # would show and `promote` would accept.
        try:
            # `target` was checked not to exist: nothing there is replaced.
            with staged_folder(target, "registered model", frozenset()) as staging:
                shutil.copytree(checkpoint, staging, dirs_exist_ok=True)
                if evaluation is not None:
                    shutil.copyfile(evaluation, staging / EVALUATION)
        except OSError as error:
            raise ConfigError(
                f"copying {checkpoint} into the registry failed ({error}); nothing was added."
            ) from error
        return _entry(target, False)

    def active(self) -> str | None:
        """The active model's name, or None."""
        return self._pointer()["active"]

    def active_policy(self) -> str:
        """The `model:` policy of the active checkpoint; ConfigError when none is active."""
        name = self.active()
        if name is None:
            raise ConfigError(
                f"no model is active in the registry {self.root}: run `bot models promote NAME`."
            )
        return self.policy_of(name)

    def policy_of(self, name: str) -> str:
        """The `model:` policy of the registered checkpoint `name`."""
        return f"model:{(self.root / name).resolve()}"

    def promote(self, name: str, verify: Callable[[Path], None] | None = None) -> str | None:
        """Make `name` active, once `verify` (as for `add`) accepts its folder; returns the model
        it replaced (kept for rollback)."""
        _check_name(name)
        if not (self.root / name / "meta.json").is_file():
            known = ", ".join(e.name for e in self.entries()) or "none"
            raise ConfigError(f"no model {name!r} in the registry {self.root} (it has: {known}).")
        if verify is not None:
            verify(self.root / name)
        pointer = self._pointer()
        previous = pointer["active"]
        if previous == name:
            raise ConfigError(f"{name!r} is already the active model; nothing was changed.")
        history = pointer["history"] + ([previous] if previous else [])
        self._write({"active": name, "history": history})
        return previous

    def rollback(self) -> tuple[str, str]:
        """Re-activate the model active before the current one; returns (left, restored)."""
        pointer = self._pointer()
        if not pointer["history"]:
            raise ConfigError("nothing to roll back to: no model was active before this one.")
        restored = pointer["history"][-1]
        self._write({"active": restored, "history": pointer["history"][:-1]})
        return pointer["active"], restored

    def _pointer(self) -> dict[str, Any]:
        path = self.root / POINTER
        if not path.exists():
            return {"active": None, "history": []}
        try:
            pointer = json.loads(path.read_text())
            history = list(pointer["history"])
            for name in [pointer["active"], *history]:  # edited by hand, it must still name
                if name is not None:  # folders inside the registry
                    _check_name(name)
            return {"active": pointer["active"], "history": history}
        except (OSError, ValueError, KeyError, TypeError, ConfigError) as error:
            raise ConfigError(
                f"{path} is unreadable ({error}): restore it from the journal's model events, "
                'or write {"active": "<name>", "history": []} by hand.'
            ) from error

    def _write(self, pointer: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f".{POINTER}.{os.getpid()}"
        temporary.write_text(json.dumps(pointer, indent=1))
        os.replace(temporary, self.root / POINTER)


def shipped_entries() -> list[Entry]:
    """The checkpoints shipped with the project, named as a `model:` policy names them
    (`models/daily-equities`); never active, since they live outside the registry."""
    found = (PROJECT_ROOT / SHIPPED).glob("*/meta.json")
    folders = sorted(p.parent for p in found if p.parent.name[0] != ".")  # not a save under way
    return [replace(_entry(folder, False), name=f"{SHIPPED}/{folder.name}") for folder in folders]


def _read_evaluation(path: Path) -> dict[str, Any]:
    # Checks the fields `bot models list` shows (`SCORES`), so a stored one never breaks it.
    try:
        evaluation = json.loads(Path(path).read_text())
        router = evaluation["average"]["router"]
        if not all(router[key] is None or isinstance(router[key], int | float) for key in SCORES):
            raise TypeError(f"average.router's {', '.join(SCORES)} must be numbers")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{path} is unreadable as an evaluation report ({type(error).__name__}: {error}); it "
            f"must be the {EVALUATION} that `bot evaluate` wrote for this checkpoint."
        ) from error
    return evaluation


def _check_evaluation(path: Path) -> None:
    if not Path(path).is_file():
        raise ConfigError(f"no evaluation file {path}; run `bot evaluate` first.")
    try:
        _read_evaluation(path)
    except ConfigError as error:
        raise ConfigError(f"{error} Nothing was added to the registry.") from error


def _check_name(name: str) -> None:
    # A name is a folder right under the root.
    check_name(name, "model name", "daily-equities")


def _meta(folder: Path) -> dict[str, Any]:
    path = folder / "meta.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"{folder} is not a readable checkpoint ({error}); point at a folder written by "
            "`bot train`."
        ) from error


def _entry(folder: Path, active: bool) -> Entry:
    meta = _meta(folder)
    config = meta.get("extra", {}).get("dataset", {}).get("config", {})
    evaluation, problem = _stored_evaluation(folder)
    return Entry(
        name=folder.name,
        path=folder,
        created=str(meta.get("created", "")),
        bar=str(config.get("bar", "?")),
        symbols=tuple(config.get("symbols", ())),
        evaluation=evaluation,
        active=active,
        evaluation_error=problem,
    )


def _stored_evaluation(folder: Path) -> tuple[dict[str, Any] | None, str | None]:
    # A bad evaluation.json costs its entry only the figures: the list must still show the rest.
    if not (folder / EVALUATION).is_file():
        return None, None
    try:
        return _read_evaluation(folder / EVALUATION), None
    except ConfigError as error:
        return None, str(error)
