"""`staged_folder`: a folder is replaced whole, or left as it was."""

import pytest

from bot.core.staging import staged_folder


def _folder(path, text):
    path.mkdir()
    (path / "a.txt").write_text(text)
    return path


def test_a_finished_block_replaces_the_folder_and_leaves_nothing_beside_it(tmp_path):
    target = _folder(tmp_path / "out", "old")

    with staged_folder(target) as staging:
        (staging / "b.txt").write_text("new")

    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("stop", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_block_that_stops_leaves_the_old_folder_as_it_was(tmp_path, stop):
    target = _folder(tmp_path / "out", "old")

    with pytest.raises(type(stop)), staged_folder(target) as staging:
        (staging / "a.txt").write_text("half")
        raise stop

    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_new_folder_appears_only_when_finished(tmp_path):
    target = tmp_path / "deep" / "out"

    with staged_folder(target) as staging:
        (staging / "a.txt").write_text("new")
        assert not target.exists()

    assert (target / "a.txt").read_text() == "new"
