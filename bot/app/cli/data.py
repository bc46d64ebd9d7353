"""`bot data list|check|import|fetch`: the datasets here, and validating, importing and
downloading bars into the catalog."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import structlog
import typer

from adapters.venues import download
from bot.core.errors import ConfigError
from bot.core.report import text_table
from bot.core.settings_loader import LoadedSettings
from bot.engine.data import read_raw, store_bars
from bot.engine.datasets import list_datasets
from bot.engine.user_files import import_file, read_user_file
from bot.engine.validation import ValidationResult, format_report, repair_details, validate

log = structlog.get_logger(__name__)

data_app = typer.Typer(help="List, import, check and fetch market data.", no_args_is_help=True)


def _loaded(ctx: typer.Context, **flags) -> LoadedSettings:
    return ctx.find_root().obj.settings(**flags)


@data_app.command("list")
def data_list(ctx: typer.Context) -> None:
    """Every dataset available here: built-in real data and imported files."""
    settings = _loaded(ctx).settings
    rows = [
        (
            info.symbol,
            info.bar,
            info.asset_class,
            f"{info.first:%Y-%m-%d}" if info.first is not None else "-",
            f"{info.last:%Y-%m-%d}" if info.last is not None else "-",
            str(info.rows) if info.available else "-",
            info.source if info.available else f"not installed: {info.note}",
        )
        for info in list_datasets(settings.data.catalog)
    ]
    typer.echo(text_table(("symbol", "bar", "class", "first", "last", "bars", "source"), rows))


@data_app.command("check")
def data_check(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A dataset symbol, or the path of a bar file.")],
    bar: Annotated[str, typer.Option(help="Bar size of the dataset or file.")] = "1d",
    asset_class: Annotated[
        str | None, typer.Option("--asset-class", help="Asset class, needed for a file.")
    ] = None,
    policy: Annotated[str | None, typer.Option(help="strict | repair")] = None,
) -> None:
    """Validate a dataset or file and print what is wrong (strict) or what was repaired."""
    settings = _loaded(ctx, **{"data.policy": policy}).settings
    if Path(target).is_file():
        if asset_class is None:
            raise ConfigError("Checking a file needs --asset-class (index, equity, crypto, ...).")
        raw, first_line = read_user_file(target), 2
    else:
        raw, asset_class = read_raw(target, bar, catalog_dir=settings.data.catalog)
        first_line = None
    result = validate(
        raw,
        asset_class=asset_class,
        bar=bar,
        policy=settings.data.policy,
        label=target,
        first_line=first_line,
    )
    _echo_validation(result, target)


@data_app.command("import")
def data_import(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="CSV or Parquet file; schema in bot/engine/user_files.py.")
    ],
    symbol: Annotated[str, typer.Option(help="Symbol to store it under.")],
    asset_class: Annotated[
        str, typer.Option("--asset-class", help="index | equity | crypto | perpetual | fx")
    ],
    bar: Annotated[str, typer.Option(help="Bar size: 1m 5m 15m 1h 4h 1d.")] = "1d",
    tz: Annotated[str, typer.Option(help="Time zone of times without an offset.")] = "UTC",
    adjusted: Annotated[
        bool, typer.Option(help="Prices are already split-adjusted: keep big jumps.")
    ] = False,
    policy: Annotated[str | None, typer.Option(help="strict | repair")] = None,
) -> None:
    """Validate a user file and store it in the catalog."""
    settings = _loaded(ctx, **{"data.policy": policy}).settings
    result = import_file(
        path,
        symbol,
        asset_class,
        bar,
        policy=settings.data.policy,
        catalog_dir=settings.data.catalog,
        tz=tz,
        adjusted=adjusted,
    )
    _echo_validation(result, f"{symbol} {bar}")
    typer.echo(f"Stored {symbol} {bar} in {settings.data.catalog}.")


@data_app.command("fetch")
def data_fetch(
    ctx: typer.Context,
    venue: Annotated[str, typer.Option(help="binance | alpaca")],
    symbol: Annotated[str, typer.Option(help="Venue symbol, e.g. BTC/USDT or AAPL.")],
    start: Annotated[datetime, typer.Option(help="First bar (UTC).")],
    end: Annotated[datetime, typer.Option(help="End, exclusive (UTC).")],
    bar: Annotated[str, typer.Option(help="Bar size: 1m 5m 15m 1h 4h 1d.")] = "1d",
    store_as: Annotated[
        str | None, typer.Option(help="Catalog symbol (default: the symbol without '/').")
    ] = None,
    asset_class: Annotated[
        str | None, typer.Option("--asset-class", help="equity | crypto | perpetual")
    ] = None,
) -> None:
    """Download history (needs network), validate it and store it in the catalog."""
    loaded = _loaded(ctx)
    start, end = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
    frame, default_class = download(
        venue, loaded.settings, loaded.secrets, symbol, bar, start, end, asset_class
    )
    name = store_as or symbol.replace("/", "").replace(":", "")
    settings = loaded.settings
    result = store_bars(
        frame,
        name,
        asset_class or default_class,
        bar,
        policy=settings.data.policy,
        catalog_dir=settings.data.catalog,
        adjusted=True,
    )
    _echo_validation(result, f"{name} {bar}")
    typer.echo(f"Stored {name} {bar} in {settings.data.catalog}.")


def _echo_validation(result: ValidationResult, label: str) -> None:
    typer.echo(format_report(result))
    if result.changed or result.gaps:
        log.warning(
            "bars repaired or with gaps",
            data=label,
            changed=len(result.changed),
            gaps=len(result.gaps),
            details=repair_details(result),
        )
