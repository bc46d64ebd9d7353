"""Your own strategies: rows that join the table without editing this package.

A plug-in is a `StrategySpec` (name, expert, strategy class, config class), found two ways:
- an installed distribution's entry point in the group `ENTRY_POINTS`, e.g. in its
  pyproject.toml: `[project.entry-points."routed_experts_bot.strategies"]`
  `my_trend = "my_package.my_trend:STRATEGY"`;
- the environment variable `ENV`: Python files (or importable module names), separated by
  os.pathsep (":"), each defining `STRATEGY`; `bot strategies new` writes such a file.

Plug-ins come after the eleven built-in rows (`table()`). The built-in rows alone are the router
model's action space, so a plug-in trades only where a run names it: `single:<name>`, the
`fixed` policy's weights, and `bot sweep <name>`. Models and the routing baselines (uniform,
random, best-expert, rule, momentum) keep routing over the eleven: a checkpoint's action space
is fixed when it is trained, and installing a plug-in must not change a baseline's results.
"""

import importlib
import importlib.util
import os
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
from nautilus_trader.config import StrategyConfig

from bot.core.errors import ConfigError, StrategyError
from strategies import EXPERTS, STRATEGIES, StrategySpec
from strategies.base import RoutedStrategy, RoutedStrategyConfig

ENTRY_POINTS = "routed_experts_bot.strategies"
ENV = "BOT_STRATEGIES"
# Config fields every run sets itself (what to trade, and whether the account can short), and
# nautilus' own StrategyConfig fields: none of them is a parameter of the strategy's rules.
SET_BY_THE_RUN = frozenset({"instrument_id", "bar_type", "long_only"})
NAUTILUS_FIELDS = frozenset(StrategyConfig.__struct_fields__)


class Parameter(NamedTuple):
    """One parameter of a strategy's config: what `bot strategies list` shows and `bot sweep`
    may vary."""

    name: str
    type: str
    default: Any


def plugin_strategies() -> tuple[StrategySpec, ...]:
    """The plug-ins of the entry-point group and of `ENV`, checked (`StrategyError` naming the
    plug-in and what to fix when one does not load or breaks the table's rules)."""
    return _load(os.environ.get(ENV, ""))


def table() -> tuple[StrategySpec, ...]:
    """The built-in rows, in the model's action order, then the plug-ins."""
    return STRATEGIES + plugin_strategies()


def spec_named(name: str) -> StrategySpec:
    """The row called `name`; StrategyError listing every name when there is none."""
    found = {spec.name: spec for spec in table()}.get(name)
    if found is None:
        names = ", ".join(spec.name for spec in table())
        raise ConfigError(f"Unknown strategy {name!r}; the table has: {names}.")
    return found


def parameters(spec: StrategySpec) -> list[Parameter]:
    """The strategy's own config fields, with their types and defaults: not nautilus'
    StrategyConfig fields, nor what every run sets (`SET_BY_THE_RUN`)."""
    return [
        Parameter(field.name, _type_name(field.type), field.default)
        for field in msgspec.structs.fields(spec.config)
        if field.name not in NAUTILUS_FIELDS | SET_BY_THE_RUN
    ]


@lru_cache
def _load(listed: str) -> tuple[StrategySpec, ...]:
    # Cached per value of ENV: loading a file twice would make two classes of one strategy.
    found = [(f"entry point {ep.name}", ep.load) for ep in entry_points(group=ENTRY_POINTS)]
    found += [(f"{ENV} {item}", lambda item=item: _strategy_of(item)) for item in _items(listed)]
    specs: list[StrategySpec] = []
    for where, load in found:
        try:
            spec = load()
        except Exception as exc:
            raise StrategyError(
                f"The strategy plug-in of {where} did not load: {type(exc).__name__}: {exc}. "
                f"Fix it, or remove it from {ENV} (or uninstall its package)."
            ) from exc
        _check(spec, where, taken=[s.name for s in STRATEGIES + tuple(specs)])
        specs.append(spec)
    return tuple(specs)


def _items(listed: str) -> list[str]:
    return [item for item in listed.split(os.pathsep) if item.strip()]


def _strategy_of(item: str) -> Any:
    if not item.endswith(".py"):
        return importlib.import_module(item).STRATEGY
    path = Path(item).resolve()
    spec = importlib.util.spec_from_file_location(f"user_strategies.{path.stem}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.STRATEGY


def _check(spec: Any, where: str, taken: list[str]) -> None:
    problem = _problem(spec, taken)
    if problem:
        raise StrategyError(
            f"The strategy plug-in of {where} {problem}. `bot strategies new` writes a template "
            "that keeps the table's rules."
        )


def _problem(spec: Any, taken: list[str]) -> str | None:
    if not isinstance(spec, StrategySpec):
        return f"is a {type(spec).__name__}, not a strategies.StrategySpec"
    if spec.name in taken:
        return f"is called {spec.name!r}, which the table has already"
    if spec.expert not in EXPERTS:
        return f"names expert {spec.expert!r}; experts: {', '.join(EXPERTS)}"
    if not (isinstance(spec.strategy, type) and issubclass(spec.strategy, RoutedStrategy)):
        return "has a strategy class that is not a strategies.base.RoutedStrategy"
    if not (isinstance(spec.config, type) and issubclass(spec.config, RoutedStrategyConfig)):
        return "has a config class that is not a strategies.base.RoutedStrategyConfig"
    if (spec.strategy.__name__, spec.config.__name__) != (spec.name, f"{spec.name}Config"):
        return f"must name its classes {spec.name} and {spec.name}Config, after its row"
    return None


def _type_name(annotation: Any) -> str:
    # PositiveInt is Annotated[int, Meta(gt=0)]: show "int > 0".
    meta = getattr(annotation, "__metadata__", ())
    base = getattr(annotation, "__origin__", annotation)
    name = getattr(base, "__name__", str(base))
    bounds = [
        f"{symbol} {getattr(m, key)}"
        for m in meta
        for key, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
        if getattr(m, key, None) is not None
    ]
    return " ".join([name, *bounds])
