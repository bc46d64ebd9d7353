"""Helpers shared by the frozen dataclass configs of training (dataset, model, SFT, PPO)."""

from dataclasses import field, fields

from bot.core.errors import ConfigError

SEEDS = 2**32  # numpy and torch take seeds 0 .. 2**32 - 1


def described(text: str, default):
    """A dataclass field with a default and its help text."""
    return field(default=default, metadata={"help": text})


def from_saved(cls, data: dict, advice: str):
    """`cls(**data)` for a config read back from JSON; unknown keys are refused with `advice`."""
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ConfigError(f"Unknown {cls.__name__} keys {sorted(unknown)}: {advice}")
    return cls(**data)


def check_range(config, name: str, low: int, high: int | None = None) -> None:
    """ConfigError unless `config.<name>` lies in low .. high - 1 (no upper bound when `high` is
    None), or is None where the field's default is None. The message names the field, the
    range, its help and its default, so that it says what to give instead."""
    value = getattr(config, name)
    spec = next(f for f in fields(config) if f.name == name)
    if value is None and spec.default is None:
        return
    if value is not None and value >= low and (high is None or value < high):
        return
    allowed = f"at least {low}" if high is None else f"{low} .. {high - 1}"
    none = " or None" if spec.default is None else ""
    meaning = spec.metadata["help"].rstrip(".")
    raise ConfigError(
        f"{type(config).__name__}.{name} is {value!r}, but must be {allowed}{none} ({meaning}). "
        f"Give a value in that range, or leave it out for the default ({spec.default!r})."
    )


def check_counts_and_seed(config, *counts: str) -> None:
    """A training config's checks: each of `counts` at least 1 (0 or less would train no step,
    yet save a model) and a seed that numpy and torch take."""
    for name in counts:
        check_range(config, name, 1)
    check_range(config, "seed", 0, SEEDS)
