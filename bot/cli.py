"""The `bot` command line. The one place that turns `BotError`s into messages and exit codes."""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import click
import structlog
import typer
from typer.core import TyperGroup

from bot import __version__
from bot.errors import BotError, NotBuiltError
from bot.logging import configure_logging, new_run_id
from bot.settings import LoadedSettings, effective_items, load_settings, parse_assignment

log = structlog.get_logger(__name__)


class _BoundaryGroup(TyperGroup):
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
data_app = typer.Typer(help="List, import, check and fetch market data.", no_args_is_help=True)
train_app = typer.Typer(help="Build datasets and train the router (SFT, PPO).", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")


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
    """Settings precedence: command flags and --set > BOT__SECTION__KEY env > config file > defaults."""
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


def _not_built(command: str, issue: int) -> None:
    raise NotBuiltError(
        f"`bot {command}` is not built yet; it arrives with issue #{issue}. "
        "Nothing was done. See the README for what works today."
    )


@app.command()
def backtest() -> None:
    """Backtest the routed portfolio on historical bars and write a report."""
    _not_built("backtest", 3)


@app.command()
def paper() -> None:
    """Paper-trade on a venue's paper endpoint or the sandbox."""
    _not_built("paper", 6)


@app.command()
def live() -> None:
    """Trade live with real money (needs --confirm-live and keys in the environment)."""
    _not_built("live", 6)


@app.command()
def evaluate() -> None:
    """Evaluate a router checkpoint out of sample against the baselines."""
    _not_built("evaluate", 5)


@app.command()
def explain() -> None:
    """Explain the router's decisions from the journal."""
    _not_built("explain", 4)


@app.command()
def status() -> None:
    """Show a node's mode, equity, positions, weights and health."""
    _not_built("status", 7)


@train_app.command("data")
def train_data() -> None:
    """Build the leak-free training dataset."""
    _not_built("train data", 5)


@train_app.command("sft")
def train_sft() -> None:
    """Supervised fine-tuning of the regime head and router prior."""
    _not_built("train sft", 5)


@train_app.command("ppo")
def train_ppo() -> None:
    """PPO training of the router and expert heads."""
    _not_built("train ppo", 5)
