"""`bot paper --metrics-port` serves Prometheus metrics of the running node."""

import signal
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.fakes.faults import FaultPlan, OrderReject
from tests.fakes.waiting import kline_around, wait_for
from tests.support.cli import KLINES, ROOT, bot_env, serve_binance

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        sample.name + "".join(f"{{{v}}}" for v in sample.labels.values()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_show_equity_decisions_fallbacks_and_order_errors(persistence_env, tmp_path: Path):
    # Arrange: the venue rejects every order, so each attempt is an order error.
    port = free_port()
    with serve_binance(FaultPlan(rejects=[OrderReject(symbol="BTCUSDT", times=None)])) as binance:
        env = bot_env(binance) | persistence_env
        command = ["paper", "--venue", "binance", "--metrics-port", str(port)]
        log = (tmp_path / "paper.log").open("w")
        node = subprocess.Popen(
            [sys.executable, "-m", "bot", *command], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            wait_for(lambda: binance.hub.listening(KLINES) > 0, 40, "the kline subscription")
            minute = datetime.now(UTC).replace(second=0, microsecond=0)
            for n, close in enumerate([42_000.0, 42_010.0, 42_020.0]):
                binance.push_kline(
                    "BTCUSDT", minute - timedelta(minutes=3 - n), kline_around(close)
                )

            # Act
            wait_for(lambda: _scrape(port).get("bot_decisions_total") == 2, 15, "two decisions")
            wait_for(
                lambda: _scrape(port).get("bot_order_errors_total{OrderRejected}", 0) >= 2,
                15,
                "two rejected orders",
            )
            metrics = _scrape(port)
        finally:
            node.send_signal(signal.SIGINT)
            node.wait(timeout=30)
            log.close()

    # Assert
    assert metrics["bot_equity"] == pytest.approx(100_000.0)
    assert metrics["bot_drawdown"] == 0.0
    assert metrics["bot_fallbacks_total"] == 0.0
    assert metrics["bot_decision_latency_ms"] >= 0.0
    assert metrics["bot_kill_switch_tripped"] == 0.0
    assert node.returncode == 0
