"""The model registry through `bot models`: add, list, promote, rollback, and their errors."""

import json
import shutil
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


@pytest.mark.parametrize(
    "pointer",
    ["{not json", '{"active": "../elsewhere", "history": []}'],
    ids=["not-json", "names-a-folder-outside"],
)
def test_a_corrupt_pointer_is_a_clear_error(env, tmp_path, pointer) -> None:
    # Arrange
    _added(env, "only")
    (tmp_path / "registry" / "active.json").write_text(pointer)

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


def _corrupt_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "corrupt"
    shutil.copytree(SHIPPED, folder)
    (folder / "model.safetensors").write_bytes(b"not the weights meta.json hashed")
    return folder


def test_a_name_that_leaves_the_registry_is_refused_on_add_and_promote(env, tmp_path) -> None:
    # Arrange: a checkpoint beside the registry, which `../evil` would point at
    shutil.copytree(SHIPPED, tmp_path / "evil")

    # Act
    added = _bot(env, "models", "add", str(SHIPPED), "--name", "../outside")
    hidden = _bot(env, "models", "add", str(SHIPPED), "--name", ".hidden")
    promoted = _bot(env, "models", "promote", "../evil")

    # Assert
    assert [r.exit_code for r in (added, hidden, promoted)] == [2, 2, 2]
    assert all("use letters, digits, '.', '_' and '-'" in r.output for r in (added, promoted))
    assert not (tmp_path / "outside").exists()
    assert not (tmp_path / "registry" / ".hidden").exists()
    assert Registry(tmp_path / "registry").active() is None


def test_add_refuses_a_checkpoint_that_would_not_load_before_copying(env, tmp_path) -> None:
    # Arrange
    corrupt = _corrupt_copy(tmp_path)

    # Act
    result = _bot(env, "models", "add", str(corrupt), "--name", "bad")

    # Assert
    assert result.exit_code == 2
    assert "sha-256 differs from meta.json" in result.output
    assert not (tmp_path / "registry" / "bad").exists()


def test_promote_refuses_a_registered_checkpoint_that_no_longer_loads(env, tmp_path) -> None:
    # Arrange: its weights damaged after it was added
    _added(env, "damaged")
    (tmp_path / "registry" / "damaged" / "model.safetensors").write_bytes(b"garbage")

    # Act
    result = _bot(env, "models", "promote", "damaged")

    # Assert
    assert result.exit_code == 2
    assert "sha-256 differs from meta.json" in result.output
    assert Registry(tmp_path / "registry").active() is None


@pytest.mark.parametrize("text", ["symbol,sharpe\nSPY,0.1\n", "[]", '{"average": {}}'])
def test_add_refuses_a_bad_evaluation_before_copying(env, tmp_path, text) -> None:
    # Arrange
    evaluation = tmp_path / "some.csv"
    evaluation.write_text(text)

    # Act
    result = _bot(
        env, "models", "add", str(SHIPPED), "--name", "de", "--evaluation", str(evaluation)
    )
    listed = _bot(env, "models", "list")

    # Assert
    assert result.exit_code == 2
    assert "some.csv" in result.output
    assert "must be the evaluation.json that `bot evaluate` wrote" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "registry" / "de").exists()
    assert listed.exit_code == 0, listed.output


def test_list_shows_an_entry_with_an_unreadable_evaluation_without_figures(env, tmp_path) -> None:
    # Arrange
    _added(env, "de")
    (tmp_path / "registry" / "de" / "evaluation.json").write_text("symbol,sharpe\n")

    # Act
    listed = _bot(env, "models", "list")

    # Assert
    assert listed.exit_code == 0, listed.output
    row = next(row for row in map(str.split, listed.output.splitlines()) if row[:1] == ["de"])
    assert row[-3:] == ["-", "-", "-"]
    assert "WARNING: de is listed without figures" in listed.output
    assert "evaluation.json is unreadable" in listed.output


def test_list_shows_a_figure_the_evaluation_left_unmeasured_as_a_dash(env, tmp_path) -> None:
    # Arrange
    evaluation = tmp_path / "evaluation.json"
    router = {"total_return": 0.0362, "sharpe": None, "max_drawdown": 0.0985}
    evaluation.write_text(json.dumps({"average": {"router": router}}))
    _bot(env, "models", "add", str(SHIPPED), "--name", "de", "--evaluation", str(evaluation))

    # Act
    listed = _bot(env, "models", "list")

    # Assert
    assert listed.exit_code == 0, listed.output
    row = next(row for row in map(str.split, listed.output.splitlines()) if row[:1] == ["de"])
    assert row[-3:] == ["3.62", "-", "9.85"]


def test_a_copy_that_fails_half_way_adds_nothing(env, tmp_path, monkeypatch) -> None:
    # Arrange: the weights copied, then the disk fills before the evaluation is copied
    evaluation = tmp_path / "evaluation.json"
    router = {"total_return": 0.0362, "sharpe": 0.18, "max_drawdown": 0.0985}
    evaluation.write_text(json.dumps({"average": {"router": router}}))
    copyfile = shutil.copyfile

    def disk_full(source, target, **kwargs):
        if Path(target).name == "evaluation.json":
            raise OSError(28, "No space left on device")
        return copyfile(source, target, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", disk_full)

    # Act
    result = _bot(
        env, "models", "add", str(SHIPPED), "--name", "half", "--evaluation", str(evaluation)
    )
    listed = _bot(env, "models", "list")
    promoted = _bot(env, "models", "promote", "half")

    # Assert
    assert result.exit_code == 2
    assert "No space left on device" in result.output and "nothing was added" in result.output
    assert list((tmp_path / "registry").iterdir()) == []
    assert "half" not in [line.split()[0] for line in listed.output.splitlines() if line.strip()]
    assert promoted.exit_code == 2 and "no model 'half'" in promoted.output
