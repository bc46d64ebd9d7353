"""Helpers shared by the frozen dataclass configs of training (dataset, model, SFT, PPO)."""

from dataclasses import field, fields

from bot.core.errors import ConfigError


def described(text: str, default):
    """A dataclass field with a default and its help text."""
    return field(default=default, metadata={"help": text})


def from_saved(cls, data: dict, advice: str):
    """`cls(**data)` for a config read back from JSON; unknown keys are refused with `advice`."""
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ConfigError(f"Unknown {cls.__name__} keys {sorted(unknown)}: {advice}")
    return cls(**data)
