"""What a paper or live node left behind, read without the node: its nautilus cache in Redis and
its session in the journal. `bot status`, `bot risk reset` and the tests read it here.

It reads the trader id the session recorded (paper and live differ unless `[persistence]
trader_id` is set). The node writes orders and positions to Redis as they happen, and its router
and risk guard save their state there after every bar (`bot.engine.persistence`), so this is at
most one bar old.
"""

import json
import os
import socket
from dataclasses import dataclass
from typing import Any

import msgspec
import pandas as pd
from nautilus_trader.cache.database import CacheDatabaseAdapter
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.model.identifiers import ComponentId, TraderId
from nautilus_trader.serialization.serializer import MsgSpecSerializer

from bot.core.errors import ConfigError
from bot.core.settings import DEFAULT_TRADER_IDS, PersistenceSettings
from bot.engine.journal import Journal, RunRecord
from bot.engine.persistence import (
    NODE_STARTED_EVENT,
    NODE_STOPPED_EVENT,
    cache_config,
    require_redis,
)
from bot.engine.startup import NODE_RUNNING_EVENT, NODE_START_FAILED_EVENT

GUARD, ROUTER = ComponentId("RiskGuard"), ComponentId("RouterActor")
SESSION_MODES = ("paper", "live")


@dataclass(frozen=True)
class CacheState:
    """The node's state in Redis: its positions and orders (nautilus objects), accounts, and
    the saved state of its router (`router`) and risk guard (`kill_switch`, `last_bar`)."""

    positions: list
    orders: list
    accounts: list
    router: dict[str, Any]
    guard: dict[str, Any]


def read_cache(persistence: PersistenceSettings, trader_id: str) -> CacheState:
    """Load what trader `trader_id` (a session's, `Session.trader_id`) keeps in the Redis of
    `persistence` (OperationalError when Redis is down)."""
    database = _database(persistence, trader_id)
    try:
        return CacheState(
            positions=list(database.load_positions().values()),
            orders=list(database.load_orders().values()),
            accounts=list(database.load_accounts().values()),
            router=_decoded(database.load_actor(ROUTER)),
            guard=_decoded(database.load_actor(GUARD)),
        )
    finally:
        database.close()


def saved_kill_switch(persistence: PersistenceSettings, trader_id: str) -> dict[str, Any]:
    """The kill switch state trader `trader_id`'s risk guard saved in Redis (`reason` and
    `tripped_at` set when it is tripped; {} when it saved none): what its next node starts with."""
    database = _database(persistence, trader_id)
    try:
        return _decoded(database.load_actor(GUARD)).get("kill_switch") or {}
    finally:
        database.close()


def clear_guard_state(persistence: PersistenceSettings, trader_id: str) -> None:
    """Delete trader `trader_id`'s risk guard state: its next node starts with a re-armed kill
    switch."""
    database = _database(persistence, trader_id)
    try:
        database.delete_actor(GUARD)
    finally:
        database.close()


def _database(persistence: PersistenceSettings, trader_id: str) -> CacheDatabaseAdapter:
    require_redis(persistence)
    # The serializer a TradingNode writes with (timestamps as strings keep their nanoseconds).
    serializer = MsgSpecSerializer(encoding=msgspec.msgpack, timestamps_as_str=True)
    return CacheDatabaseAdapter(TraderId(trader_id), UUID4(), serializer, cache_config(persistence))


def _decoded(state: dict[str, bytes] | None) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in (state or {}).items()}


@dataclass(frozen=True)
class Session:
    """The latest paper or live session in the journal, and whether its process still runs."""

    run: RunRecord
    venue: str
    trader_id: str  # whose state in Redis is this session's (paper and live differ by default)
    pid: int | None
    # "starting" (its trader not running yet), "running", "failed to start" (the start-up
    # watchdog gave up: `bot.engine.startup`), "stopped", or "gone" (no clean stop, and no such
    # process here)
    state: str
    decisions: pd.DataFrame
    fills: pd.DataFrame
    events: pd.DataFrame
    # A later session of the same trader, whose state has replaced this one's in Redis.
    superseded_by: str | None = None


def latest_session(journal: Journal, run_id: str | None = None) -> Session:
    """The session `run_id`, or the newest paper or live run; ConfigError when there is none,
    or when `run_id` is a run of another mode (refused before Redis is read for a trader it
    never had)."""
    runs = journal.runs()
    sessions = runs[runs["mode"].isin(SESSION_MODES)]
    if run_id is None:
        if sessions.empty:
            raise ConfigError(
                f"The journal {journal.path} holds no paper or live session yet: start one with "
                "`bot paper` (or point --set journal.path=... at the node's journal)."
            )
        run_id = sessions["run_id"].iloc[-1]
    run = journal.run(run_id)
    if run.mode not in SESSION_MODES:
        raise ConfigError(
            f"The run {run_id} is a {run.mode} run, not a paper or live session: status shows "
            "a node's state, and only sessions ran one. Pass a session's id (`bot runs list "
            "--mode paper`, or --mode live, lists them)."
        )
    events = journal.events(run_id)
    node = _node(events)
    trader_id = _trader(run, node)
    later = sessions["run_id"].tolist()
    later = later[later.index(run_id) + 1 :] if run_id in later else []
    newer = [other for other in later if _trader_of(journal, other) == trader_id]
    stopped = (events["kind"] == NODE_STOPPED_EVENT).any()
    failed = (events["kind"] == NODE_START_FAILED_EVENT).any()
    # Running once the trader of the latest start ran (a retry journals another node_started).
    since = events["kind"].iloc[_last_index(events["kind"] == NODE_STARTED_EVENT) :]
    trading = (since == NODE_RUNNING_EVENT).any()
    ended = "failed to start" if failed else "stopped" if stopped else None
    pid = node.get("pid")
    return Session(
        run=run,
        venue=node.get("venue", "?"),
        trader_id=trader_id,
        pid=pid,
        state=ended or _process_state(pid, node.get("host"), trading),
        decisions=journal.decisions(run_id),
        fills=journal.fills(run_id),
        events=events,
        superseded_by=newer[-1] if newer else None,
    )


def _node(events: pd.DataFrame) -> dict:
    # What the session's latest start journalled: venue, trader id, process.
    started = events[events["kind"] == NODE_STARTED_EVENT]["payload"]
    return started.iloc[-1] if len(started) else {}


def _trader(run: RunRecord, node: dict) -> str:
    return node.get("trader_id") or DEFAULT_TRADER_IDS.get(run.mode, "?")


def _trader_of(journal: Journal, run_id: str) -> str:
    return _trader(journal.run(run_id), _node(journal.events(run_id)))


def _last_index(mask: pd.Series) -> int:
    hits = [n for n, hit in enumerate(mask) if hit]
    return hits[-1] if hits else 0


def _process_state(pid: int | None, host: str | None, trading: bool) -> str:
    if pid is None or host != socket.gethostname():
        return "unknown (another machine)" if pid else "gone"
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        pass  # it exists, under another user
    return "running" if trading else "starting"
