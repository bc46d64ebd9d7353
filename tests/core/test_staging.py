"""`staged_folder`: a folder is replaced whole, or left as it was."""

import os
import subprocess
import sys

import pytest

from bot.core.errors import ConfigError
from bot.core.staging import staged_folder

OWNS = frozenset({"a.txt", "b.txt"})


def _folder(path, text):
    path.mkdir()
    (path / "a.txt").write_text(text)
    return path


def test_a_finished_block_replaces_the_folder_and_leaves_nothing_beside_it(tmp_path):
    target = _folder(tmp_path / "out", "old")

    with staged_folder(target, "thing", OWNS) as staging:
        (staging / "b.txt").write_text("new")

    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("stop", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_block_that_stops_leaves_the_old_folder_as_it_was(tmp_path, stop):
    target = _folder(tmp_path / "out", "old")

    with pytest.raises(type(stop)), staged_folder(target, "thing", OWNS) as staging:
        (staging / "a.txt").write_text("half")
        raise stop

    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_new_folder_appears_only_when_finished(tmp_path):
    target = tmp_path / "deep" / "out"

    with staged_folder(target, "thing", OWNS) as staging:
        (staging / "a.txt").write_text("new")
        assert not target.exists()

    assert (target / "a.txt").read_text() == "new"


@pytest.mark.parametrize(
    ("other", "said"), [("notes.txt", "choose a new or empty folder"), ("file", "is a file")]
)
def test_a_folder_holding_what_it_does_not_own_is_refused_and_kept(tmp_path, other, said):
    target = tmp_path / "out"
    if other == "file":  # a file where the folder would go
        target.write_text("precious")
    else:
        _folder(target, "old")
        (target / other).write_text("precious")

    with pytest.raises(ConfigError, match=said), staged_folder(target, "thing", OWNS):
        pytest.fail("the block ran")

    kept = target if other == "file" else target / other
    assert kept.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_siblings_of_a_killed_build_are_cleared_and_a_running_ones_kept(tmp_path, dead_pid):
    # Arrange: a SIGKILL skips the cleanup; os.getppid() is a live process saving concurrently
    target = _folder(tmp_path / "out", "old")
    left = [_folder(tmp_path / f".out.{kind}-{dead_pid}", "left") for kind in ("staging", "old")]
    running = _folder(tmp_path / f".out.staging-{os.getppid()}", "being written")

    # Act
    with staged_folder(target, "thing", OWNS) as staging:
        (staging / "b.txt").write_text("new")

    # Assert
    assert not any(path.exists() for path in left)
    assert (running / "a.txt").read_text() == "being written"
    assert sorted(p.name for p in tmp_path.iterdir()) == [running.name, "out"]


def test_an_old_folder_left_without_its_target_is_put_back_not_deleted(tmp_path, dead_pid):
    # Arrange: the build died between its two renames; the old folder is the only copy
    target = tmp_path / "out"
    _folder(tmp_path / f".out.old-{dead_pid}", "only copy")
    _folder(tmp_path / f".out.staging-{dead_pid}", "new, never renamed")

    # Act
    with pytest.raises(RuntimeError), staged_folder(target, "thing", OWNS):
        raise RuntimeError("stop before replacing it")

    # Assert
    assert (target / "a.txt").read_text() == "only copy"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
