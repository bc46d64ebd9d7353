"""`bot models list|add|promote|rollback`: the model registry (`bot.engine.registry`).

Promotions and rollbacks are journalled (kind `model_promoted` / `model_rolled_back`). A node
routing with `router.policy = "registry"` switches to the new active model at its next window.
"""

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from bot.core.errors import CheckpointError
from bot.core.report import text_table
from bot.core.saved_meta import checkpoint_path
from bot.engine.journal import Journal, RunRecord
from bot.engine.registry import Registry, shipped_entries

models_app = typer.Typer(help="The model registry: list, add, promote, roll back.")

PROMOTED_EVENT = "model_promoted"
ROLLED_BACK_EVENT = "model_rolled_back"


def _registry(ctx: typer.Context) -> Registry:
    return Registry(ctx.find_root().obj.settings().settings.registry.path)


def operator_event(
    ctx: typer.Context, kind: str, payload: dict, *, symbol: str = "", policy: str = ""
) -> None:
    """Journal an operator command's event; each command is a run of its own in the journal."""
    run = ctx.find_root().obj
    with Journal(run.settings().settings.journal.path) as journal:
        journal.start_run(RunRecord(run.run_id, "operator", symbol, "", policy))
        journal.record_event(run.run_id, pd.Timestamp.now(tz="UTC"), kind, payload)


@models_app.command("list")
def models_list(ctx: typer.Context) -> None:
    """The shipped checkpoints and every registered one; the active registry model is marked
    with *, and the default policy and the active pointer are named below the table."""
    settings = ctx.find_root().obj.settings().settings
    registry = Registry(settings.registry.path)
    shipped = [(entry, "shipped") for entry in shipped_entries()]
    registered = [(entry, str(registry.root)) for entry in registry.entries()]
    rows = [
        ("*" if e.active else "", e.name, where, e.created, e.bar, str(len(e.symbols)), *_scores(e))
        for e, where in shipped + registered
    ]
    header = ("", "name", "from", "created", "bar", "symbols", "TR %", "SR", "MDD %")
    if rows:
        typer.echo(text_table(header, rows))
    for entry, _ in registered:
        if entry.evaluation_error:
            typer.secho(
                f"WARNING: {entry.name} is listed without figures: {entry.evaluation_error}",
                fg=typer.colors.YELLOW,
            )
    typer.echo(f"Default policy (router.policy): {settings.router.policy}")
    active = registry.active() or (
        f"none in {registry.root}; `bot models add CHECKPOINT` then `bot models promote NAME` "
        "sets one."
    )
    typer.echo(f"Active registry model (policy `registry`): {active}")


def _scores(entry) -> tuple[str, str, str]:
    """The router's mean out-of-sample TR, Sharpe and MDD from its `evaluation.json`."""
    router = (entry.evaluation or {}).get("average", {}).get("router")
    if not router:
        return "-", "-", "-"
    return (
        _figure(router["total_return"], 100),
        _figure(router["sharpe"], 1),
        _figure(router["max_drawdown"], 100),
    )


def _figure(value: float | None, scale: float) -> str:
    # `bot evaluate` writes None for a figure no instrument measured.
    return "-" if value is None else f"{value * scale:.2f}"


@models_app.command("add")
def models_add(
    ctx: typer.Context,
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder written by `bot train`.")],
    name: Annotated[str | None, typer.Option(help="Registry name (default: folder name).")] = None,
    evaluation: Annotated[
        Path | None, typer.Option(help="The evaluation.json of `bot evaluate` for it.")
    ] = None,
) -> None:
    """Copy a checkpoint into the registry (it does not become active)."""
    # The same lookup as `model:` policies: `models/daily-equities` works from any folder.
    path = checkpoint_path(f"model:{checkpoint}")
    entry = _registry(ctx).add(path, name, evaluation, verify=_check_loads)
    typer.echo(f"Added {entry.name} to {entry.path.parent}; `bot models promote {entry.name}`.")


@models_app.command("promote")
def models_promote(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Registered model name.")]
) -> None:
    """Make a model active; running nodes switch at their next window."""
    previous = _registry(ctx).promote(name, verify=_check_loads)
    operator_event(ctx, PROMOTED_EVENT, {"active": name, "previous": previous}, policy=name)
    typer.echo(f"Promoted {name} (was: {previous or 'none'}).")


def _check_loads(checkpoint: Path) -> None:
    # The checks a `model:` policy runs when it loads (weights' sha-256, strategy table, feature
    # schema): the registry must not hold, or make active, a model no node could route with.
    from bot.model.checkpoint import load_checkpoint  # torch loads only when a model is checked

    try:
        load_checkpoint(checkpoint)
    except CheckpointError as error:
        raise CheckpointError(f"{error} The registry was left unchanged.") from error


@models_app.command("rollback")
def models_rollback(ctx: typer.Context) -> None:
    """Re-activate the model that was active before the current one."""
    left, restored = _registry(ctx).rollback()
    payload = {"active": restored, "previous": left}
    operator_event(ctx, ROLLED_BACK_EVENT, payload, policy=restored)
    typer.echo(f"Rolled back from {left} to {restored}.")
