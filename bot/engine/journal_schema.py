"""The journal's SQLite file: its schema, the version check, and `connect`, which opens it.

Durability: WAL mode with `synchronous=FULL`; the journal commits every write before its method
returns, so a process killed at any point (SIGKILL included) loses nothing it was told was
written. Opening is safe while other processes (parallel backtest workers) open or write the
same file: the schema is created idempotently, one writer at a time.
"""

import sqlite3
import time
from pathlib import Path

from bot.core.errors import ConfigError, JournalError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0  # parallel backtest workers may write the same journal

# Idempotent, so that processes opening a new journal at the same time (parallel backtests)
# cannot trip over each other, and older version-1 files gain the tables added since.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started TEXT NOT NULL, mode TEXT NOT NULL, symbol TEXT NOT NULL,
    bar TEXT NOT NULL, policy TEXT NOT NULL, settings TEXT NOT NULL, report_dir TEXT
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id),
    ts INTEGER NOT NULL, time TEXT NOT NULL, symbol TEXT NOT NULL, window_index INTEGER NOT NULL,
    inputs_hash TEXT, chart_path TEXT, weights TEXT NOT NULL, experts TEXT NOT NULL, regime TEXT,
    policy TEXT NOT NULL, policy_version TEXT, latency_ms REAL, fallback INTEGER NOT NULL,
    error TEXT, close REAL
);
CREATE INDEX IF NOT EXISTS decisions_by_run ON decisions (run_id, ts);
CREATE TABLE IF NOT EXISTS fills (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id),
    ts INTEGER NOT NULL, strategy TEXT NOT NULL, side TEXT NOT NULL, qty REAL NOT NULL,
    price REAL NOT NULL, commission REAL NOT NULL, order_id TEXT, trade_id TEXT, reason TEXT
);
CREATE INDEX IF NOT EXISTS fills_by_run ON fills (run_id, ts);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id),
    ts INTEGER NOT NULL, time TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, ts);
"""


def connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """A connection to the journal at `path` (WAL, synchronous=FULL, foreign keys on), the file
    and its tables created when missing; a file that is not a journal of this schema version
    is refused with what to do. `read_only` opens an existing journal so that SQLite itself
    refuses every write (readers such as the dashboard)."""
    if read_only:
        return _open_read_only(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(
            f"journal.path {path} runs through a file, not a folder: point journal.path at a "
            "file in a folder."
        ) from None
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return _open(path)
        except sqlite3.OperationalError as exc:
            # Switching a new file to WAL, or two writers upgrading their locks at once, can
            # answer "locked" at once without waiting: try again until the busy timeout.
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise unreadable(path, exc) from None
            time.sleep(0.05)
        except sqlite3.DatabaseError as exc:
            raise unreadable(path, exc) from None


def _open(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        _check_schema(connection, path)
    except BaseException:
        connection.close()
        raise
    return connection


def _open_read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ConfigError(
            f"No journal at {path}: run a backtest or start a node first, or point journal.path "
            "at an existing journal."
        )
    uri = f"{path.resolve().as_uri()}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    try:
        _check_version(connection, path)
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise unreadable(path, exc) from None
    except BaseException:
        connection.close()
        raise
    return connection


def unreadable(path: Path, exc: BaseException) -> JournalError:
    """The error for a file SQLite cannot read as a journal (not a database, or corrupt)."""
    return JournalError(
        f"{path} is not a readable journal ({exc}). Point journal.path at another "
        "file, or move this one aside to start a new journal."
    )


def _check_schema(connection: sqlite3.Connection, path: Path) -> None:
    _check_version(connection, path)
    # One writer at a time creates what is missing; the others wait, then find it there.
    connection.executescript(
        f"BEGIN IMMEDIATE;{_SCHEMA}INSERT INTO schema_version SELECT {SCHEMA_VERSION} "
        "WHERE NOT EXISTS (SELECT 1 FROM schema_version);"
    )
    # Fills name their order and trade since the chaos soak (a fill is journalled once, even
    # across a crash), and the rule that sent the order since the tear sheet; older files gain
    # the columns, empty for their rows.
    columns = {row[1] for row in connection.execute("PRAGMA table_info(fills)")}
    for column in ("order_id", "trade_id", "reason"):
        if column not in columns:
            connection.execute(f"ALTER TABLE fills ADD COLUMN {column} TEXT")
    connection.execute("CREATE INDEX IF NOT EXISTS fills_by_trade ON fills (order_id, trade_id)")
    connection.execute("COMMIT")


def _check_version(connection: sqlite3.Connection, path: Path) -> None:
    tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    if tables and "schema_version" not in tables:
        raise JournalError(
            f"{path} is an SQLite file but not a bot journal (no schema_version table). "
            "Point journal.path at another file."
        )
    if tables:
        version = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise JournalError(
                f"The journal {path} has schema version {version}, and this bot reads "
                f"version {SCHEMA_VERSION}. It was written by a "
                f"{'newer' if (version or 0) > SCHEMA_VERSION else 'different'} bot: upgrade "
                "the bot to read it, or point journal.path at a new file."
            )
