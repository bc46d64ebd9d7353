"""The `--workers` and `--ray-address` options of the commands that fan runs out
(bot.core.parallel)."""

from typing import Annotated

import typer

from bot.core.parallel import Parallel

Workers = Annotated[
    int,
    typer.Option(
        help="Parallel runs: 1 runs serially here, 0 one local Ray worker per CPU, N workers."
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(help="Run on this Ray cluster (e.g. ray://head:10001 or auto), not locally."),
]


def parallel_of(workers: int, ray_address: str | None) -> Parallel:
    """The fan-out the two options ask for."""
    return Parallel(workers=workers, ray_address=ray_address)
