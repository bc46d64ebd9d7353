"""`bot runs list`: the backtests, evaluations, paper and live sessions in the journal."""

from datetime import datetime
from typing import Annotated

import typer

from bot.app.runs import MODES, Run, check_mode, list_runs
from bot.core.errors import ConfigError
from bot.core.report import text_table
from bot.engine.journal import Journal

runs_app = typer.Typer(help="The runs in the journal: backtests, evaluations, sessions.")


@runs_app.command("list")
def runs_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=0, help="Show the newest N runs (0: all).")] = 20,
    mode: Annotated[
        str | None, typer.Option(help=f"Only runs of this mode: {' | '.join(MODES)}.")
    ] = None,
) -> None:
    """Every run in the journal, newest first: the id to pass to `bot explain` or `bot status`,
    its mode, symbols, policies, start time (UTC) and report folder."""
    check_mode(mode)  # before the journal: no journal yet says nothing of a typo
    path = ctx.find_root().obj.settings().settings.journal.path
    if path.is_dir():
        raise ConfigError(
            f"journal.path {path} is a folder, not a journal file: point journal.path at a file "
            "(e.g. journal.sqlite in that folder)."
        )
    runs = []
    if path.is_file():  # listing must not create a journal
        # Read only: a writer's open would upgrade an older file, and wait on a running node.
        with Journal(path, read_only=True) as journal:
            runs = list_runs(journal, mode)
    if not runs:
        kind = f"{mode} runs" if mode else "runs"
        typer.echo(
            f"No {kind} in the journal {path}: `bot backtest`, `bot evaluate` and `bot paper` "
            "record theirs there."
        )
        return
    shown = runs[:limit] if limit else runs
    header = ("id", "mode", "symbols", "policies", "started (UTC)", "report")
    typer.echo(text_table(header, [_row(run) for run in shown]))
    if len(shown) < len(runs):
        typer.echo(f"Older runs not shown: {len(runs) - len(shown)} (--limit 0 shows all).")


def _row(run: Run) -> tuple[str, ...]:
    return (
        run.run_id,
        run.mode,
        ",".join(run.symbols) or "-",
        ",".join(run.policies) or "-",
        f"{datetime.fromisoformat(run.started):%Y-%m-%d %H:%M:%S}",
        run.report_dir or "-",
    )
