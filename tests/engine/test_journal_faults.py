"""A journal file that SQLite opens but cannot read, and a journal path that cannot be a file:
each is refused with a ConfigError that names the path, never a traceback."""

import pytest

from bot.core.errors import ConfigError
from bot.engine.journal import Journal
from tests.support.records import corrupt_journal

# Each read, and the table whose pages it reads.
READS = {
    "runs": ("runs", lambda journal: journal.runs()),
    "run": ("runs", lambda journal: journal.run("run-1")),
    "latest_run": ("runs", lambda journal: journal.latest_run()),
    "decisions": ("decisions", lambda journal: journal.decisions("run-1")),
    "fills": ("fills", lambda journal: journal.fills("run-1")),
    "events": ("events", lambda journal: journal.events("run-1")),
    "has_fill": ("fills", lambda journal: journal.has_fill("o-1", "t-1")),
}


@pytest.mark.parametrize("read_only", [False, True])
@pytest.mark.parametrize(("table", "read"), READS.values(), ids=READS.keys())
def test_a_corrupt_page_found_by_a_read_is_a_config_error(tmp_path, table, read, read_only):
    # Arrange
    path = corrupt_journal(tmp_path / "journal.sqlite", table)

    # Act
    with Journal(path, read_only=read_only) as journal, pytest.raises(ConfigError) as raised:
        read(journal)

    # Assert
    message = str(raised.value)
    assert f"{path} is not a readable journal" in message
    assert "malformed" in message and "SELECT" not in message


def test_a_journal_path_through_a_file_is_a_config_error(tmp_path):
    # Arrange
    (tmp_path / "bars.csv").write_text("ts,close\n")

    # Act
    with pytest.raises(ConfigError) as raised:
        Journal(tmp_path / "bars.csv" / "deeper" / "journal.sqlite")

    # Assert
    assert "runs through a file" in str(raised.value)
    assert (tmp_path / "bars.csv").read_text() == "ts,close\n"
