import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pytest

from bot.core.errors import ConfigError
from bot.engine.journal import Journal, default_journal_path
from bot.engine.journal_schema import SCHEMA_VERSION
from strategies import EXPERTS, strategy_names
from tests.support.records import DAY_NS, T0, model_decision, start, static_decision


@pytest.fixture
def journal(tmp_path):
    with Journal(tmp_path / "j" / "journal.sqlite") as opened:
        yield opened


def test_decisions_round_trip_in_time_order(journal):
    # Arrange
    start(journal, policy="model:ckpt/a")
    regime = {"uptrend": 0.7, "downtrend": 0.2, "consolidation": 0.1}
    late = model_decision("run-1", 20, {"trend": 0.6, "position": 0.4}, regime)
    early = model_decision("run-1", 0, {"reversal": 1.0}, None, fallback=True, error="boom")

    # Act
    journal.record_decision(late)
    journal.record_decision(early)
    frame = journal.decisions("run-1")

    # Assert
    assert list(frame.index) == [early.time, late.time]
    assert str(frame.index.tz) == "UTC"
    row = frame.iloc[1]
    assert list(row["weights"]) == list(strategy_names())
    assert row["weights"]["MACross"] == 0.6 and row["weights"]["Cash"] == 0.0
    assert list(row["experts"]) == list(EXPERTS)
    assert row["regime"] == regime
    assert (row["inputs_hash"], row["chart_path"], row["latency_ms"]) == (
        "hash-20",
        "charts/20.png",
        4.25,
    )
    assert frame["fallback"].tolist() == [True, False]
    assert frame.iloc[0]["error"] == "boom" and frame.iloc[0]["regime"] is None


def test_every_write_is_visible_to_another_connection_at_once(journal):
    # Arrange
    start(journal)

    # Act
    journal.record_decision(static_decision("run-1", 0))
    journal.record_fill("run-1", T0, "RSI", "buy", 2.0, 101.5, 0.2)
    reader = Journal(journal.path)

    # Assert
    assert len(reader.decisions("run-1")) == 1
    assert reader.fills("run-1")[["strategy", "side", "qty"]].values.tolist() == [
        ["RSI", "BUY", 2.0]
    ]
    reader.close()


def test_a_batch_commits_its_writes_a_batch_at_a_time_and_at_close(tmp_path):
    # Arrange: a backtest's journal, three writes to a commit.
    path = tmp_path / "journal.sqlite"
    batched = Journal(path, batch=3)
    start(batched)  # at once: a taken run id is refused at the start
    reader = Journal(path)

    # Act
    batched.record_decision(static_decision("run-1", 0))
    batched.record_fill("run-1", T0, "RSI", "buy", 2.0, 101.5, 0.2)
    before_the_batch = (len(reader.runs()), len(reader.decisions("run-1")))
    own_view = len(batched.fills("run-1"))  # a read commits what is held back
    batched.record_fill("run-1", T0 + DAY_NS, "RSI", "sell", 2.0, 102.0, 0.2)
    batched.record_event("run-1", T0 + DAY_NS, "note", {})
    batched.record_fill("run-1", T0 + 2 * DAY_NS, "RSI", "buy", 1.0, 103.0, 0.1)
    after_three = len(reader.fills("run-1"))
    batched.record_fill("run-1", T0 + 3 * DAY_NS, "RSI", "sell", 1.0, 104.0, 0.1)
    before_close = len(reader.fills("run-1"))
    batched.close()

    # Assert
    assert before_the_batch == (1, 0)
    assert own_view == 1
    assert after_three == 3 and before_close == 3
    assert len(reader.fills("run-1")) == 4
    reader.close()


def test_journal_is_wal_with_full_sync(journal):
    # Act
    mode = sqlite3.connect(journal.path).execute("PRAGMA journal_mode").fetchone()[0]
    sync = journal._conn().execute("PRAGMA synchronous").fetchone()[0]

    # Assert
    assert mode == "wal"
    assert sync == 2  # FULL


def test_fills_frame_round_trips_through_record_fills(journal):
    # Arrange
    start(journal)
    fills = pd.DataFrame(
        {
            "ts": pd.to_datetime([T0, T0 + DAY_NS], utc=True),
            "strategy": ["MACross", "Turtle"],
            "side": ["BUY", "SELL"],
            "qty": [3.0, 1.5],
            "price": [100.0, 99.0],
            "commission": [0.3, 0.15],
            "reason": ["golden cross", "ATR stop"],
        }
    )

    # Act
    count = journal.record_fills("run-1", fills)

    # Assert
    assert count == 2
    pd.testing.assert_frame_equal(journal.fills("run-1"), fills, check_dtype=False)


def test_a_fill_time_without_timezone_is_refused(journal):
    start(journal)
    with pytest.raises(ValueError, match="timezone"):
        journal.record_fill("run-1", pd.Timestamp("2021-01-04"), "RSI", "BUY", 1, 1, 0)


def test_weights_naming_an_unknown_strategy_are_refused(journal):
    # Arrange
    start(journal)
    bad = model_decision("run-1", 0, {"trend": 1.0}, None)
    bad = type(bad)(**{**bad.__dict__, "weights": {"Martingale": 1.0}})

    # Act / Assert
    with pytest.raises(ValueError, match="Martingale"):
        journal.record_decision(bad)
    assert journal.decisions("run-1").empty


def test_runs_latest_run_and_unknown_run(journal):
    # Arrange
    start(journal, "first")
    start(journal, "second", policy="random")

    # Act
    runs = journal.runs()
    latest = journal.latest_run()

    # Assert
    assert runs["run_id"].tolist() == ["first", "second"]
    assert runs["settings"].iloc[0] == {"router": {"window": 20}}
    assert (latest.run_id, latest.policy, latest.report_dir) == ("second", "random", "reports/x")
    with pytest.raises(ConfigError, match="first, second"):
        journal.run("third")


def test_an_empty_journal_has_no_latest_run(journal):
    assert journal.latest_run() is None


def test_a_run_id_is_recorded_once(journal):
    start(journal)
    with pytest.raises(ConfigError, match="already holds a run 'run-1'"):
        start(journal)


def test_many_writers_can_open_a_new_journal_at_once(tmp_path):
    # Parallel backtest workers all open the same fresh journal; none may trip on the schema.
    path, errors, ready = tmp_path / "j.sqlite", [], threading.Barrier(8)

    def open_and_start(index: int) -> None:
        ready.wait()
        try:
            with Journal(path) as journal:
                start(journal, f"run-{index}")
        except Exception as exc:  # collected: an exception in a thread would pass silently
            errors.append(exc)

    threads = [threading.Thread(target=open_and_start, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with Journal(path) as journal:
        assert len(journal.runs()) == 8
    versions = sqlite3.connect(path).execute("SELECT version FROM schema_version").fetchall()
    assert versions == [(SCHEMA_VERSION,)]


def _open_in_a_process(path: str, index: int, ready) -> None:
    ready.wait()
    with Journal(Path(path)) as journal:
        start(journal, f"proc-{index}")


def test_many_processes_can_open_a_new_journal_at_once(tmp_path):
    # Parallel backtest workers are processes: a fresh file's switch to WAL raced among them.
    context = multiprocessing.get_context("fork")
    path, count = tmp_path / "j.sqlite", 6
    ready = context.Barrier(count)
    workers = [
        context.Process(target=_open_in_a_process, args=(str(path), i, ready)) for i in range(count)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert [worker.exitcode for worker in workers] == [0] * count
    with Journal(path) as journal:
        assert len(journal.runs()) == count


def test_a_fill_is_found_by_its_order_and_trade_in_any_run(journal):
    # Arrange
    for run in ("run-1", "run-2"):
        start(journal, run)
    journal.record_fill("run-1", T0, "RSI", "BUY", 2.0, 101.5, 0.2, "O-1", "T-7")

    # Act / Assert
    assert journal.has_fill("O-1", "T-7")
    assert not journal.has_fill("O-1", "T-8") and not journal.has_fill("O-2", "T-7")
    assert len(journal.fills("run-1")) == 1 and journal.fills("run-2").empty


def test_an_older_journal_gains_the_fill_ids_and_keeps_its_fills(tmp_path):
    # Arrange: a journal written before fills named their order and trade.
    path = tmp_path / "journal.sqlite"
    with Journal(path) as journal:
        start(journal)
        journal.record_fill("run-1", T0, "RSI", "BUY", 2.0, 101.5, 0.2)
    with sqlite3.connect(path) as raw:
        raw.execute("DROP INDEX fills_by_trade")
        raw.execute("ALTER TABLE fills DROP COLUMN trade_id")
        raw.execute("ALTER TABLE fills DROP COLUMN order_id")
    raw.close()

    # Act
    with Journal(path) as journal:
        journal.record_fill("run-1", T0 + DAY_NS, "RSI", "SELL", 2.0, 102.0, 0.2, "O-2", "T-1")
        fills, found = journal.fills("run-1"), journal.has_fill("O-2", "T-1")

    # Assert
    assert fills["side"].tolist() == ["BUY", "SELL"] and found


def test_a_journal_from_a_newer_schema_is_refused(tmp_path):
    # Arrange
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    raw.close()

    # Act / Assert
    with pytest.raises(ConfigError, match="newer bot"):
        Journal(path)


@pytest.mark.parametrize(
    "content", [b"this is not a database at all" * 100, None], ids=["garbage", "other-sqlite"]
)
def test_a_file_that_is_no_journal_is_refused(tmp_path, content):
    # Arrange
    path = tmp_path / "journal.sqlite"
    if content is None:
        with sqlite3.connect(path) as raw:
            raw.execute("CREATE TABLE prices (x REAL)")
        raw.close()
    else:
        path.write_bytes(content)

    # Act / Assert
    with pytest.raises(ConfigError, match="journal"):
        Journal(path)


def test_default_path_sits_beside_the_catalog():
    assert default_journal_path(Path("var/catalog")) == Path("var/journal.sqlite")


def test_a_read_only_journal_reads_what_a_writer_commits_and_refuses_writes(journal):
    # Arrange
    start(journal)
    journal.record_decision(static_decision("run-1", 0))

    # Act
    with Journal(journal.path, read_only=True) as reader:
        decisions = reader.decision_records("run-1")
        journal.record_decision(static_decision("run-1", 1))  # the writer goes on meanwhile
        later = reader.decision_records("run-1")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            start(reader, "run-2")

    # Assert
    assert [d.window_index for d in decisions] == [0]
    assert [d.window_index for d in later] == [0, 1]


def test_a_read_only_journal_that_does_not_exist_is_refused_not_created(tmp_path):
    with pytest.raises(ConfigError, match="No journal at"):
        Journal(tmp_path / "none.sqlite", read_only=True)

    assert not (tmp_path / "none.sqlite").exists()
