"""Running the `bot` command in a subprocess against the fake Binance USDT-M futures API: the
fake, the environment that points the CLI at it, and the call."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.fakes.binance import FakeBinance
from tests.fakes.faults import FaultPlan
from tests.fakes.server import serve_in_thread
from tests.support.series import SyntheticHistory

ROOT = Path(__file__).resolve().parents[2]
HISTORY = SyntheticHistory(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
KEY, SECRET = "cli-live-test-key", "cli-live-test-secret-5f3a9c"
KLINES = "combined:btcusdt@kline_1m"
LIVE = ["live", "--venue", "binance", "--symbol", "BTCUSDT", "--bar", "1m"]
# The safety limits `bot live` refuses to start without (sized far above the tests' orders).
LIVE_LIMITS = {
    "BOT__RISK__MAX_ORDER_NOTIONAL": "50000",
    "BOT__RISK__MAX_INSTRUMENT_NOTIONAL": "100000",
    "BOT__RISK__MAX_DRAWDOWN": "0.25",
}


def serve_binance(faults: FaultPlan | None = None):
    fake = FakeBinance(
        HISTORY, faults, futures={"BTCUSDT": ("BTC", "USDT")}, api_key=KEY, api_secret=SECRET
    )
    return serve_in_thread(fake)


def bot_env(fake: FakeBinance, keys: bool = True, limits: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT__", "BINANCE_"))}
    env |= {
        "PYTHONPATH": str(ROOT),
        "BOT__VENUES__BINANCE__BASE_URL_HTTP": fake.base_url,
        "BOT__VENUES__BINANCE__BASE_URL_WS": fake.ws_url,
        "BOT__VENUES__BINANCE__TESTNET": "false",
        "BOT__VENUES__BINANCE__MARKET": "usdt_futures",
        "BOT__ROUTER__POLICY": "uniform",
        "BOT__ROUTER__WINDOW": "2",
    }
    if keys:
        env |= {"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}
    if limits:
        env |= LIVE_LIMITS
    return env


def run_bot(
    args: list[str], env: dict[str, str], timeout: float = 30
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_bot(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.Popen:
    """`bot ARGS` started in a subprocess in `cwd`, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
