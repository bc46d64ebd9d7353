"""SIGKILL in the middle of writing loses no decision the writer saw committed."""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine.journal import Journal

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
REPORTED = 200  # ids to read before the kill: the child is writing flat out by then

# The child journals decisions as fast as it can and prints each id once record_decision has
# returned, i.e. once the row is committed.
CHILD = """
import sys
from bot.engine.journal import Journal
from tests.support.records import start, static_decision

journal = Journal(sys.argv[1])
start(journal)
day = 0
while True:
    row_id = journal.record_decision(static_decision("run-1", day, close=100.0 + day))
    print(row_id, flush=True)
    day += 1
"""


def test_sigkill_mid_run_keeps_every_committed_decision(tmp_path):
    # Arrange
    path = tmp_path / "journal.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reported = [int(child.stdout.readline()) for _ in range(REPORTED)]

    # Act
    os.kill(child.pid, signal.SIGKILL)
    rest, errors = child.communicate(timeout=30)
    reported += [int(line) for line in rest.split()]

    # Assert
    assert child.returncode == -signal.SIGKILL, errors
    with Journal(path) as journal:
        journalled = journal.decisions("run-1")
        integrity = journal._conn().execute("PRAGMA integrity_check").fetchone()[0]
    assert integrity == "ok"
    with sqlite3.connect(path) as raw:
        ids = {row[0] for row in raw.execute("SELECT id FROM decisions")}
    raw.close()
    assert set(reported) <= ids
    assert len(journalled) == len(ids) >= len(reported)
