"""Every runbook's `bash` blocks run, in order, in an empty folder, and succeed.

A block whose info string carries a word after `bash` is shown, not run: `setup` (the test
environment is the set-up) or `live` (needs a venue account). Each runbook must have at least
one block that runs.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = sorted((ROOT / "runbooks").glob("[0-9]*.md"))
BLOCK = re.compile(r"^ *```bash([^\n]*)\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
SHOWN_ONLY = {"setup", "live"}

pytestmark = pytest.mark.slow


def blocks(runbook: Path) -> list[tuple[str, str]]:
    """(tag, commands) of each bash block, tag "" for the blocks that run."""
    return [(tag.strip(), body) for tag, body in BLOCK.findall(runbook.read_text())]


def test_there_are_runbooks():
    assert RUNBOOKS, "no numbered runbooks in runbooks/"


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda path: path.name)
def test_runbook_commands_succeed(runbook, tmp_path):
    found = blocks(runbook)
    assert {tag for tag, _ in found} <= SHOWN_ONLY | {""}, "unknown block tag"
    commands = [body for tag, body in found if not tag]
    assert commands, f"{runbook.name} has no block the test can run"
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    for body in commands:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", body],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

        assert result.returncode == 0, f"{body}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr, body
        assert "WARNING" not in result.stdout, body  # the runbooks walk the clean path
