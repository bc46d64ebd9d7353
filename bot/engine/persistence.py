"""Live state that survives a restart, even a `kill -9`: nautilus' cache in Redis, and a
start-up audit that journals what reconciliation with the venue changed.

- `cache_config` keeps the node's cache in Redis under keys prefixed with `[persistence]
  trader_id` and without the per-process instance id, so the next process with the same trader
  id loads the orders, positions (one per strategy, NETTING) and component state the last one
  wrote. Nautilus writes orders and positions as their events happen; component state
  (`on_save`) only at a clean stop, so the router and the risk guard also save theirs on every
  bar (`Cache.update_actor`).
- `require_redis` refuses to build a node without a reachable Redis (`OperationalError`).
- Reconciliation runs before any component starts. `snapshot` records the cache as loaded from
  Redis; `ReconciliationAudit` compares it with the cache once reconciliation is done and
  journals each difference as a `reconciliation` event (positions that moved, orders that
  reconciliation added, e.g. nautilus' EXTERNAL and INTERNAL-DIFF orders for a venue position
  that changed while the node was down, and orders whose status or fills changed). Every fill of
  the strategies that the cache holds and no run journalled is journalled then: reconciliation's,
  and those a crash kept from the journal. So the journal loses none.
"""

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import redis
from nautilus_trader.cache.config import CacheConfig
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import DatabaseConfig
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.events import OrderFilled
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.core.errors import OperationalError
from bot.core.settings import PersistenceSettings, Settings
from bot.engine.journal import Journal, RunRecord
from bot.engine.router_journal import journal_fill, write_or_log

RECONCILIATION_EVENT = "reconciliation"
NODE_STARTED_EVENT, NODE_STOPPED_EVENT = "node_started", "node_stopped"
# Strategy ids nautilus gives the orders reconciliation creates: none of them is ours.
UNOWNED_STRATEGIES = frozenset({"EXTERNAL", "INTERNAL-DIFF"})


def cache_config(persistence: PersistenceSettings) -> CacheConfig:
    """Nautilus' CacheConfig backed by the Redis of `[persistence]`."""
    database = DatabaseConfig(
        type="redis",
        host=persistence.redis_host,
        port=persistence.redis_port,
        timeout=max(1, round(persistence.connect_timeout_s)),
    )
    # Keys without the instance id: each process gets a new one, and a restart must find the
    # state of the one before.
    return CacheConfig(database=database, use_trader_prefix=True, use_instance_id=False)


def require_redis(persistence: PersistenceSettings) -> None:
    """Ping the Redis of `[persistence]`; OperationalError saying what to do when it is down."""
    where = f"{persistence.redis_host}:{persistence.redis_port}"
    client = redis.Redis(
        host=persistence.redis_host,
        port=persistence.redis_port,
        socket_connect_timeout=persistence.connect_timeout_s,
        socket_timeout=persistence.connect_timeout_s,
        retry=Retry(NoBackoff(), 0),  # one try: connect_timeout_s is the whole wait
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        raise OperationalError(
            f"Redis at {where} is not reachable ({exc}). Live and paper nodes keep their orders, "
            "positions and router state there, so nothing was started. Start redis-server "
            "(`make redis`, or `redis-server --daemonize yes`), or point "
            "persistence.redis_host and persistence.redis_port at a running one."
        ) from None
    finally:
        client.close()


@dataclass(frozen=True)
class CacheSnapshot:
    """What a cache holds, for comparison: signed quantity per position id, and (strategy,
    status, filled quantity) per client order id."""

    positions: Mapping[str, float]
    orders: Mapping[str, tuple[str, str, float]]


def snapshot(cache) -> CacheSnapshot:
    """The positions, orders and fills in `cache` now."""
    orders = cache.orders()
    return CacheSnapshot(
        positions={p.id.value: p.signed_qty for p in cache.positions()},
        orders={
            o.client_order_id.value: (
                o.strategy_id.value,
                o.status_string(),
                o.filled_qty.as_double(),
            )
            for o in orders
        },
    )


def discrepancies(before: CacheSnapshot, after: CacheSnapshot) -> list[dict[str, Any]]:
    """Each difference between two snapshots, as a JSON-safe record."""
    found = []
    for position_id, qty in after.positions.items():
        was = before.positions.get(position_id, 0.0)
        if qty != was:
            found.append(
                {"what": "position", "position_id": position_id, "before": was, "after": qty}
            )
    for order_id, (strategy, status, filled) in after.orders.items():
        if order_id not in before.orders:
            found.append(
                {
                    "what": "order_added",
                    "client_order_id": order_id,
                    "strategy": strategy,
                    "status": status,
                    "filled_qty": filled,
                }
            )
            continue
        _, was_status, was_filled = before.orders[order_id]
        if (status, filled) != (was_status, was_filled):
            found.append(
                {
                    "what": "order_changed",
                    "client_order_id": order_id,
                    "strategy": strategy,
                    "status_before": was_status,
                    "status_after": status,
                    "filled_before": was_filled,
                    "filled_after": filled,
                }
            )
    return found


class ReconciliationAuditConfig(ActorConfig, frozen=True):
    """Where the audit journals, under which run; no journal when `journal_path` is None."""

    journal_path: str | None = None
    run_id: str = ""


class ReconciliationAudit(Actor):
    """Journals what start-up reconciliation changed in the cache loaded from Redis.

    Give it the snapshot taken right after the node was built (`expect`); it compares on start,
    which nautilus runs only once reconciliation is done.
    """

    def __init__(self, config: ReconciliationAuditConfig) -> None:
        super().__init__(config)
        self._before: CacheSnapshot | None = None
        self.found: list[dict[str, Any]] = []

    def expect(self, before: CacheSnapshot) -> None:
        """The cache as loaded from Redis, before reconciliation."""
        self._before = before

    def on_start(self) -> None:
        if self._before is None:
            return
        self.found = discrepancies(self._before, snapshot(self.cache))
        for item in self.found:
            self.log.warning(f"reconciliation changed the cached state: {item}")
        if not self.config.journal_path:
            return
        write_or_log(self.log, "the reconciliation", self._journal)  # the log above has it all

    def _journal(self) -> None:
        now = self.clock.timestamp_ns()
        with Journal(Path(self.config.journal_path)) as journal:
            for item in self.found:
                journal.record_event(self.config.run_id, now, RECONCILIATION_EVENT, item)
            # Every fill of ours the journal lacks, not only reconciliation's: a kill -9 between
            # the cache's write and the journal's, or a start-up attempt that booked a fill but
            # never ran the trader, leaves a fill in Redis that no run journalled.
            for order in self.cache.orders():
                if order.strategy_id.value in UNOWNED_STRATEGIES:
                    continue
                for event in order.events:
                    if isinstance(event, OrderFilled) and not journal.has_fill(
                        order.client_order_id.value, event.trade_id.value
                    ):
                        journal_fill(journal, self.config.run_id, event, order)


def start_journal_run(
    settings: Settings,
    run_id: str,
    mode: str,
    symbol: str,
    bar: str,
    venue: str,
    *,
    new_run: bool = True,
) -> Path:
    """Record a paper or live session as a run in the journal of `[journal]` (unless not
    `new_run`: a start-up retry of the same session), with a `node_started` event naming the
    venue, trader id and process; returns the journal's path."""
    with Journal(settings.journal.path) as journal:
        if new_run:
            journal.start_run(
                RunRecord(
                    run_id=run_id,
                    mode=mode,
                    symbol=symbol,
                    bar=bar,
                    policy=settings.router.policy,
                    settings=settings.model_dump(mode="json"),
                )
            )
        node = {"venue": venue, "trader_id": settings.persistence.trader_for(mode)}
        node |= {"pid": os.getpid(), "host": socket.gethostname()}
        journal.record_event(run_id, pd.Timestamp.now(tz="UTC"), NODE_STARTED_EVENT, node)
    return settings.journal.path


def record_node_stopped(settings: Settings, run_id: str) -> None:
    """Journal a clean stop of the session `run_id` (a crash leaves none)."""
    with Journal(settings.journal.path) as journal:
        journal.record_event(run_id, pd.Timestamp.now(tz="UTC"), NODE_STOPPED_EVENT, {})


def resume(node, journal_path: Path, run_id: str) -> ReconciliationAudit:
    """Finish a built node for restarts: add the reconciliation audit (snapshotting the cache
    as loaded from Redis) and load every component's saved state."""
    audit = ReconciliationAudit(
        ReconciliationAuditConfig(journal_path=str(journal_path), run_id=run_id)
    )
    audit.expect(snapshot(node.cache))
    node.trader.add_actor(audit)
    # The kernel loads component state while it is built, before our components are added.
    node.trader.load()
    return audit
