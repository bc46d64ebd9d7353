import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import structlog

from bot.core.errors import OperationalError
from bot.engine.redis_server import answers, require_redis_server
from tests.fakes.waiting import wait_for

# Fixtures that tests in several folders share: the live Binance node's, and the bars and
# models of the core, model and training tests.
pytest_plugins = ("tests.support.binance_node", "tests.support.fixtures")

# The machine is shared: keep numeric libraries to one thread in tests.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

try:
    import torch
except ImportError:  # the train extra is optional
    pass
else:
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _one_ray_session():
    """One local Ray for the session: fan-outs in this process join it (`bot.core.parallel` starts
    Ray only when none runs) instead of paying its start-up, seconds, in every test."""
    import ray

    # address="local": never join a cluster someone started on this machine (and fail on num_cpus).
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def _reset_structlog():
    # CLI tests configure structlog onto a stream that CliRunner closes afterwards.
    yield
    structlog.reset_defaults()


@dataclass(frozen=True)
class RedisServer:
    """A private redis-server for one test, on 127.0.0.1:`port`."""

    port: int
    host: str = "127.0.0.1"

    def client(self) -> redis.Redis:
        """A client of this server (close it after use)."""
        return redis.Redis(host=self.host, port=self.port, socket_timeout=5)

    def settings(self) -> dict[str, object]:
        """The dotted settings that point a node at this server."""
        return {"persistence.redis_host": self.host, "persistence.redis_port": self.port}

    def env(self) -> dict[str, str]:
        """The same as `BOT__...` environment variables, for `bot` subprocesses."""
        return {
            "BOT__PERSISTENCE__REDIS_HOST": self.host,
            "BOT__PERSISTENCE__REDIS_PORT": str(self.port),
        }


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh, empty redis-server of this test's own (live nodes keep nautilus' cache there)."""
    try:
        executable = require_redis_server()
    except OperationalError as missing:
        pytest.fail(str(missing))
    server = RedisServer(free_port())
    folder = tmp_path / "redis"
    folder.mkdir()
    # No snapshots: the server lives only as long as the test.
    args = ["--port", str(server.port), "--bind", server.host, "--dir", str(folder), "--save", ""]
    process = subprocess.Popen([executable, *args], stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: answers(server.port), 10, f"redis-server on port {server.port}")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def persistence_env(redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    """Environment variables giving a `bot` subprocess this test's Redis and its own journal."""
    return redis_server.env() | {"BOT__JOURNAL__PATH": str(tmp_path / "journal.sqlite")}
