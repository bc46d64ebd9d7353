"""The `registry` policy's models for the router actor: the registry's active model, followed
across `bot models promote|rollback`.

The active model must load when the actor is built. One made active later switches in at the
next window if it loads; one that does not load is refused once, and the router keeps the model
it has until another is made active.
"""

from collections.abc import Callable
from pathlib import Path

from bot.core.errors import BotError, CheckpointError
from bot.engine.policy import GuardedPolicy
from bot.engine.registry import Registry


class RegistryFollower:
    """Which registered model routes now, and its policy loaded by `load` (a policy spec ->
    the router's `GuardedPolicy`)."""

    def __init__(self, root: str, load: Callable[[str], GuardedPolicy]) -> None:
        self._root = root
        self._registry = Registry(Path(root))
        self._load = load
        self.active: str | None = self._registry.active()  # the model routing now
        self._refused: str | None = None  # a model made active later that did not load

    def first(self) -> GuardedPolicy:
        """The active model's policy; a CheckpointError that says what to do when it does not
        load."""
        try:
            return self._load(self._registry.active_policy())
        except CheckpointError as error:
            raise CheckpointError(
                f"The active model {self.active!r} of the registry {self._root} does "
                f"not load: {error} Roll back (`bot models rollback`) or promote a model that "
                "loads (`bot models promote NAME`)."
            ) from error

    def newly_active(self) -> str | None:
        """The registry's active model when it is neither the one routing nor one refused
        already, else None; a ConfigError when the registry's pointer is unreadable."""
        active = self._registry.active()
        return None if active is None or active in (self.active, self._refused) else active

    def switch(self, model: str) -> GuardedPolicy:
        """`model`'s policy, which routes from now on; a BotError when it does not load, and
        `model` is then refused until another one is made active."""
        try:
            policy = self._load(self._registry.policy_of(model))
        except BotError:
            self._refused = model
            raise
        self.active, self._refused = model, None
        return policy
