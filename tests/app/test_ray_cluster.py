"""`--ray-address` joins a separately started Ray head (auto and host:port), and a wrong address
is a clean error, not a long wait or a traceback.

The head runs with its own temp dir, so no other process's `ray.init()` finds it by accident,
and it is stopped by its process group only: `ray stop` would stop every Ray on the machine.
Each command is a `bot` process of its own, as a user runs it: a process joins one Ray only."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bot.core.parallel import answers
from bot.model.checkpoint import init_checkpoint
from bot.model.router_model import ModelConfig
from tests.conftest import free_port
from tests.fakes.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SPAN = ["--symbols", "SPX", "--start", "2023-01-03", "--end", "2023-04-28"]


@pytest.fixture(scope="module")
def head():
    """A Ray head started the way the README says."""
    gcs = free_port()
    temp = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: Ray's unix sockets live in it
    command = [
        str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
        f"--port={gcs}", "--num-cpus=2",
        "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}",
    ]  # fmt: skip
    process = subprocess.Popen(  # its workers run in its directory, not the `bot` commands'
        command,
        cwd=temp,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: answers("127.0.0.1", gcs, timeout=1), 60, "the Ray head")
        yield gcs
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _bot(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    settings = ["--set", f"journal.path={tmp_path / 'journal.sqlite'}"]
    return subprocess.run(
        [sys.executable, "-m", "bot", *settings, *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=240,
    )


def _table(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("uniform ", "random "))]


def test_a_compare_and_an_evaluation_run_on_the_cluster(head, tmp_path):
    gcs = head
    compare = ["backtest", *SPAN, "--compare", "uniform,random", "--seed", "3"]
    checkpoint = init_checkpoint(
        tmp_path / "ckpt", ModelConfig(text_encoder="hashed", hidden_size=32)
    )
    exported = {"RAY_ADDRESS": f"127.0.0.1:{gcs}"}

    auto = _bot(tmp_path, *compare, "--ray-address", "auto", env=exported)
    serial = _bot(tmp_path, *compare, "--workers", "1")
    evaluated = _bot(
        tmp_path,
        "evaluate",
        checkpoint.name,  # relative: the workers run in the head's directory unless told
        *SPAN,
        "--out",
        "e",
        "--ray-address",
        f"127.0.0.1:{gcs}",
    )

    for done in (auto, serial, evaluated):
        assert done.returncode == 0, done.stderr[-3000:]
    assert len(_table(auto.stdout)) == 2 and _table(auto.stdout) == _table(serial.stdout)
    assert "SPX" in (tmp_path / "e" / "table.txt").read_text()
    assert (tmp_path / "e" / "journal.sqlite").exists()  # the relative --out is the caller's


@pytest.mark.parametrize(
    ("address", "said"),
    [
        (f"127.0.0.1:{free_port()}", "nothing answers"),  # Ray itself waited minutes
        ("ray://127.0.0.1:10001", "Ray Client (ray://) addresses are not supported"),
    ],
    ids=["no-cluster", "ray-client"],  # not the free port: test ids must not change per run
)
def test_a_bad_address_is_a_clear_error_at_once(tmp_path, address, said):
    done = _bot(
        tmp_path, "backtest", *SPAN, "--compare", "uniform,random", "--ray-address", address
    )

    assert done.returncode == 2, done.stdout + done.stderr
    assert f"--ray-address {address}: {said}" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
