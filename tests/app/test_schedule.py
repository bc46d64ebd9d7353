"""`bot schedule --once` on a small real slice (AAPL daily): retrain -> evaluate -> promote.

A candidate that beats the active router (a deliberately bad one) is promoted, and a running
paper node on the registry switches to it at its next window; a second candidate, trained the
same way, does not beat the first by the margin and is not; `bot models rollback` switches the
node back. A failed job alerts and changes nothing."""

import json
import signal
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.core.saved_meta import PROJECT_ROOT
from bot.engine.journal import Journal
from bot.engine.registry import Registry
from tests.fakes.binance import FakeBinance
from tests.fakes.market import StreamedMarket
from tests.fakes.server import serve_in_thread
from tests.fakes.waiting import wait_for
from tests.support import alpaca_node
from tests.support.cli import KEY, KLINES, ROOT, SECRET, bot_env
from tests.support.crafted import short_only_router
from tests.support.series import SyntheticHistory

runner = CliRunner()
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONFIG = """
[train]
symbols = ["AAPL"]
horizon = 20
stride = 20
cuts = ["2017-01-01", "2020-01-01"]
dataset = "{tmp}/dataset"
checkpoints = "{tmp}/checkpoints"
workers = 1

[router]
window = 2

[registry]
path = "{tmp}/registry"

[journal]
path = "{tmp}/journal.sqlite"

[schedule]
margin = 0.05
report_dir = "{tmp}/daily"

[[schedule.jobs]]
name = "retrain"
kind = "retrain"
cron = "0 2 * * sat"
max_steps = 3
image_size = 56

[[schedule.jobs]]
name = "evaluate"
kind = "evaluate"
cron = "0 5 * * sat"

[[schedule.jobs]]
name = "promote"
kind = "promote"
cron = "0 6 * * sat"

[[schedule.jobs]]
name = "report"
kind = "daily_report"
cron = "30 23 * * *"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(tmp=tmp_path))
    return path


def run_bot(config: Path, *args: str):
    return runner.invoke(app, ["--config", str(config), *args])


def _events(tmp_path: Path) -> list[tuple[str, dict]]:
    with Journal(tmp_path / "journal.sqlite") as journal:
        rows = journal._conn().execute("SELECT kind, payload FROM events ORDER BY id").fetchall()
    return [(kind, json.loads(payload)) for kind, payload in rows]


def _switches(tmp_path: Path) -> list[tuple[str, str]]:
    return [(p["from"], p["to"]) for kind, p in _events(tmp_path) if kind == "router_switch"]


@contextmanager
def _paper_node_on_the_registry(config: Path, persistence_env: dict, tmp_path: Path):
    """A `bot paper --policy registry` node on the fake Binance futures API, with bars
    streaming; yields the fake."""
    fake = FakeBinance(
        alpaca_node.recent_history(),
        futures={"BTCUSDT": ("BTC", "USDT")},
        api_key=KEY,
        api_secret=SECRET,
    )
    with serve_in_thread(fake) as binance, (tmp_path / "paper.log").open("w") as log:
        command = ["--config", str(config), "paper", "--venue", "binance", "--policy", "registry"]
        node = subprocess.Popen(
            [sys.executable, "-m", "bot", *command],
            cwd=ROOT, env=bot_env(binance) | persistence_env, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            wait_for(lambda: binance.hub.listening(KLINES) > 0, 60, "the kline subscription")
            with StreamedMarket(binance.history, binance, every_s=0.5):
                yield binance
        finally:
            node.send_signal(signal.SIGINT)
            assert node.wait(timeout=60) == 0, (tmp_path / "paper.log").read_text()[-3000:]


def test_a_better_candidate_is_promoted_the_node_switches_and_rolls_back(
    config, tmp_path, persistence_env
) -> None:
    # Arrange: the active router always shorts; a paper node routes with the active model.
    short_only_router(PROJECT_ROOT / "models" / "daily-equities", tmp_path / "short-only")
    assert run_bot(config, "models", "add", str(tmp_path / "short-only")).exit_code == 0
    assert run_bot(config, "models", "promote", "short-only").exit_code == 0
    registry = Registry(tmp_path / "registry")

    with _paper_node_on_the_registry(config, persistence_env, tmp_path):
        # Act: a cycle that promotes, a cycle that does not, then a rollback.
        first = run_bot(config, "schedule", "--once")
        promoted = registry.active()
        wait_for(lambda: _switches(tmp_path) == [("short-only", promoted)], 60, "the switch")
        second = run_bot(config, "schedule", "--once")
        rolled_back = run_bot(config, "models", "rollback")
        back = [("short-only", promoted), (promoted, "short-only")]
        wait_for(lambda: _switches(tmp_path) == back, 60, "the switch back")

    # Assert
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert rolled_back.exit_code == 0 and f"from {promoted} to short-only" in rolled_back.output
    assert promoted.startswith("candidate-")
    candidates = sorted(e.name for e in registry.entries() if e.name.startswith("candidate-"))
    assert len(candidates) == 2 and candidates[0] == promoted
    won = json.loads((tmp_path / "registry" / promoted / "comparison.json").read_text())
    assert won["active"] == "short-only" and won["decision"] == "model_promoted"
    assert won["candidate_scores"]["sharpe"] > won["active_scores"]["sharpe"] + 0.05
    lost = json.loads((tmp_path / "registry" / candidates[1] / "comparison.json").read_text())
    assert lost["active"] == promoted and lost["decision"] == "promotion_refused"
    assert "does not beat" in lost["why"]
    kinds = [kind for kind, _ in _events(tmp_path)]
    assert kinds.count("job_ok") == 8 and "job_failed" not in kinds
    assert kinds.count("model_promoted") == 2  # the operator's, then the scheduler's
    assert kinds.count("promotion_refused") == 1 and kinds.count("model_rolled_back") == 1
    with Journal(tmp_path / "journal.sqlite") as journal:
        session = journal.runs().query("mode == 'paper'")["run_id"].iloc[-1]
        policies = journal.decisions(session)["policy"].tolist()
    routed = [p.rsplit("/", 1)[-1] for p in policies]
    assert {"short-only", promoted} <= set(routed)  # decisions by both models, in turn
    report = next((tmp_path / "daily").glob("*.md")).read_text()
    assert f"Active router: {promoted}" in report


def test_a_failing_job_alerts_is_journalled_and_changes_nothing(config, tmp_path) -> None:
    # Arrange: no active router to compare a candidate with.
    before = sorted(p.name for p in tmp_path.iterdir())

    # Act
    result = run_bot(config, "schedule", "--once", "--job", "evaluate", "--job", "promote")

    # Assert
    assert result.exit_code == 7
    assert "job evaluate failed" in result.output and "Later jobs were not run" in result.output
    assert "ALERT" in result.output and "job_failed" in result.output
    failed = [payload for kind, payload in _events(tmp_path) if kind == "job_failed"]
    assert [p["job"] for p in failed] == ["evaluate"]
    assert "no candidate" in failed[0]["error"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "journal.sqlite"])


def test_refresh_data_downloads_each_symbol_into_the_catalog(tmp_path) -> None:
    # Arrange: a refresh job over the fake Binance spot API (two days of hourly bars).
    history = SyntheticHistory(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))
    config = tmp_path / "refresh.toml"
    config.write_text(REFRESH.format(tmp=tmp_path))

    with serve_in_thread(FakeBinance(history)) as binance:
        env = {
            "BOT__VENUES__BINANCE__BASE_URL_HTTP": binance.base_url,
            "BOT__VENUES__BINANCE__MARKET": "spot",
        }
        # Act
        result = runner.invoke(app, ["--config", str(config), "schedule", "--once"], env=env)
        listed = runner.invoke(app, ["--config", str(config), "data", "list"], env=env)

    # Assert
    assert result.exit_code == 0, result.output
    row = next(line for line in listed.output.splitlines() if line.startswith("BTCUSDT"))
    assert "1h" in row and " 48 " in f" {row} "  # every hourly bar of the two days
    ok = [payload for kind, payload in _events(tmp_path) if kind == "job_ok"]
    assert ok[0]["symbols"] == ["BTC/USDT"]


REFRESH = """
[data]
catalog = "{tmp}/catalog"

[journal]
path = "{tmp}/journal.sqlite"

[[schedule.jobs]]
name = "refresh-btc"
kind = "refresh_data"
cron = "0 1 * * *"
venue = "binance"
symbols = ["BTC/USDT"]
bar = "1h"
start = 2024-01-01
"""
