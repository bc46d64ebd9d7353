"""The audit journal: one SQLite file holding every run, router decision and fill.

Every write is committed before its method returns, unless the journal was opened with `batch`
(backtests: a run that dies is run again, and one commit per fill cost a quarter of a backtest's
time), which commits `batch` writes at a time in one transaction, and the rest at `flush` or
`close`. The file, its schema and its durability (WAL, `synchronous=FULL`) are
`bot.engine.journal_schema`'s. One connection per process: a forked
child that inherits a `Journal` opens its own.

Times: `ts` columns are UTC nanoseconds since the epoch, as the router stamps a decision (the
bar's `ts_event`); `time` is the same instant as an ISO string, for people reading the file.

The default location is `default_journal_path(catalog)`: `journal.sqlite` beside the data
catalog (`var/journal.sqlite` with the default `var/catalog`), one journal for every run.

This module is the journal's public face: `Journal` and the records it writes and reads
(`RunRecord`, `DecisionRecord`, defined with their row layout in `bot.engine.journal_records`).
"""

import functools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from bot.core.errors import ConfigError
from bot.engine.journal_records import (
    DECISION_COLUMNS,
    FILL_COLUMNS,
    DecisionRecord,
    RunRecord,
    decision_from_row,
    decision_row,
    fill_row,
    utc_ns,
)
from bot.engine.journal_schema import connect, unreadable
from strategies.plugins import table

__all__ = ["JOURNAL_FILE", "DecisionRecord", "Journal", "RunRecord", "default_journal_path"]

JOURNAL_FILE = "journal.sqlite"
_FILL_INSERT = (
    "INSERT INTO fills (run_id, ts, strategy, side, qty, price, commission, order_id, trade_id, "
    "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_T = TypeVar("_T")


def _read(method: Callable[..., _T]) -> Callable[..., _T]:
    # A corrupt page shows only when a query reaches it: refuse it as `connect` refuses a file
    # that is not a journal, whether sqlite3 or pandas (which wraps sqlite3's error) raised it.
    @functools.wraps(method)
    def read(self: "Journal", *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
            raise unreadable(self.path, exc.__cause__ or exc) from None

    return read


def default_journal_path(catalog: Path) -> Path:
    """Where the journal lives when settings name none: beside the data catalog."""
    return Path(catalog).parent / JOURNAL_FILE


class Journal:
    """The journal at `path`, created with the current schema when the file does not exist;
    `batch` > 0 holds writes back and commits them that many at a time (reads see them).
    `read_only` opens an existing journal for reading only: SQLite refuses any write."""

    def __init__(self, path: str | Path, batch: int = 0, read_only: bool = False) -> None:
        self.path = Path(path)
        self._batch = batch
        self._read_only = read_only
        self._pending: list[tuple[str, tuple]] = []
        self._lock = threading.Lock()
        self._pid = -1
        self._connection: sqlite3.Connection | None = None
        self._connect()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Commit what a batch holds back and close this process's connection."""
        self.flush()
        if self._connection is not None and self._pid == os.getpid():
            self._connection.close()
        self._connection = None

    def flush(self) -> None:
        """Commit the writes a batch holds back, in one transaction."""
        with self._lock:
            pending, self._pending = self._pending, []
            if pending:
                with self._connection_now() as connection:
                    for sql, row in pending:
                        connection.execute(sql, row)

    # -- writing ---------------------------------------------------------------------------

    def start_run(self, run: RunRecord) -> str:
        """Record a new run and return its id; an id already in the journal is refused."""
        row = (
            run.run_id,
            run.started,
            run.mode,
            run.symbol,
            run.bar,
            run.policy,
            json.dumps(dict(run.settings), default=str, sort_keys=True),
            run.report_dir,
        )
        try:
            # At once even in a batch: a run id already taken must be refused now.
            self._write("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row, at_once=True)
        except sqlite3.IntegrityError:
            raise ConfigError(
                f"The journal {self.path} already holds a run {run.run_id!r}. Run ids must be "
                "unique: start the run with a fresh id."
            ) from None
        return run.run_id

    def record_decision(self, decision: DecisionRecord) -> int | None:
        """Commit one decision and return its row id (None in a batch)."""
        unknown = sorted(set(decision.weights) - {spec.name for spec in table()})
        if unknown:
            raise ValueError(f"decision weights name unknown strategies {unknown}")
        row = decision_row(decision)
        marks = ", ".join("?" * len(row))
        return self._write(f"INSERT INTO decisions ({DECISION_COLUMNS}) VALUES ({marks})", row)

    def record_fill(
        self,
        run_id: str,
        ts: int | pd.Timestamp,
        strategy: str,
        side: str,
        qty: float,
        price: float,
        commission: float,
        order_id: str | None = None,
        trade_id: str | None = None,
        reason: str | None = None,
    ) -> int | None:
        """Commit one fill (commission in the quote currency; the venue's order and trade ids
        and the rule that sent the order, when known) and return its row id (None in a batch)."""
        row = fill_row(run_id, ts, strategy, side, qty, price, commission)
        return self._write(_FILL_INSERT, (*row, order_id, trade_id, reason))

    @_read
    def has_fill(self, order_id: str, trade_id: str) -> bool:
        """Whether any run journalled the fill `trade_id` of the order `order_id`."""
        sql = "SELECT 1 FROM fills WHERE order_id = ? AND trade_id = ? LIMIT 1"
        return self._conn().execute(sql, (order_id, trade_id)).fetchone() is not None

    def record_fills(self, run_id: str, fills: pd.DataFrame) -> int:
        """Commit a frame of fills (columns as `fills()` returns them) in one transaction."""
        reasons = fills["reason"] if "reason" in fills else [None] * len(fills)
        rows = [
            (*fill_row(run_id, *row), None, None, reason)
            for row, reason in zip(
                fills[list(FILL_COLUMNS)].itertuples(index=False), reasons, strict=True
            )
        ]
        self.flush()  # in time order behind what a batch holds back
        with self._lock, self._connection_now() as connection:
            connection.executemany(_FILL_INSERT, rows)
        return len(rows)

    def record_event(
        self, run_id: str, ts: int | pd.Timestamp, kind: str, payload: Mapping[str, Any]
    ) -> int | None:
        """Commit one operational event (e.g. kind "kill_switch") with a JSON-safe payload; its
        row id (None in a batch)."""
        stamp = utc_ns(ts)
        row = (run_id, stamp, pd.Timestamp(stamp, tz="UTC").isoformat(), kind)
        row += (json.dumps(dict(payload), default=str, sort_keys=True),)
        return self._write(
            "INSERT INTO events (run_id, ts, time, kind, payload) VALUES (?, ?, ?, ?, ?)", row
        )

    # -- reading ---------------------------------------------------------------------------

    @_read
    def events(self, run_id: str, kind: str | None = None) -> pd.DataFrame:
        """The run's events (ts, kind, payload parsed to a dict) in time order."""
        sql = "SELECT ts, kind, payload FROM events WHERE run_id = ?"
        params: tuple = (run_id,) if kind is None else (run_id, kind)
        sql += "" if kind is None else " AND kind = ?"
        frame = pd.read_sql_query(sql + " ORDER BY ts, id", self._conn(), params=params)
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        frame["payload"] = frame["payload"].map(json.loads)
        return frame

    @_read
    def runs(self) -> pd.DataFrame:
        """Every run, oldest first, with the number of decisions each holds."""
        frame = pd.read_sql_query(
            "SELECT r.*, (SELECT COUNT(*) FROM decisions d WHERE d.run_id = r.run_id) AS decisions"
            " FROM runs r ORDER BY r.started, r.rowid",
            self._conn(),
        )
        frame["settings"] = frame["settings"].map(json.loads)
        return frame

    @_read
    def run(self, run_id: str) -> RunRecord:
        """The run `run_id`; an unknown id is refused with the most recent ids."""
        row = (
            self._conn()
            .execute(
                "SELECT run_id, mode, symbol, bar, policy, settings, report_dir, started FROM runs "
                "WHERE run_id = ?",
                (run_id,),
            )
            .fetchone()
        )
        if row is None:
            recent = self.runs()["run_id"].tail(5).tolist()
            raise ConfigError(
                f"The journal {self.path} has no run {run_id!r}. Recent runs: "
                f"{', '.join(recent) or 'none'}. Pass one of them (`bot runs list` lists them all)."
            )
        return RunRecord(*row[:5], json.loads(row[5]), row[6], row[7])

    @_read
    def latest_run(self) -> RunRecord | None:
        """The most recently started run, or None for an empty journal."""
        runs = self.runs()
        return None if runs.empty else self.run(runs["run_id"].iloc[-1])

    @_read
    def decision_records(self, run_id: str) -> list[DecisionRecord]:
        """The run's decisions in time order."""
        cursor = self._conn().execute(
            f"SELECT {DECISION_COLUMNS} FROM decisions WHERE run_id = ? ORDER BY ts, id",
            (run_id,),
        )
        return [decision_from_row(row) for row in cursor]

    @_read
    def decisions(self, run_id: str) -> pd.DataFrame:
        """The run's decisions, one row each, indexed by UTC time; JSON columns parsed to dicts."""
        records = [asdict(record) for record in self.decision_records(run_id)]
        frame = pd.DataFrame(records, columns=[f.name for f in fields(DecisionRecord)])
        frame.index = pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True), name="time")
        return frame

    @_read
    def fills(self, run_id: str) -> pd.DataFrame:
        """The run's fills: ts (UTC), strategy, side, qty, price, commission and reason (the
        rule that sent the order; None where not recorded), in time order."""
        frame = pd.read_sql_query(
            f"SELECT {', '.join(FILL_COLUMNS)}, reason FROM fills WHERE run_id = ? ORDER BY ts, id",
            self._conn(),
            params=(run_id,),
        )
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        return frame

    # -- plumbing --------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """The connection for a read, after committing what a batch holds back."""
        self.flush()
        return self._connection_now()

    def _connection_now(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            self._connect()
        return self._connection

    def _write(self, sql: str, row: tuple, at_once: bool = False) -> int | None:
        """Commit one row and return its row id; held back (None) in a batch unless `at_once`."""
        if at_once:
            self.flush()
        elif self._batch:
            with self._lock:
                self._pending.append((sql, row))
                full = len(self._pending) >= self._batch
            if full:
                self.flush()
            return None
        with self._lock, self._connection_now() as connection:  # commits on leaving the block
            return connection.execute(sql, row).lastrowid

    def _connect(self) -> None:
        self._connection, self._pid = connect(self.path, self._read_only), os.getpid()
