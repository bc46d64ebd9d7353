"""`python -m tests.fakes` serves a fake venue on the asked port until interrupted."""

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serves_binance_on_the_given_port_and_stops_on_sigint() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes", "binance", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = [process.stdout.readline() for _ in range(4)]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/fapi/v1/time", timeout=5) as answer:
            body = json.load(answer)
    finally:
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=30)

    assert banner[1].split() == ["REST", f"http://127.0.0.1:{port}"]
    assert "serverTime" in body
    assert process.returncode == 0 and "Traceback" not in errors
