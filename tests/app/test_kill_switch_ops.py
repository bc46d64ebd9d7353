"""The operator's kill-switch procedure through the CLI against the fake venues: a crafted crash
trips the switch of a `bot live` node, which flattens and halts; `bot risk reset` refuses while
it runs and re-arms it once stopped (the node restarted in between says in its pre-flight
summary that the switch is tripped); the restarted node trades again. `bot flatten` closes a
position at the venue outside the node (Binance futures and Alpaca)."""

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.engine.journal import Journal
from tests.fakes.orders import LIMIT
from tests.fakes.waiting import kline_around, wait_for
from tests.support import alpaca_node
from tests.support.cli import KLINES, LIVE, ROOT, bot_env, run_bot, serve_binance

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
HALF_LONG = "[router]\nweights = { LongOnly = 0.5, Cash = 0.5 }\n"


class _Node:
    """A `bot live` process writing to a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", *self.args(env), *LIVE, "--confirm-live"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.log = log

    @staticmethod
    def args(env: dict[str, str]) -> list[str]:
        return ["--config", env["TEST_CONFIG"]]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=30) == 0, self.log.read_text()[-3000:]


def _qty(binance) -> float:
    return binance.hub.call(lambda: binance.futures.book.position("BTCUSDT").qty)


def _submits(binance) -> int:
    return len([r for r in binance.requests_to("/fapi/v1/order") if r.method == "POST"])


def _events(env: dict[str, str]) -> list[str]:
    with Journal(Path(env["BOT__JOURNAL__PATH"])) as journal:
        rows = journal._conn().execute("SELECT kind FROM events ORDER BY id").fetchall()
    return [kind for (kind,) in rows]


@pytest.fixture
def env(persistence_env: dict[str, str], tmp_path: Path):
    config = tmp_path / "half-long.toml"
    config.write_text(HALF_LONG)
    with serve_binance() as binance:
        yield (
            binance,
            bot_env(binance)
            | persistence_env
            | {
                "BOT__ROUTER__POLICY": "fixed",
                "BOT__RISK__MAX_DRAWDOWN": "0.1",
                "TEST_CONFIG": str(config),
            },
        )


def _bot_with(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run_bot([*_Node.args(env), *args], env)


def _long_node(binance, env: dict[str, str], log: Path) -> tuple[_Node, datetime]:
    """A node that went half long on two closed klines; with the current minute."""
    node = _Node(env, log)
    wait_for(lambda: binance.hub.listening(KLINES) > 0, 40, "the kline subscription")
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    for n, close in enumerate([42_000.0, 42_010.0]):
        binance.push_kline("BTCUSDT", minute - timedelta(minutes=2 - n), kline_around(close))
    wait_for(lambda: _qty(binance) > 0, 15, "the long fill")
    return node, minute


def test_trip_flatten_refused_reset_then_reset_and_trade_again(env, tmp_path: Path) -> None:
    # Arrange: half the capital long; a 29% crash costs about 15%, over the 10% limit.
    binance, env = env
    node, minute = _long_node(binance, env, tmp_path / "first.log")

    # Act: the crash trips the switch; the node is restarted still tripped, the operator tries
    # to reset while it runs, then properly once it is stopped.
    binance.push_kline("BTCUSDT", minute, kline_around(30_000.0))
    wait_for(lambda: _qty(binance) == 0, 15, "the flatten")
    node.stop()
    wait_for(lambda: binance.hub.listening(KLINES) == 0, 10, "the first node's streams to close")
    halted = _Node(env, tmp_path / "halted.log")
    wait_for(lambda: binance.hub.listening(KLINES) > 0, 40, "the halted node's kline subscription")
    refused = _bot_with(env, "risk", "reset", "--operator", "alice")
    halted.stop()
    tripped = _bot_with(env, "status")
    reset = _bot_with(env, "risk", "reset", "--operator", "alice")
    armed = _bot_with(env, "status")
    before = _submits(binance)
    again = _Node(env, tmp_path / "second.log")
    wait_for(lambda: binance.hub.listening(KLINES) > 0, 40, "the second kline subscription")
    later = minute + timedelta(minutes=1)
    for n, close in enumerate([30_010.0, 30_020.0]):
        binance.push_kline("BTCUSDT", later + timedelta(minutes=n), kline_around(close))
    wait_for(lambda: _qty(binance) > 0, 15, "a long fill after the reset")
    again.stop()

    # Assert
    summary = halted.log.read_text()
    assert "KILL SWITCH TRIPPED at " in summary and "max_drawdown 10.0%" in summary, summary
    assert "`bot risk reset --operator NAME`" in summary
    assert summary.index("KILL SWITCH TRIPPED") < summary.index("Starting the live node")
    assert refused.returncode == 2 and "is running" in refused.stderr, refused.stderr
    assert "Kill switch: TRIPPED" in tripped.stdout and "max_drawdown 10.0%" in tripped.stdout
    assert reset.returncode == 0 and "re-armed by alice" in reset.stdout, reset.stderr
    assert "Kill switch: armed" in armed.stdout
    assert _submits(binance) > before
    kinds = _events(env)
    assert kinds.count("kill_switch") == 1 and kinds.count("kill_switch_reset") == 1
    assert kinds.index("kill_switch") < kinds.index("kill_switch_reset")


def test_flatten_closes_the_futures_position_outside_the_node(env, tmp_path: Path) -> None:
    # Arrange: a position the stopped node left at the venue.
    binance, env = env
    node, _ = _long_node(binance, env, tmp_path / "node.log")
    node.stop()
    held = _qty(binance)

    flatten = ["flatten", "--venue", "binance", "--symbol", "BTCUSDT"]

    # Act
    no_account = _bot_with(env, *flatten, "--confirm")
    unconfirmed = _bot_with(env, *flatten, "--live")
    done = _bot_with(env, *flatten, "--live", "--confirm")

    # Assert
    assert no_account.returncode == 2 and "needs the account: --live" in no_account.stderr
    assert unconfirmed.returncode == 2 and "--confirm" in unconfirmed.stderr
    assert done.returncode == 0, done.stderr
    assert "at binance (live account)" in done.stdout
    assert f"closed a position of {held:g}" in done.stdout
    assert _qty(binance) == 0
    assert "manual_flatten" in _events(env)


def test_flatten_on_alpaca_cancels_open_orders_and_closes_the_position(persistence_env) -> None:
    # Arrange: 10 AAPL held and a resting order, as a halted node could leave them.
    with alpaca_node.serve_alpaca() as alpaca:
        alpaca.hub.call(lambda: alpaca.book.submit("AAPL", "buy", 10.0))
        price = alpaca.hub.call(lambda: alpaca.book.prices["AAPL"])
        resting = alpaca.hub.call(
            lambda: alpaca.book.submit("AAPL", "buy", 1.0, LIMIT, limit_price=price * 0.5)
        )
        env = _flatten_env(alpaca, persistence_env)

        # Act
        args = ["flatten", "--venue", "alpaca", "--symbol", "AAPL", "--paper", "--confirm"]
        done = run_bot(args, env)
        left = alpaca.hub.call(lambda: alpaca.book.positions.get("AAPL"))

    # Assert
    assert done.returncode == 0, done.stderr
    assert "cancelled 1 open order(s), closed a position of 10" in done.stdout
    assert left is None or left.qty == 0
    assert not resting.is_open


@pytest.mark.parametrize(
    ("held", "given"),
    [("BTC/USD", "BTC/USD"), ("BTC/USD", "btc/usd"), ("AAPL", "aapl")],
    ids=["crypto", "crypto-lower-case", "equity-lower-case"],
)
def test_flatten_on_alpaca_closes_the_position_whatever_the_symbols_spelling(
    persistence_env, held: str, given: str
) -> None:
    # Arrange: Alpaca lists a crypto position without its slash ("BTCUSD"); `bot paper` takes
    # any case.
    with alpaca_node.serve_alpaca() as alpaca:
        alpaca.hub.call(lambda: alpaca.book.submit(held, "buy", 2.0))
        env = _flatten_env(alpaca, persistence_env)

        # Act
        args = ["flatten", "--venue", "alpaca", "--symbol", given, "--paper", "--confirm"]
        done = run_bot(args, env)
        left = alpaca.hub.call(lambda: alpaca.book.positions.get(held))

    # Assert
    assert done.returncode == 0, done.stderr
    assert f"Flattened {held} at alpaca" in done.stdout
    assert "closed a position of 2." in done.stdout
    assert left is None or left.qty == 0


def test_flatten_on_an_unreachable_alpaca_says_so_with_exit_4(persistence_env) -> None:
    # Arrange: a port nothing listens on once the fake has stopped.
    with alpaca_node.serve_alpaca() as alpaca:
        env = _flatten_env(alpaca, persistence_env)

    # Act
    args = ["flatten", "--venue", "alpaca", "--symbol", "AAPL", "--paper", "--confirm"]
    done = run_bot(args, env)

    # Assert
    assert done.returncode == 4, done.stderr[-3000:]
    assert "Alpaca at http://127.0.0.1" in done.stderr and "is unreachable" in done.stderr
    assert "Traceback" not in done.stderr


def _flatten_env(alpaca, persistence_env: dict[str, str]) -> dict[str, str]:
    """The environment of a `bot flatten` subprocess against the fake `alpaca`, keys included."""
    keys = {"APCA_API_KEY_ID": alpaca_node.KEY, "APCA_API_SECRET_KEY": alpaca_node.SECRET}
    return alpaca_node.alpaca_env(alpaca) | persistence_env | {"PYTHONPATH": str(ROOT)} | keys
