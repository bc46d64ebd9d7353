"""`bot strategies list` and `bot strategies new`: the strategy table, and a strategy of your own
(`strategies.plugins`, `bot.app.strategy_template`)."""

from pathlib import Path
from typing import Annotated

import typer

from bot.app.strategy_template import write_template
from bot.core.report import check_output_folder, text_table
from strategies import EXPERTS, STRATEGIES
from strategies.plugins import ENV, parameters, spec_named, table

strategies_app = typer.Typer(
    help="The strategy table, and strategies of your own.", no_args_is_help=True
)


@strategies_app.command("list")
def strategies_list(
    name: Annotated[str | None, typer.Argument(help="Show only this strategy.")] = None,
) -> None:
    """Every strategy of the table: the built-in rows in the model's action order, then the
    plug-ins (BOT_STRATEGIES, entry points); each with its expert and its parameters (type and
    default), the fields `bot sweep` can vary."""
    rows = list(enumerate(table()))
    if name is not None:
        rows = [(row, spec) for row, spec in rows if spec is spec_named(name)]
    for row, spec in rows:
        source = "built-in" if row < len(STRATEGIES) else "plug-in"
        typer.echo(f"{spec.name} ({spec.expert} expert, {source}: {spec.strategy.__module__})")
        params = [(f"  {p.name}", p.type, repr(p.default)) for p in parameters(spec)]
        typer.echo(text_table(("  parameter", "type", "default"), params) + "\n")


@strategies_app.command("new")
def strategies_new(
    name: Annotated[str, typer.Argument(help="Class name of the new strategy, e.g. MyTrend.")],
    expert: Annotated[str, typer.Option(help=f"Its expert: {' | '.join(EXPERTS)}.")],
    folder: Annotated[
        Path, typer.Option("--dir", help="Folder for the strategy file and its test.")
    ] = Path("user_strategies"),
) -> None:
    """Write a documented template strategy and its contract test, to edit and then register."""
    # A --dir through a file, or where this user may not write, is a message, not a traceback.
    strategy, test = write_template(name, expert, check_output_folder(folder, "--dir"))
    typer.echo(f"Wrote {strategy} and {test}.")
    typer.echo(f"Test it:     python -m pytest {test}")
    typer.echo(f"Register it: export {ENV}={strategy.resolve()}")
    typer.echo(f"Then:        bot strategies list; bot backtest --policy single:{name}")
