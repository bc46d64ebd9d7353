"""`bot sweep`: a walk-forward parameter sweep of one strategy (bot/app/sweep.py) on the fan-out."""

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.app.cli.options import RayAddress, Workers, parallel_of
from bot.app.sweep import SweepConfig, run_sweep
from bot.core.errors import ConfigError
from bot.engine.backtest_request import base_request


def sweep(
    ctx: typer.Context,
    strategy: Annotated[str, typer.Argument(help="Strategy to sweep, e.g. RSI.")],
    grid: Annotated[
        list[str],
        typer.Option(
            help="FIELD=V1,V2,... (repeat per field), e.g. --grid rsi_period=10,14,20. Values are "
            'JSON (14, 1.5, true, "text"); other text is taken as a string.'
        ),
    ],
    symbol: Annotated[str, typer.Option(help="Symbol to backtest (see `bot data list`).")] = "SPX",
    start: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    end: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    bar: Annotated[str, typer.Option(help="Bar size.")] = "1d",
    folds: Annotated[int, typer.Option(help="Walk-forward folds.")] = 3,
    purge: Annotated[int, typer.Option(help="Bars between each fold's fit and test spans.")] = 20,
    out: Annotated[Path | None, typer.Option(help="Report folder.")] = None,
    workers: Workers = 0,
    ray_address: RayAddress = None,
) -> None:
    """Sweep a strategy's parameters over a grid, scored walk-forward; write a report."""
    settings = ctx.find_root().obj.settings().settings
    config = SweepConfig(strategy=strategy, grid=_grid(grid), folds=folds, purge=purge)
    run = replace(
        base_request(settings),
        symbol=symbol,
        bar=bar,
        start=start.date() if start else None,
        end=end.date() if end else None,
        years=settings.backtest.years,  # the default span, as `bot backtest` reads it
    )
    folder = out or settings.backtest.report_dir / f"sweep-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    result = run_sweep(config, run, folder, parallel_of(workers, ray_address))
    typer.echo(result["table"])
    typer.echo(f"Report: {(folder / 'sweep.json').resolve()}")


def _grid(items: list[str]) -> dict[str, tuple]:
    texts: dict[str, list[str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not values:
            raise ConfigError(f"--grid {item!r}: write FIELD=V1,V2 (e.g. period=10,14).")
        if name in texts:
            raise ConfigError(
                f"--grid {name} is given twice: one option would replace the other. Give all "
                f"its values in one: --grid {name}={','.join(texts[name])},{values}."
            )
        texts[name] = values.split(",")
        if len(set(texts[name])) < len(texts[name]):
            raise ConfigError(f"--grid {item!r} repeats a value: each would run twice.")
    return {name: tuple(_value(v) for v in values) for name, values in texts.items()}


def _value(text: str) -> object:
    # Text that is not JSON stays a string: a str field needs no quotes, and any other field's
    # type check (SweepConfig) then names the field, the value and the type it should have.
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
