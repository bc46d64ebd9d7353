"""What the router actor writes to the journal: its decisions, fills, held-back orders and
model switches, under its run id.

`journal_fill` writes one nautilus fill; the session journal (`bot.engine.persistence`) uses it
too, for the fills a node's cache holds that its journal lacks.

Its writes run inside nautilus handlers (fills on a live node's execution queue), where an
exception makes nautilus end the process at once: a write that fails (a full disk, lost
permissions) is logged as an error and dropped, and the node goes on trading (`write_or_log`,
which the risk guard and the reconciliation audit use too).
"""

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from nautilus_trader.common.component import Logger
from nautilus_trader.model.data import Bar

from bot.core.observation import Account, Observation
from bot.engine.journal import DecisionRecord, Journal
from bot.engine.policy import Decision
from bot.engine.router_config import RouterActorConfig
from strategies import name_of
from strategies.base import RoutedStrategy

ROUTER_SWITCH_EVENT = "router_switch"
ACCOUNT_EVENT = "router_account"  # the prompt's account line at a decision, for `bot explain`
HELD_BACK_EVENT = "order_held_back"  # a strategy's order kept back: venue minimums, risk limits


class RouterJournal:
    """The router actor's journal (`RouterActorConfig.journal_path`, `run_id`, `chart_dir`):
    open from the actor's start to its disposal. Without a journal path it writes nothing. A
    write that fails is logged on `log` (the actor's) and dropped, never raised."""

    def __init__(self, config: RouterActorConfig, log: Logger) -> None:
        self._config = config
        self._log = log
        self._journal: Journal | None = None
        self._held_back: set[str] = set()  # strategies journalled as held back since a fill

    def open(self) -> bool:
        """Open the journal, if the config names one and it is not open yet; True when this
        call opened it (the actor then subscribes to the fills)."""
        if not self._config.journal_path or self._journal is not None:
            return False
        self._journal = Journal(Path(self._config.journal_path), self._config.journal_batch)
        return True

    def close(self) -> None:
        """Commit and close the journal; writes after this are dropped."""
        if self._journal is not None:
            journal, self._journal = self._journal, None
            write_or_log(self._log, "its last writes (closing the journal)", journal.close)

    def fill(self, fill, cache) -> None:
        """Journal a nautilus `OrderFilled`, with the rule of its order from `cache`; its
        strategy is no longer held back."""
        self._held_back.discard(name_of(fill.strategy_id))
        if self._journal is not None:
            write_or_log(self._log, f"the fill {fill.trade_id}", self._write_fill, fill, cache)

    def held_back(self, strategies: list[RoutedStrategy], ts: int) -> None:
        """Journal each strategy whose order is held back, once per spell without a fill."""
        # So that `bot status` can say why a strategy holds nothing (the strategies act after
        # the actor: the reason is from the bar before).
        for strategy in strategies:
            reason = strategy.held_back
            if reason is None or strategy.name in self._held_back:
                continue
            self._held_back.add(strategy.name)
            self._event(ts, HELD_BACK_EVENT, {"strategy": strategy.name, "reason": reason})

    def switch(self, ts: int, payload: dict) -> None:
        """Journal a `registry` policy's model switch, or its refusal (`load_error`)."""
        self._event(ts, ROUTER_SWITCH_EVENT, payload)

    def decision(
        self,
        bar: Bar,
        decision: Decision,
        observation: Observation | None,
        latency_ms: float,
        window_index: int,
        account: Account | None,
    ) -> None:
        """Journal a decision (saving the chart the model saw), and the account line of the
        model's prompt, so that `bot explain` rebuilds the same observation."""
        journal, config = self._journal, self._config
        if journal is None:
            return

        def write() -> None:
            # Saving the chart is part of the write: it can fail as the journal can.
            chart = None
            if observation is not None and config.chart_dir:
                chart = observation.save_chart(Path(config.chart_dir) / f"{bar.ts_event}.png")
            record = DecisionRecord(
                run_id=config.run_id,
                ts=bar.ts_event,
                symbol=config.symbol,
                window_index=window_index,
                weights=decision.weights,
                experts=decision.experts,
                policy=decision.policy,
                regime=decision.regime,
                inputs_hash=observation.digest() if observation is not None else None,
                chart_path=str(chart) if chart else None,
                policy_version=decision.version,
                latency_ms=latency_ms,
                fallback=decision.fallback,
                error=decision.error,
                close=bar.close.as_double(),
            )
            journal.record_decision(record)

        write_or_log(self._log, f"the decision at {bar.ts_event}", write)
        if observation is not None and account is not None:
            self._event(bar.ts_event, ACCOUNT_EVENT, asdict(account))

    def _event(self, ts: int, kind: str, payload: dict) -> None:
        if self._journal is not None:
            write = self._journal.record_event
            write_or_log(
                self._log, f"the {kind} event", write, self._config.run_id, ts, kind, payload
            )

    def _write_fill(self, fill, cache) -> None:
        journal_fill(self._journal, self._config.run_id, fill, cache.order(fill.client_order_id))


def write_or_log(log: Logger, what: str, write: Callable[..., object], *args) -> None:
    """Call `write(*args)`, a journal write; when it fails, log the error on `log` and go on,
    since the journal must never stop a node trading or its guard flattening."""
    try:
        write(*args)
    except Exception as exc:
        log.exception(f"could not journal {what}; trading goes on without it", exc)


def journal_fill(journal: Journal, run_id: str, fill, order=None) -> None:
    """Journal one nautilus `OrderFilled` under `run_id`, by the strategy's table name, with the
    rule that sent its `order` (the order's tag, `strategies.base`) when the order is known."""
    reason = order.tags[0] if order is not None and order.tags else None
    journal.record_fill(
        run_id,
        pd.Timestamp(fill.ts_event, tz="UTC"),
        name_of(fill.strategy_id),
        fill.order_side.name,
        fill.last_qty.as_double(),
        fill.last_px.as_double(),
        fill.commission.as_double(),
        fill.client_order_id.value,
        fill.trade_id.value,
        reason,
    )
