"""The `registry` policy's models for the router actor: the registry's active model, followed
across `bot models promote|rollback`.

The active model must load when the actor is built. One made active later switches in at the
next window if it loads; one that does not load is refused once (logged, journalled, alerted),
and the router keeps the model it has until another is made active.
"""

from collections.abc import Callable
from pathlib import Path

from nautilus_trader.common.component import Logger

from bot.core.alerts import MODEL_REFUSED
from bot.core.errors import BotError, CheckpointError, ConfigError
from bot.engine.policy import GuardedPolicy
from bot.engine.registry import Registry
from bot.engine.router_journal import RouterJournal

Alert = Callable[[str, str, dict], None]  # (kind, message, details), as `Notifier.send`


class RegistryFollower:
    """Which registered model routes now, and its policy loaded by `load` (a policy spec ->
    the router's `GuardedPolicy`). Switches and refusals go to the router actor's `log`,
    `journal` and `alert`."""

    def __init__(
        self,
        root: str,
        load: Callable[[str], GuardedPolicy],
        log: Logger,
        journal: RouterJournal,
        alert: Alert,
    ) -> None:
        self._root = root
        self._registry = Registry(Path(root))
        self._load = load
        self._log, self._journal, self._alert = log, journal, alert
        self.active: str | None = self._registry.active()  # the model routing now
        self._refused: str | None = None  # a model made active later that did not load
        self._policy: GuardedPolicy | None = None  # the active model's

    def first(self) -> GuardedPolicy:
        """The active model's policy; a CheckpointError that says what to do when it does not
        load."""
        try:
            self._policy = self._load(self._registry.active_policy())
        except CheckpointError as error:
            raise CheckpointError(
                f"The active model {self.active!r} of the registry {self._root} does "
                f"not load: {error} Roll back (`bot models rollback`) or promote a model that "
                "loads (`bot models promote NAME`)."
            ) from error
        return self._policy

    def follow(self, ts: int) -> GuardedPolicy:
        """The policy to route with from the decision at `ts`: the registry's active model's
        when it changed since the last call and loads, else the one routing now (an unreadable
        pointer is logged; a switch, or its refusal, is journalled at `ts`)."""
        try:
            model = self._newly_active()
        except ConfigError as error:
            self._log.error(f"model registry unreadable, keeping {self.active}: {error}")
            return self._policy
        if model is None:
            return self._policy
        payload = {"from": self.active, "to": model, "load_error": None}
        try:
            self._switch(model)
        except BotError as error:
            payload["load_error"] = str(error)
            self._refuse(model, str(error))
        else:
            self._log.warning(f"router switched model {payload['from']} -> {model}")
        self._journal.switch(ts, payload)
        return self._policy

    def _newly_active(self) -> str | None:
        """The registry's active model when it is neither the one routing nor one refused
        already, else None; a ConfigError when the registry's pointer is unreadable."""
        active = self._registry.active()
        return None if active is None or active in (self.active, self._refused) else active

    def _switch(self, model: str) -> None:
        """Route with `model` from now on; a BotError when it does not load, and `model` is
        then refused until another one is made active."""
        try:
            policy = self._load(self._registry.policy_of(model))
        except BotError:
            self._refused = model
            raise
        self.active, self._refused, self._policy = model, None, policy

    def _refuse(self, model: str, error: str) -> None:
        message = f"router keeps model {self.active}: the newly active {model} does not load"
        self._log.error(f"{message}: {error}")
        self._alert(MODEL_REFUSED, f"{message}: {error}", {"model": model})
