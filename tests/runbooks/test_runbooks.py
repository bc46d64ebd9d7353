"""Every runbook's `bash` blocks run, in order, in an empty folder, against the fake venues.

What a block's info string (the word after `bash`) means here:
- nothing: run it; it must exit 0, print no Traceback, and no WARNING on stdout;
- `background`: what an operator starts in a second terminal (a node): started and left
  running until a `<!-- test: stop -->` marker (SIGINT; it must exit 0), a
  `<!-- test: kill -->` marker (SIGKILL: a crash drill), or the end of the runbook (SIGINT);
- `setup`, `live`: shown, not run (this environment is the set-up; live needs an account).

The environment: the fake Binance USDT-M futures API and the fake Alpaca on 127.0.0.1, their
keys in the variables the runbooks export, a private Redis, `BOT_CONFIG` =
`tests/runbooks/drill.toml` (a small training slice, short router windows), and a market thread
that streams a closed 1-minute bar to each venue every quarter second.
"""

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.conftest import RedisServer
from tests.fakes.binance import FakeBinance
from tests.fakes.market import StreamedMarket
from tests.fakes.server import serve_in_thread
from tests.fakes.waiting import wait_for
from tests.support import alpaca_node

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = sorted((ROOT / "runbooks").glob("[0-9]*.md"))
STEP = re.compile(
    r"^ *```bash(?P<tag>[^\n]*)\n(?P<body>.*?)^ *```|<!-- test: (?P<marker>stop|kill) -->",
    re.MULTILINE | re.DOTALL,
)
SHOWN_ONLY = {"setup", "live"}
BINANCE_KEY, BINANCE_SECRET = "runbook-binance-key", "runbook-binance-secret"
BAR_EVERY_S = 0.25  # a 20-bar router window passes in 5 seconds

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def steps(runbook: Path) -> list[tuple[str, str]]:
    """(tag, commands) of each bash block and ("stop" | "kill", "") of each marker, in order."""
    return [
        (m["marker"], "") if m["marker"] else (m["tag"].strip(), m["body"])
        for m in STEP.finditer(runbook.read_text())
    ]


def test_there_are_runbooks() -> None:
    assert len(RUNBOOKS) >= 9, [path.name for path in RUNBOOKS]


@contextmanager
def _venues(redis_server: RedisServer) -> Iterator[dict[str, str]]:
    """The fakes and the market running; yields the environment the runbooks run in."""
    with ExitStack() as stack:
        binance = stack.enter_context(
            serve_in_thread(
                FakeBinance(
                    alpaca_node.recent_history(),
                    futures={"BTCUSDT": ("BTC", "USDT")},
                    api_key=BINANCE_KEY,
                    api_secret=BINANCE_SECRET,
                )
            )
        )
        alpaca = stack.enter_context(alpaca_node.serve_alpaca())
        stack.enter_context(StreamedMarket(binance.history, binance, alpaca, BAR_EVERY_S))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT", "BINANCE_"))}
        env |= {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "BOT_CONFIG": str(ROOT / "tests" / "runbooks" / "drill.toml"),
            "BOT__VENUES__BINANCE__BASE_URL_HTTP": binance.base_url,
            "BOT__VENUES__BINANCE__BASE_URL_WS": binance.ws_url,
            "BINANCE_API_KEY": BINANCE_KEY,
            "BINANCE_API_SECRET": BINANCE_SECRET,
            "APCA_API_KEY_ID": alpaca_node.KEY,
            "APCA_API_SECRET_KEY": alpaca_node.SECRET,
        }
        yield env | alpaca_node.alpaca_env(alpaca) | redis_server.env()


class _Background:
    """Nodes started by `background` blocks, each logging to a file."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.running: list[tuple[subprocess.Popen, Path, str]] = []

    def start(self, body: str) -> None:
        log = self.folder / f"background-{len(self.running)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", body],
                cwd=self.folder, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # signals reach the node, not this test
            )  # fmt: skip
        self.running.append((process, log, body))
        started = lambda: "node; SIGINT" in log.read_text() or process.poll() is not None  # noqa: E731
        wait_for(started, 60, f"the node of: {body.strip()}")
        assert process.poll() is None, f"{body}\n{log.read_text()[-3000:]}"
        time.sleep(2.0)  # room for warm-up and a few streamed bars

    def end(self, how: str) -> None:
        for process, log, body in self.running:
            os.killpg(process.pid, signal.SIGKILL if how == "kill" else signal.SIGINT)
            code = process.wait(timeout=60)
            if how == "stop":
                assert code == 0, f"{body}\n{log.read_text()[-3000:]}"
                assert "Traceback" not in log.read_text(), body
        self.running = []


def _run(body: str, folder: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", body],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{body}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr, body
    assert "WARNING" not in result.stdout, body  # the runbooks walk the clean path


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda path: path.name)
def test_runbook_commands_succeed(runbook: Path, tmp_path: Path, redis_server) -> None:
    found = steps(runbook)
    tags = {tag for tag, _ in found}
    assert tags <= SHOWN_ONLY | {"", "background", "stop", "kill"}, "unknown block tag"
    assert "" in tags, f"{runbook.name} has no block the test can run"
    with _venues(redis_server) as env:
        nodes = _Background(tmp_path, env)
        try:
            for tag, body in found:
                if tag == "":
                    _run(body, tmp_path, env)
                elif tag == "background":
                    nodes.start(body)
                elif tag in ("stop", "kill"):
                    nodes.end(tag)
        finally:
            nodes.end("stop")
