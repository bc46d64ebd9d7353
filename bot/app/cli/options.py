"""Options that several commands share: `--policy` (every form of `bot.engine.policy.POLICY_FORMS`),
and the `--workers` and `--ray-address` of the commands that fan runs out (bot.core.parallel)."""

from typing import Annotated

import typer

from bot.core.parallel import Parallel
from bot.engine.policy import policy_forms

PolicyOption = Annotated[
    str | None,
    typer.Option(help=f"Router policy (default: router.policy). Forms: {policy_forms()}."),
]

Workers = Annotated[
    int,
    typer.Option(
        help="Parallel runs: 1 runs serially here, 0 one local Ray worker per CPU, N workers."
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        help="Run on the Ray cluster this machine belongs to (auto, or the head's host:6379)."
    ),
]


def parallel_of(workers: int, ray_address: str | None) -> Parallel:
    """The fan-out the two options ask for."""
    return Parallel(workers=workers, ray_address=ray_address)
