"""Names a user gives that become folder or file names: symbols in the catalog, models in the
registry. Letters, digits, '.', '_' and '-', starting with a letter or digit, so a name never
climbs out of its folder (`..`) or hides (`.x`)."""

import re

from bot.core.errors import ConfigError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_name(name: str, kind: str, example: str) -> str:
    """`name`, or a ConfigError saying what a `kind` may be called (e.g. `example`)."""
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"Invalid {kind} {name!r}: use letters, digits, '.', '_' and '-', starting with a "
            f"letter or digit (e.g. {example})."
        )
    return name
