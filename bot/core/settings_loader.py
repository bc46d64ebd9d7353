"""Typed settings over TOML, with environment and command-line overrides.

Precedence, highest first: command line (`--set key=value` and command flags) > environment
(`BOT__SECTION__KEY=value`) > config file (`--config PATH`, else `$BOT_CONFIG`, else
`config/default.toml` when present) > built-in defaults. Values in the environment and in `--set`
are parsed as JSON when they parse (numbers, lists, booleans), else taken as strings.

Every leaf value keeps where it came from (`LoadedSettings.sources`, `bot config show`). Secrets
are never read from files or flags: only from the environment variables in `SECRET_ENV`.
"""

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.core.errors import ConfigError
from bot.core.settings import SECRET_ENV, Secrets, Settings

ENV_PREFIX = "BOT__"
DEFAULT_CONFIG = Path("config/default.toml")
_SECRET_WORDS = ("secret", "api_key", "apikey", "password", "token", "passphrase")


@dataclass(frozen=True)
class LoadedSettings:
    """The effective settings, where each leaf value came from, and the secrets."""

    settings: Settings
    sources: dict[str, str]
    secrets: Secrets


def load_settings(
    config_file: Path | None = None,
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Merge defaults, file, environment and CLI overrides (dotted keys) into frozen settings."""
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, Any]]] = []
    path = _config_path(config_file, environ)
    if path is not None:
        layers.append((f"file:{path}", _read_toml(path)))
    for var, value in sorted(environ.items()):
        if var.startswith(ENV_PREFIX):
            key = var.removeprefix(ENV_PREFIX).lower().replace("__", ".")
            layers.append((f"env:{var}", _nest(key, _parse_value(value))))
            _refuse_secrets(layers[-1][1], f"The variable {var}", "BOT__ variables")
    for key, value in (cli or {}).items():
        if value is not None:
            layers.append(("cli", _nest(key, value)))
            _refuse_secrets(layers[-1][1], "The command line", "flags or --set")

    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for source, layer in layers:
        _merge(merged, layer, source, sources)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, sources)) from None
    return LoadedSettings(settings, _all_sources(settings, sources), _read_secrets(environ))


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one `--set key=value` argument."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value, e.g. --set router.window=30; got {text!r}.")
    return key.strip(), _parse_value(value.strip())


def effective_items(loaded: LoadedSettings) -> list[tuple[str, str, str]]:
    """(dotted key, shown value, source) for every setting and secret; secrets are redacted."""
    rows = [
        (key, json.dumps(value, default=str), loaded.sources[key])
        for key, value in _flatten(loaded.settings.model_dump(mode="json")).items()
    ]
    for name, var in SECRET_ENV.items():
        is_set = getattr(loaded.secrets, name) is not None
        rows.append((f"secrets.{name}", "**********" if is_set else "(not set)", f"env:{var}"))
    return rows


def _config_path(config_file: Path | None, environ: Mapping[str, str]) -> Path | None:
    if config_file is not None:
        return config_file
    if environ.get("BOT_CONFIG"):
        return Path(environ["BOT_CONFIG"])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"Config file {path} does not exist. Pass an existing file with --config "
            f"(the shipped ones are in config/), or leave --config out to use the defaults."
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"Config file {path} is a directory. Pass a TOML file with --config (or BOT_CONFIG)."
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}. Fix the file.") from None
    _refuse_secrets(data, f"Config file {path}", "files")
    return data


def _refuse_secrets(layer: dict[str, Any], where: str, kind: str) -> None:
    for key in _flatten(layer):
        if any(word in key.rsplit(".", 1)[-1].lower() for word in _SECRET_WORDS):
            raise ConfigError(
                f"{where} sets `{key}`, which looks like a secret. Secrets are never read from "
                f"{kind}: remove it and set the environment variable instead "
                f"({', '.join(SECRET_ENV.values())})."
            )


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(dotted.split(".")):
        out = {part: out}
    return out


def _merge(into: dict, layer: dict, source: str, sources: dict[str, str], prefix: str = "") -> None:
    for key, value in layer.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(into.get(key, {}), dict) and _is_section(dotted):
            _merge(into.setdefault(key, {}), value, source, sources, f"{dotted}.")
        else:
            into[key] = value
            sources[dotted] = source


def _is_section(dotted: str) -> bool:
    # Dict-valued settings (router.weights) are leaves: a later layer replaces them whole.
    return dotted != "router.weights"


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and _is_section(dotted):
            out.update(_flatten(value, f"{dotted}."))
        else:
            out[dotted] = value
    return out


def _all_sources(settings: Settings, sources: dict[str, str]) -> dict[str, str]:
    keys = _flatten(settings.model_dump(mode="json"))
    return {key: sources.get(key, "default") for key in keys}


def _explain(exc: ValidationError, sources: dict[str, str]) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(top level)"
        origin = _origin(key, sources)
        reason = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        # A check across keys gets the whole section as its input: the message says enough.
        whole = err["type"] == "extra_forbidden" or isinstance(err["input"], dict)
        shown = "" if whole else f" (got {err['input']!r})"
        problems.append(f"`{key}` from {origin}: {reason}{shown}")
    return (
        "Invalid configuration: "
        + "; ".join(problems)
        + ". Fix the named file, variable or flag; `bot config show` prints the effective "
        "settings and the README's Configuration section lists every key."
    )


def _origin(key: str, sources: dict[str, str]) -> str:
    # An unknown section has no source of its own: its keys below it have.
    below = sorted({source for name, source in sources.items() if name.startswith(f"{key}.")})
    while key:
        if key in sources:
            return sources[key]
        key = key.rpartition(".")[0]
    return ", ".join(below) or "the merged settings"


def _read_secrets(environ: Mapping[str, str]) -> Secrets:
    # Blanks around a pasted key are never part of it, and a blank variable is no key.
    values = {name: environ.get(var, "").strip() for name, var in SECRET_ENV.items()}
    return Secrets(**{name: value for name, value in values.items() if value})
