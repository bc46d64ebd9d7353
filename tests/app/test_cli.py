import json

import pytest
import typer
from typer.testing import CliRunner

from bot import __version__
from bot.app.cli import app
from bot.engine.journal import Journal

runner = CliRunner()


def test_version_and_help():
    assert runner.invoke(app, ["--version"]).output.strip() == f"bot {__version__}"
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = ("backtest", "paper", "live", "data", "train", "evaluate", "explain", "status")
    for command in (*commands, "models", "schedule"):
        assert command in result.output


@pytest.mark.parametrize("group", [[], ["data"], ["train"], ["models"], ["runs"], ["strategies"]])
def test_each_command_of_a_group_is_summed_up_whole_on_one_line(group):
    # Arrange: a terminal wide enough for any summary on one line.
    command = typer.main.get_command(app)
    for name in group:
        command = command.commands[name]

    # Act
    result = runner.invoke(app, [*group, "--help"], env={"COLUMNS": "500"})

    # Assert: no summary broken where its docstring's lines break, no text lost to markup.
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for name, sub in command.commands.items():
        summary = " ".join(sub.help.split("\n\n")[0].split())
        row = next(line for line in lines if line.startswith(f"│ {name} "))
        assert summary in row, (name, summary, row)


def test_status_without_a_journal_says_how_to_start_one_and_creates_none(tmp_path):
    path = tmp_path / "journal.sqlite"

    result = runner.invoke(app, ["status"], env={"BOT__JOURNAL__PATH": str(path)})

    assert result.exit_code == 2
    assert f"No journal at {path}" in " ".join(result.output.split())
    assert "start a node first" in result.output and "Traceback" not in result.output
    assert not path.exists()


def test_status_without_a_session_says_how_to_start_one(tmp_path):
    path = tmp_path / "journal.sqlite"
    Journal(path).close()  # a journal with backtests only, or none yet

    result = runner.invoke(app, ["status"], env={"BOT__JOURNAL__PATH": str(path)})

    assert result.exit_code == 2
    assert "no paper or live session yet" in result.output and "bot paper" in result.output
    assert "Traceback" not in result.output


def test_malformed_config_exits_2_without_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[router]\nwindow = -3\n")

    result = runner.invoke(app, ["--config", str(path), "config", "show"])

    assert result.exit_code == 2
    assert "router.window" in result.output and str(path) in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_config_show_reports_sources_and_redacts(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT__ROUTER__SEED", "9")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "do-not-print-me")

    result = runner.invoke(app, ["--set", "router.window=33", "config", "show"])

    assert result.exit_code == 0
    lines = {line.split("=")[0].strip(): line for line in result.output.splitlines()}
    assert lines["router.window"].endswith("# cli") and "33" in lines["router.window"]
    assert lines["router.seed"].endswith("# env:BOT__ROUTER__SEED")
    assert lines["backtest.years"].endswith("# default")
    assert "do-not-print-me" not in result.output
    assert json.loads(lines["router.window"].split("=", 1)[1].split("#")[0]) == 33
