"""The model registry through `bot models`: add, list, promote, rollback, and their errors."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.core.saved_meta import PROJECT_ROOT
from bot.engine.journal import Journal
from bot.engine.registry import Registry

SHIPPED = PROJECT_ROOT / "models" / "daily-equities"
runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "BOT__REGISTRY__PATH": str(tmp_path / "registry"),
        "BOT__JOURNAL__PATH": str(tmp_path / "journal.sqlite"),
    }


def _bot(env: dict[str, str], *args: str):
    return runner.invoke(app, list(args), env=env)


def _added(env: dict[str, str], *names: str) -> None:
    for name in names:
        result = _bot(env, "models", "add", str(SHIPPED), "--name", name)
        assert result.exit_code == 0, result.output


def test_promote_and_rollback_move_the_pointer_and_are_journalled(env, tmp_path) -> None:
    # Arrange
    _added(env, "first", "second")
    registry = Registry(tmp_path / "registry")

    # Act
    promoted_first = _bot(env, "models", "promote", "first")
    promoted_second = _bot(env, "models", "promote", "second")
    listed = _bot(env, "models", "list")
    rolled_back = _bot(env, "models", "rollback")

    # Assert
    assert [r.exit_code for r in (promoted_first, promoted_second, rolled_back)] == [0, 0, 0]
    assert "Promoted second (was: first)" in promoted_second.output
    assert [line.split()[1] for line in listed.output.splitlines() if line.startswith("*")] == [
        "second"
    ]
    assert "Rolled back from second to first" in rolled_back.output
    assert registry.active() == "first"
    assert registry.active_policy() == f"model:{(tmp_path / 'registry' / 'first').resolve()}"
    with Journal(tmp_path / "journal.sqlite") as journal:
        kinds = journal._conn().execute("SELECT kind, payload FROM events ORDER BY id").fetchall()
    assert [(kind, json.loads(p)["active"]) for kind, p in kinds] == [
        ("model_promoted", "first"),
        ("model_promoted", "second"),
        ("model_rolled_back", "first"),
    ]


def test_list_marks_the_active_model_and_shows_its_evaluation(env, tmp_path) -> None:
    # Arrange
    evaluation = tmp_path / "evaluation.json"
    router = {"total_return": 0.0362, "sharpe": 0.18, "max_drawdown": 0.0985}
    evaluation.write_text(json.dumps({"average": {"router": router}}))
    result = _bot(
        env, "models", "add", str(SHIPPED), "--name", "scored", "--evaluation", str(evaluation)
    )
    assert result.exit_code == 0, result.output
    _added(env, "plain")
    _bot(env, "models", "promote", "scored")

    # Act
    listed = _bot(env, "models", "list")

    # Assert
    rows = {line.split()[1] if line.startswith("*") else line.split()[0]: line.split()
            for line in listed.output.splitlines()[1:]}  # fmt: skip
    assert rows["scored"][0] == "*" and rows["scored"][-3:] == ["3.62", "0.18", "9.85"]
    assert rows["plain"][-3:] == ["-", "-", "-"] and rows["plain"][0] != "*"
    assert "1d" in rows["scored"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "promote", "missing"), "no model 'missing'"),
        (("models", "rollback"), "nothing to roll back to"),
        (("models", "add", "/nonexistent/checkpoint"), "not a readable checkpoint"),
    ],
)
def test_bad_requests_exit_2_and_change_nothing(env, tmp_path, args, message) -> None:
    # Arrange
    _added(env, "only")
    before = sorted(p.name for p in (tmp_path / "registry").iterdir())

    # Act
    result = _bot(env, *args)

    # Assert
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in (tmp_path / "registry").iterdir()) == before


def test_a_corrupt_pointer_is_a_clear_error(env, tmp_path) -> None:
    # Arrange
    _added(env, "only")
    (tmp_path / "registry" / "active.json").write_text("{not json")

    # Act
    result = _bot(env, "models", "promote", "only")

    # Assert
    assert result.exit_code == 2
    assert "active.json is unreadable" in result.output


def test_adding_a_name_twice_is_refused(env, tmp_path) -> None:
    # Arrange
    _added(env, "dup")

    # Act
    result = _bot(env, "models", "add", str(SHIPPED), "--name", "dup")

    # Assert
    assert result.exit_code == 2
    assert "already holds 'dup'" in result.output


def test_list_shows_the_shipped_model_the_default_policy_and_the_active_pointer(env) -> None:
    # Arrange
    empty = _bot(env, "models", "list")
    _added(env, "mine")
    _bot(env, "models", "promote", "mine")

    # Act
    listed = _bot(env, "models", "list")

    # Assert
    assert empty.exit_code == 0 and listed.exit_code == 0, listed.output
    shipped = next(line.split() for line in empty.output.splitlines() if "shipped" in line)
    assert shipped[:2] == ["models/daily-equities", "shipped"] and "1d" in shipped
    assert "Default policy (router.policy): model:models/daily-equities" in empty.output
    assert "Active registry model (policy `registry`): none in" in empty.output
    assert "Active registry model (policy `registry`): mine" in listed.output
