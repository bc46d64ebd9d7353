"""Journal rows for the tests: runs and decisions as the router would write them, and a
journal damaged where only a query finds it."""

import sqlite3

import pandas as pd

from bot.engine.journal import DecisionRecord, Journal, RunRecord
from strategies import strategy_names

DAY_NS = 86_400 * 10**9
T0 = int(pd.Timestamp("2021-01-04", tz="UTC").value)
UNIFORM = dict.fromkeys(strategy_names(), 1 / 11)
UNIFORM_EXPERTS = {"trend": 3 / 11, "reversal": 3 / 11, "breakout": 2 / 11, "position": 3 / 11}


def start(journal: Journal, run_id: str = "run-1", policy: str = "uniform") -> str:
    return journal.start_run(
        RunRecord(run_id, "backtest", "SPX", "1d", policy, {"router": {"window": 20}}, "reports/x")
    )


def static_decision(run_id: str, day: int, close: float | None = None) -> DecisionRecord:
    return DecisionRecord(
        run_id, T0 + day * DAY_NS, "SPX", day, UNIFORM, UNIFORM_EXPERTS, "uniform", close=close
    )


def model_decision(
    run_id: str, day: int, experts: dict[str, float], regime: dict[str, float] | None, **extra
) -> DecisionRecord:
    """A model decision whose weights put each expert's capital on its first strategy."""
    firsts = {
        "trend": "MACross",
        "reversal": "Bollinger",
        "breakout": "VolumeBreakout",
        "position": "LongOnly",
    }
    weights = {firsts[expert]: share for expert, share in experts.items()}
    return DecisionRecord(
        run_id,
        T0 + day * DAY_NS,
        "SPX",
        day,
        weights,
        experts,
        "model:ckpt/a",
        regime=regime,
        inputs_hash=f"hash-{day}",
        chart_path=f"charts/{day}.png",
        policy_version="abc123",
        latency_ms=4.25,
        **extra,
    )


def corrupt_journal(path, table):
    """A journal with a run, decisions, a fill and an event, whose `table` (and its indexes)
    has its root page overwritten: SQLite opens the file, and finds the damage only when a
    query reads that page."""
    with Journal(path) as journal:
        start(journal)
        for day in range(3):
            journal.record_decision(static_decision("run-1", day))
        journal.record_fill("run-1", T0, "RSI", "buy", 1.0, 100.0, 0.1, "o-1", "t-1")
        journal.record_event("run-1", T0, "kill_switch", {"why": "test"})
    with sqlite3.connect(path) as connection:
        size = connection.execute("PRAGMA page_size").fetchone()[0]
        sql = "SELECT rootpage FROM sqlite_master WHERE tbl_name = ? AND rootpage > 0"
        pages = [row[0] for row in connection.execute(sql, (table,))]
    connection.close()
    with path.open("r+b") as file:
        for page in pages:
            file.seek((page - 1) * size)
            file.write(b"\xff" * size)
    return path
