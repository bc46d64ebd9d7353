"""`bot runs list` and the run ids `bot explain` accepts, on a journal written as the commands
write it."""

import sqlite3

import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.app.runs import latest_decided_run, list_runs, resolve_run
from bot.core.errors import ConfigError
from bot.engine import journal_schema
from bot.engine.backtest_request import symbol_run_id
from bot.engine.journal import Journal, RunRecord
from tests.support.records import corrupt_journal, static_decision

runner = CliRunner()


def _record(run_id: str, mode: str, symbol: str, policy: str, day: int, report=None):
    return RunRecord(run_id, mode, symbol, "1d", policy, {}, report, f"2024-01-0{day}")


def _backtest(journal: Journal, printed: str, symbol: str, policy: str, day: int, report: str):
    run_id = symbol_run_id(printed, symbol, policy)
    journal.start_run(_record(run_id, "backtest", symbol, policy, day, report))
    return run_id


@pytest.fixture
def journal_path(tmp_path):
    """A two-symbol, two-policy backtest `bt1`, a one-pair backtest `bt2`, a paper session and
    an evaluation, started in that order."""
    path = tmp_path / "journal.sqlite"
    with Journal(path) as journal:
        for symbol in ("SPX", "AAPL"):
            for policy in ("uniform", "model:models/daily-equities"):
                _backtest(journal, "bt1", symbol, policy, 1, f"/r/1/{symbol}")
        bt2 = _backtest(journal, "bt2", "SPX", "random", 2, "/r/2")
        journal.record_decision(static_decision(bt2, 0))
        journal.start_run(_record("pp1", "paper", "BTCUSDT", "uniform", 3))
        journal.start_run(_record("ev1", "evaluate", "AAPL,GOOG", "model:ckpt", 4, "/r/ev"))
    return path


def _bot(journal_path, *args: str):
    return runner.invoke(app, ["--set", f"journal.path={journal_path}", *args])


def test_runs_are_listed_newest_first_with_a_backtest_under_the_id_it_printed(journal_path):
    with Journal(journal_path) as journal:
        runs = list_runs(journal)

    assert [run.run_id for run in runs] == ["ev1", "pp1", "bt2", "bt1"]
    bt1 = runs[-1]
    assert bt1.symbols == ("SPX", "AAPL")
    assert bt1.policies == ("uniform", "model:models/daily-equities")
    assert bt1.report_dir == "/r/1"  # the folder holding one subfolder per symbol
    assert len(bt1.journal_ids) == 4


def test_list_prints_a_table_and_filters_by_mode_and_limit(journal_path):
    listed = _bot(journal_path, "runs", "list")
    backtests = _bot(journal_path, "runs", "list", "--mode", "backtest", "--limit", "1")

    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == ["id", "mode", "symbols", "policies", "started", "(UTC)", "report"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["ev1", "evaluate"],
        ["pp1", "paper"],
        ["bt2", "backtest"],
        ["bt1", "backtest"],
    ]
    assert lines[-1].split()[2:4] == ["SPX,AAPL", "uniform,model:models/daily-equities"]
    assert lines[-1].split()[-1] == "/r/1"
    assert [line.split()[0] for line in backtests.output.splitlines()] == ["id", "bt2", "Older"]
    assert "Older runs not shown: 1 (--limit 0 shows all)." in backtests.output


def test_list_without_a_journal_says_so_and_creates_none(tmp_path):
    result = _bot(tmp_path / "none.sqlite", "runs", "list")

    assert result.exit_code == 0
    assert "No runs in the journal" in result.output and "`bot backtest`" in result.output
    assert not (tmp_path / "none.sqlite").exists()


def test_list_leaves_an_older_journal_as_it_was(journal_path):
    # A journal from before fills named the rule that sent them: a writer would add the column.
    with sqlite3.connect(journal_path) as connection:
        connection.execute("ALTER TABLE fills DROP COLUMN reason")
    connection.close()
    before = journal_path.read_bytes()

    result = _bot(journal_path, "runs", "list")

    assert result.exit_code == 0, result.output
    assert "bt1" in result.output
    assert journal_path.read_bytes() == before


def test_list_reads_a_journal_while_a_running_node_holds_its_write_lock(journal_path, monkeypatch):
    monkeypatch.setattr(journal_schema, "BUSY_TIMEOUT_S", 1.0)  # a refusal answers in 1 s
    node = sqlite3.connect(journal_path, isolation_level=None)
    node.execute("BEGIN IMMEDIATE")  # a node in the middle of writing

    try:
        result = _bot(journal_path, "runs", "list")
    finally:
        node.close()

    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()[1:]] == [
        "ev1",
        "pp1",
        "bt2",
        "bt1",
    ]


def test_an_unknown_mode_is_a_config_error(journal_path):
    result = _bot(journal_path, "runs", "list", "--mode", "sim")

    assert result.exit_code == ConfigError.exit_code
    assert "mode 'sim' is not a run mode" in result.output


def test_the_printed_id_of_a_one_pair_backtest_resolves_to_its_run(journal_path):
    with Journal(journal_path) as journal:
        by_printed = resolve_run(journal, "bt2")
        by_journal_id = resolve_run(journal, "bt1-SPX-uniform")

    assert by_printed.run_id == "bt2-SPX-random"
    assert by_journal_id.symbol == "SPX" and by_journal_id.policy == "uniform"


def test_explain_without_an_id_takes_the_newest_run_with_decisions_and_a_model_of_a_compare(
    journal_path, tmp_path
):
    # Arrange: an operator command after everything, and a journal without sessions or bt2.
    with Journal(journal_path) as journal:
        journal.start_run(_record("op1", "operator", "", "", 5))
    older = tmp_path / "older.sqlite"
    with Journal(older) as journal:
        for policy in ("uniform", "model:models/daily-equities"):
            _backtest(journal, "bt1", "SPX", policy, 1, "/r/1/SPX")

    # Act
    newest = _bot(journal_path, "explain", "--out", str(tmp_path / "plot"))
    with Journal(older) as journal:
        compared = latest_decided_run(journal)

    # Assert
    assert newest.exit_code == 0, newest.output
    assert newest.output.startswith("Run pp1: paper BTCUSDT 1d, policy uniform")
    assert compared.run_id == "bt1-SPX-model_models_daily-equities"


def test_explain_with_the_id_of_a_one_pair_backtest_explains_it(journal_path, tmp_path):
    result = _bot(journal_path, "explain", "bt2", "--out", str(tmp_path / "plot"))

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Run bt2-SPX-random: backtest SPX 1d, policy random")


def test_explain_with_the_id_of_a_many_pair_backtest_names_the_ids_to_pass(journal_path):
    result = _bot(journal_path, "explain", "bt1")

    assert result.exit_code == ConfigError.exit_code
    assert "The backtest bt1 ran 4 symbol and policy pairs" in result.output
    for pair in ("SPX-uniform", "SPX-model_models_daily-equities", "AAPL-uniform"):
        assert f"bt1-{pair}" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_id_points_to_runs_list(journal_path):
    result = _bot(journal_path, "explain", "nope")

    assert result.exit_code == ConfigError.exit_code
    assert "has no run 'nope'" in result.output and "`bot runs list`" in result.output


@pytest.mark.parametrize("command", [["runs", "list"], ["explain"], ["status"]])
def test_a_journal_with_a_corrupt_page_is_a_config_error(tmp_path, command):
    path = corrupt_journal(tmp_path / "journal.sqlite", "runs")

    result = _bot(path, *command)

    assert result.exit_code == ConfigError.exit_code, result.output
    assert f"{path} is not a readable journal" in result.output


def test_list_with_a_journal_path_that_is_a_folder_is_a_config_error(tmp_path):
    result = _bot(tmp_path, "runs", "list")

    assert result.exit_code == ConfigError.exit_code, result.output
    assert f"journal.path {tmp_path} is a folder, not a journal file" in result.output


@pytest.mark.parametrize("run_id", ["bt2-SPX-random", "ev1"])
def test_status_of_a_run_that_is_not_a_session_is_refused_before_redis_is_read(
    journal_path, run_id
):
    # No Redis answers here; reading one for the trader "?" aborted the process when one did.
    result = _bot(journal_path, "--set", "persistence.redis_port=1", "status", "--run", run_id)

    assert result.exit_code == ConfigError.exit_code, result.output
    assert f"The run {run_id} is a" in result.output
    assert "not a paper or live session" in result.output
    assert "bot runs list --mode paper" in result.output


def test_status_with_a_journal_path_through_a_file_is_a_config_error(tmp_path):
    (tmp_path / "bars.csv").write_text("ts,close\n")

    result = _bot(tmp_path / "bars.csv" / "journal.sqlite", "status")

    assert result.exit_code == ConfigError.exit_code, result.output
    assert "No journal at" in result.output  # read only: it never creates one
