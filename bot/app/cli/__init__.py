"""The `bot` command line. The one place that turns `BotError`s into messages and exit codes."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from bot import __version__
from bot.app.cli.dashboard import dashboard
from bot.app.cli.data import data_app
from bot.app.cli.evaluate import evaluate
from bot.app.cli.live import live, paper
from bot.app.cli.models import models_app
from bot.app.cli.options import PolicyOption, RayAddress, Workers, parallel_of
from bot.app.cli.risk import flatten, risk_app
from bot.app.cli.runs import runs_app
from bot.app.cli.schedule import schedule
from bot.app.cli.strategies import strategies_app
from bot.app.cli.sweep import sweep
from bot.app.cli.train import train_app
from bot.app.explain import explain_decision, explain_run, model_attributor
from bot.app.runs import latest_decided_run, resolve_run
from bot.app.status import format_status
from bot.core.errors import BotError, ConfigError
from bot.core.logging import configure_logging, new_run_id
from bot.core.report import TABLE_NOTES, check_output_folder, format_table
from bot.core.settings import BacktestSettings, RouterSettings
from bot.core.settings_loader import (
    LoadedSettings,
    effective_items,
    load_settings,
    parse_assignment,
)
from bot.engine.backtest import run_many
from bot.engine.backtest_report import write_backtest_report
from bot.engine.backtest_request import backtest_requests, out_of_sample_floor
from bot.engine.journal import Journal
from bot.engine.node_state import latest_session, read_cache
from bot.model.policy import load_policy


class _HelpGroup(TyperGroup):
    """A command group whose command list shows each command's first paragraph as one line."""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        # typer's rich help keeps a docstring's line breaks in the list, breaking lines midway.
        command = super().get_command(ctx, name)
        if command is not None and command.help and not command.short_help:
            command.short_help = " ".join(command.help.split("\n\n")[0].split())
        return command


class _BoundaryGroup(_HelpGroup):
    """Runs every command under one error boundary: expected errors become a message and an
    exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BotError as exc:
            typer.secho(f"Error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.secho("Interrupted.", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=_BoundaryGroup,
    help="MM-DREX routed-experts trading bot: backtest, paper and live trading on NautilusTrader.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config", cls=_HelpGroup)
app.add_typer(data_app, name="data", cls=_HelpGroup)
app.add_typer(train_app, name="train", cls=_HelpGroup)
app.add_typer(models_app, name="models", cls=_HelpGroup)
app.add_typer(runs_app, name="runs", cls=_HelpGroup)
app.add_typer(risk_app, name="risk", cls=_HelpGroup)
app.add_typer(strategies_app, name="strategies", cls=_HelpGroup)
app.command()(flatten)
app.command()(schedule)
app.command()(evaluate)
app.command()(sweep)
app.command()(dashboard)


@dataclass(frozen=True)
class _Context:
    config_file: Path | None
    assignments: tuple[str, ...]
    run_id: str

    def settings(self, **flags: Any) -> LoadedSettings:
        """Effective settings: command flags (dotted keys) over --set, env, file and defaults."""
        cli = dict(parse_assignment(text) for text in self.assignments)
        cli.update({key: value for key, value in flags.items() if value is not None})
        return load_settings(self.config_file, cli)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bot {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config file (else $BOT_CONFIG).")
    ] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override one setting, e.g. --set router.window=30."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Settings precedence: flags and --set > BOT__SECTION__KEY env > config file > defaults."""
    run = _Context(config, tuple(assignments or ()), new_run_id())
    loaded = run.settings()
    configure_logging(loaded.settings.logging, run.run_id)
    ctx.obj = run


def _ctx(ctx: typer.Context) -> _Context:
    return ctx.find_root().obj


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print every effective setting with its source. Secrets are redacted."""
    rows = effective_items(_ctx(ctx).settings())
    width = max(len(key) for key, _, _ in rows)
    for key, value, source in rows:
        typer.echo(f"{key.ljust(width)} = {value}  # {source}")


def _default_start_example() -> str:
    # The built-in default policy and symbol's floor, read from the shipped model, never typed.
    policy, symbol = RouterSettings().policy, BacktestSettings().symbols[0]
    floor = out_of_sample_floor([policy], symbol)
    return f" ({policy} on {symbol}: {floor})" if floor else ""


@app.command()
def backtest(
    ctx: typer.Context,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols (see `bot data list`).")
    ] = None,
    start: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="First bar (UTC). Default: backtest.years before the end (the first bar when "
            "the data is shorter), but not before the first day out of sample for any model "
            f"policy of the run, read from its meta.json{_default_start_example()}.",
        ),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last bar (UTC). Default: the end of the data."),
    ] = None,
    bar: Annotated[str | None, typer.Option(help="Bar size: 1m 5m 15m 1h 4h 1d.")] = None,
    policy: PolicyOption = None,
    compare: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated policies (any --policy form) run side by side, on the same "
            "span; buy-and-hold is added."
        ),
    ] = None,
    window: Annotated[int | None, typer.Option(help="Bars between router decisions.")] = None,
    capital: Annotated[float | None, typer.Option(help="Starting capital.")] = None,
    fee_bps: Annotated[float | None, typer.Option(help="Commission per side, bps.")] = None,
    slippage_bps: Annotated[float | None, typer.Option(help="Slippage per fill, bps.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the random policy.")] = None,
    report_dir: Annotated[Path | None, typer.Option(help="Where report folders go.")] = None,
    workers: Workers = 0,
    ray_address: RayAddress = None,
) -> None:
    """Backtest the routed portfolio on historical bars, print metrics and write a report."""
    run = _ctx(ctx)
    settings = run.settings(
        **{
            "backtest.symbols": symbols.split(",") if symbols is not None else None,
            "backtest.start": start.date() if start else None,
            "backtest.end": end.date() if end else None,
            "backtest.bar": bar,
            "backtest.capital": capital,
            "backtest.fee_bps": fee_bps,
            "backtest.slippage_bps": slippage_bps,
            "backtest.report_dir": report_dir,
            "router.policy": policy,
            "router.window": window,
            "router.seed": seed,
        }
    ).settings
    policies = compare.split(",") if compare else [settings.router.policy]
    if len(set(policies)) < len(policies):
        raise ConfigError(f"--compare {compare} names a policy twice: name each once.")
    reports = check_output_folder(settings.backtest.report_dir, "--report-dir")
    out = reports / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{run.run_id}"
    requests = backtest_requests(settings, policies, run.run_id, out)
    results = run_many(requests, parallel_of(workers, ray_address), load_policy)
    for symbol in settings.backtest.symbols:
        mine = [r for r in results if r.request.symbol == symbol]
        folder = out / symbol if len(settings.backtest.symbols) > 1 else out
        metrics = write_backtest_report(mine, folder)
        span = mine[0].bars.index
        typer.echo(f"\n{symbol} {span[0]:%Y-%m-%d} .. {span[-1]:%Y-%m-%d}")
        typer.echo(format_table(metrics, mine[0].currency))
        for picked in {r.best_expert for r in mine if r.best_expert}:
            typer.echo(f"best-expert picked the {picked} expert (best validation Sharpe).")
        for flag in {flag for r in mine for flag in r.flags}:
            typer.secho(f"WARNING: {flag}", fg=typer.colors.YELLOW)
    typer.echo(f"\n{TABLE_NOTES}")
    typer.echo(f"\nRun: {run.run_id} (`bot explain` and `bot runs list` know it)")
    typer.echo(f"Report: {out.resolve()}")


app.command()(paper)
app.command()(live)


@app.command()
def explain(
    ctx: typer.Context,
    run: Annotated[
        str | None,
        typer.Argument(
            help="Run id, as `bot backtest` printed it (default: the newest backtest, paper or "
            "live run; of a --compare, the model's)."
        ),
    ] = None,
    at: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="Decision time (UTC)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the run summary plot.")] = None,
) -> None:
    """Explain one router decision (--at), or how the weights moved over a whole run."""
    settings = _ctx(ctx).settings().settings
    with Journal(settings.journal.path, read_only=True) as journal:  # refuses a missing one
        record = resolve_run(journal, run) if run else latest_decided_run(journal)
        if record is None:
            raise ConfigError(
                f"The journal {settings.journal.path} holds no backtest, paper or live run yet."
            )
        if at is None:
            folder = out or settings.backtest.report_dir / f"explain-{record.run_id}"
            typer.echo(explain_run(journal, record.run_id, check_output_folder(folder, "--out")))
            return
        attributor = model_attributor(record, record.settings.get("catalog"), journal)
        typer.echo(
            explain_decision(journal, record.run_id, at.replace(tzinfo=UTC), attributor=attributor)
        )


@app.command()
def status(
    ctx: typer.Context,
    run: Annotated[
        str | None, typer.Option(help="Session run id (default: the newest paper/live run).")
    ] = None,
) -> None:
    """Show a paper or live node's mode, venue, equity, positions, weights, regime, data
    staleness and kill switch, running or stopped (from the journal and Redis)."""
    settings = _ctx(ctx).settings().settings
    with Journal(settings.journal.path, read_only=True) as journal:  # never creates one
        session = latest_session(journal, run)  # refuses a run that is not a session
    cache = read_cache(settings.persistence, session.trader_id)  # the session's own trader
    typer.echo(format_status(session, cache, datetime.now(UTC)))
