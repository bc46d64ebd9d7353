"""`bot live` and `bot paper` in a subprocess against the fake Binance USDT-M futures API: the
refusals (no --confirm-live, missing safety limits, a MODEL MISMATCH, missing keys, clock skew
at pre-flight, a named model that does not load), a full session that prints the pre-flight
summary, streams bars and stops cleanly on SIGINT, and a plug-in strategy trading in a session."""

import re
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest

from bot.engine.journal import Journal
from bot.model.checkpoint import init_checkpoint
from tests.fakes.binance import FakeBinance
from tests.fakes.faults import FaultPlan
from tests.fakes.waiting import kline_around, wait_for
from tests.support.cli import (
    KLINES,
    LIVE,
    LIVE_LIMITS,
    SECRET,
    bot_env,
    run_bot,
    serve_binance,
    start_bot,
)

SHIPPED = "model:models/daily-equities"  # trained on daily bars: a MODEL MISMATCH on 1m bars

pytestmark = pytest.mark.e2e


@pytest.fixture
def binance() -> Iterator[FakeBinance]:
    with serve_binance() as served:
        yield served


def test_live_without_confirmation_refuses_with_exit_2(binance: FakeBinance) -> None:
    # Act
    result = run_bot(LIVE, bot_env(binance))

    # Assert
    assert result.returncode == 2
    assert "--confirm-live" in result.stderr and "real money" in result.stderr
    assert "Traceback" not in result.stderr
    assert binance.requests == []  # refused before touching the venue


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--policy", "bogus"], "Unknown router policy 'bogus'"), (["--bar", "7d"], "bar size '7d'")],
    ids=["policy", "bar"],
)
def test_paper_refuses_a_bad_policy_or_bar_before_asking_the_venue(
    binance: FakeBinance, args: list[str], needle: str
) -> None:
    # Act
    result = run_bot(["paper", "--venue", "binance", "--duration-s", "2", *args], bot_env(binance))

    # Assert
    assert result.returncode == 2 and needle in result.stderr
    assert binance.requests == []  # no pre-flight: the mistake is named, not "unreachable"


def test_live_refuses_the_testnet_set_explicitly(binance: FakeBinance) -> None:
    # Arrange: the operator's settings point live trading at the testnet.
    env = bot_env(binance) | {"BOT__VENUES__BINANCE__TESTNET": "true"}

    # Act
    result = run_bot([*LIVE, "--confirm-live"], env)

    # Assert
    assert result.returncode == 2
    assert "refuses venues.binance.testnet = True, Binance's paper endpoint" in result.stderr
    assert "Use `bot paper`" in result.stderr and "Traceback" not in result.stderr
    assert binance.requests == []


@pytest.mark.parametrize("url", ["https://fapi.binance.com", "https://API.binance.com/"])
def test_paper_refuses_a_base_url_of_binance_production(binance: FakeBinance, url: str) -> None:
    # Arrange: paper forces the testnet, but an override URL decides where orders go.
    env = bot_env(binance) | {"BOT__VENUES__BINANCE__BASE_URL_HTTP": url}

    # Act
    result = run_bot(["paper", "--venue", "binance", "--duration-s", "2"], env)

    # Assert: refused before anything is asked of any venue.
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"base_url_http = {url} is Binance's production" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and binance.requests == []


def test_live_without_its_safety_limits_refuses_naming_each_setting(
    binance: FakeBinance, persistence_env: dict[str, str]
) -> None:
    # Arrange: config/default.toml sets none of them (max_drawdown only by its paper default).
    env = bot_env(binance, limits=False) | persistence_env

    # Act
    result = run_bot([*LIVE, "--confirm-live", "--duration-s", "5"], env)

    # Assert
    assert result.returncode == 2, result.stderr[-3000:]
    for variable in LIVE_LIMITS:
        key = variable.removeprefix("BOT__RISK__").lower()
        assert f"[risk] {key} = " in result.stderr and f"{variable}=" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Starting the live node" not in result.stdout
    assert binance.requests == []  # refused before the venue: certainly no order


@pytest.mark.parametrize("missing", sorted(LIVE_LIMITS))
def test_live_refuses_when_any_one_limit_is_missing(binance: FakeBinance, missing: str) -> None:
    # Arrange
    env = {k: v for k, v in bot_env(binance).items() if k != missing}

    # Act
    result = run_bot([*LIVE, "--confirm-live"], env)

    # Assert
    assert result.returncode == 2
    named = [v for v in LIVE_LIMITS if f"{v}=" in result.stderr]
    assert named == [missing]
    assert binance.requests == []


@pytest.mark.slow
def test_paper_runs_without_the_live_limits(
    binance: FakeBinance, persistence_env: dict[str, str]
) -> None:
    # Act
    env = bot_env(binance, limits=False) | persistence_env
    result = run_bot(["paper", "--venue", "binance", "--duration-s", "1"], env)

    # Assert
    assert result.returncode == 0, result.stderr[-3000:]
    assert "max order notional off, max instrument notional off" in result.stdout


def test_live_refuses_a_model_mismatch_before_the_venue(binance: FakeBinance) -> None:
    # Act
    result = run_bot([*LIVE, "--confirm-live", "--policy", SHIPPED], bot_env(binance))

    # Assert
    assert result.returncode == 2
    assert "MODEL MISMATCH" in result.stderr and "--accept-model-mismatch" in result.stderr
    assert "Traceback" not in result.stderr
    assert binance.requests == []


def test_accept_model_mismatch_lets_live_go_on_to_the_preflight(binance: FakeBinance) -> None:
    # Arrange: wrong keys stop it at the pre-flight, after the mismatch check.
    env = bot_env(binance) | {"BINANCE_API_SECRET": "not-the-secret"}

    # Act
    args = [*LIVE, "--confirm-live", "--policy", SHIPPED, "--accept-model-mismatch"]
    result = run_bot(args, env)

    # Assert
    assert result.returncode == 4, result.stderr[-3000:]
    assert "refused the API keys" in result.stderr
    assert binance.requests  # it reached the venue ...
    assert not binance.requests_to("/fapi/v1/order")  # ... and sent no order


def test_live_with_a_missing_key_refuses_with_exit_2_naming_the_variable(
    binance: FakeBinance,
) -> None:
    # Arrange
    env = bot_env(binance, keys=False) | {"BINANCE_API_SECRET": SECRET}

    # Act
    result = run_bot([*LIVE, "--confirm-live"], env)

    # Assert
    assert result.returncode == 2
    assert "BINANCE_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_paper_on_an_unknown_venue_refuses_with_exit_2(binance: FakeBinance) -> None:
    # Act
    result = run_bot(["paper", "--venue", "kraken"], bot_env(binance))

    # Assert
    assert result.returncode == 2
    assert "Unknown venue 'kraken'" in result.stderr and "binance or alpaca" in result.stderr
    assert binance.requests == []


def test_a_metrics_port_out_of_range_refuses_with_exit_2_before_the_venue(
    binance: FakeBinance,
) -> None:
    # Act
    result = run_bot(["paper", "--venue", "binance", "--metrics-port", "99999"], bot_env(binance))

    # Assert
    assert result.returncode == 2, result.stderr[-3000:]
    assert "--metrics-port" in result.stderr and "65535" in result.stderr
    assert "Traceback" not in result.stderr
    assert binance.requests == []


def test_a_metrics_port_in_use_refuses_cleanly_and_trades_nothing(
    binance: FakeBinance, persistence_env: dict[str, str]
) -> None:
    # Arrange: the fake venue holds a port of its own.
    port = int(binance.base_url.rsplit(":", 1)[1])

    # Act
    env = bot_env(binance) | persistence_env
    result = run_bot(["paper", "--venue", "binance", "--metrics-port", str(port)], env)

    # Assert: the message alone, no node run left behind half-started.
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"--metrics-port {port} cannot be served" in result.stderr
    assert "Task was destroyed" not in result.stderr and "Traceback" not in result.stderr
    assert not binance.requests_to("/fapi/v1/listenKey")


def test_clock_skew_raises_an_alarm_at_preflight_and_never_starts_the_node() -> None:
    # Arrange
    with serve_binance(FaultPlan(clock_skew_ms=5000)) as skewed:
        # Act
        result = run_bot([*LIVE, "--confirm-live", "--duration-s", "5"], bot_env(skewed))
        paths = {request.path for request in skewed.requests}

    # Assert
    assert result.returncode == 4
    assert "CLOCK SKEW ALARM" in result.stderr
    assert re.search(r"clock is \+(49\d\d|50\d\d) ms", result.stderr)
    assert "Starting the live node" not in result.stdout
    assert paths == {"/fapi/v1/time"}  # no account, order or stream traffic
    assert "Traceback" not in result.stderr


def test_wrong_keys_are_refused_at_preflight(binance: FakeBinance) -> None:
    # Arrange
    env = bot_env(binance) | {"BINANCE_API_SECRET": "not-the-secret"}

    # Act
    result = run_bot([*LIVE, "--confirm-live", "--duration-s", "5"], env)

    # Assert
    assert result.returncode == 4
    assert "refused the API keys" in result.stderr and "-1022" in result.stderr
    assert "Starting the live node" not in result.stdout


def _empty_folder(path: Path) -> None:
    path.mkdir()


def _corrupt_checkpoint(path: Path) -> None:
    init_checkpoint(path)
    (path / "model.safetensors").write_bytes(b"not a tensor file")


@pytest.mark.parametrize(
    ("make", "reason"),
    [(_empty_folder, "No meta.json"), (_corrupt_checkpoint, "is corrupt")],
    ids=["empty", "corrupt"],
)
def test_paper_with_a_broken_model_refuses_to_start_and_sends_no_order(
    binance: FakeBinance, persistence_env: dict[str, str], tmp_path: Path, make, reason: str
) -> None:
    # Arrange
    broken = tmp_path / "broken"
    make(broken)
    env = bot_env(binance) | persistence_env
    args = ["paper", "--venue", "binance", "--policy", f"model:{broken}", "--duration-s", "3"]

    # Act
    result = run_bot(args, env)

    # Assert
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"Router policy model:{broken} did not load" in result.stderr
    assert reason in result.stderr
    assert "Starting the paper node" not in result.stdout
    assert "Traceback" not in result.stderr
    assert not [r for r in binance.requests_to("/fapi/v1/order") if r.method == "POST"]
    assert not binance.requests_to("/fapi/v1/listenKey")  # the node never started
    assert binance.hub.listening(KLINES) == 0
    with Journal(Path(env["BOT__JOURNAL__PATH"])) as journal:
        assert journal.latest_run() is None  # no session journalled as running


@pytest.mark.slow
def test_live_session_prints_the_summary_streams_bars_and_stops_on_sigint(
    binance: FakeBinance, persistence_env: dict[str, str]
) -> None:
    # Arrange: `testnet` left at its default (the testnet), which `bot live` switches off.
    env = bot_env(binance) | persistence_env
    del env["BOT__VENUES__BINANCE__TESTNET"]

    # Act
    session = _live_session(binance, env)

    # Assert
    assert session.returncode == 0, session.stderr[-3000:]
    assert session.stopped_in_s < 6
    assert session.sent == [1, 1, 1]
    stdout, stderr = session.stdout, session.stderr
    summary = stdout.split("Starting the live node")[0]
    assert "Pre-flight passed: live trading on Binance production" in summary
    assert "BTCUSDT usdt_futures (1m bars)" in summary
    assert "100,000.00 USDT" in summary and "MACross" in summary and "Cash" in summary
    assert "policy uniform, window 2 bars" in summary
    assert "drawdown kill switch 25%" in summary
    # The bars reached the strategies: the two warm ones (LongOnly, ShortOnly) traded.
    submits = [r for r in binance.requests_to("/fapi/v1/order") if r.method == "POST"]
    assert [r.status for r in submits] == [200, 200]
    assert "PositionOpened" in stdout
    assert "The live node stopped." in stdout
    assert "Traceback" not in stderr
    assert SECRET not in stdout + stderr


@pytest.mark.slow
def test_paper_forces_the_testnet_and_stops_after_its_duration(
    binance: FakeBinance, persistence_env: dict[str, str]
) -> None:
    # Act: the environment says testnet=false; paper overrides it (URLs stay on the fake).
    env = bot_env(binance) | persistence_env
    result = run_bot(["paper", "--venue", "binance", "--duration-s", "2"], env)

    # Assert
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Pre-flight passed: paper trading on Binance testnet" in result.stdout
    assert "The paper node stopped." in result.stdout
    assert binance.requests_to("/fapi/v1/listenKey")  # the node opened its user stream
    with Journal(Path(env["BOT__JOURNAL__PATH"])) as journal:
        assert journal.latest_run().mode == "paper"
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.slow
def test_a_plug_in_the_fixed_policy_names_trades_in_a_live_session(
    binance: FakeBinance, persistence_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: a plug-in that is always long, next to the built-in LongOnly, half each.
    plugin = tmp_path / "my_long.py"
    plugin.write_text(
        "from strategies import StrategySpec\n"
        "from strategies.long_only import LongOnly, LongOnlyConfig\n\n\n"
        "class MyLongConfig(LongOnlyConfig, frozen=True):\n    pass\n\n\n"
        "class MyLong(LongOnly):\n    pass\n\n\n"
        'STRATEGY = StrategySpec("MyLong", "position", MyLong, MyLongConfig)\n'
    )
    env = (
        bot_env(binance)
        | persistence_env
        | {
            "BOT_STRATEGIES": str(plugin),
            "BOT__ROUTER__POLICY": "fixed",
            "BOT__ROUTER__WEIGHTS": '{"LongOnly": 0.5, "MyLong": 0.5}',
        }
    )

    # Act
    session = _live_session(binance, env)

    # Assert: the plug-in ran on the venue beside the built-in strategy, for half the capital.
    assert session.returncode == 0, session.stderr[-3000:]
    summary = session.stdout.split("Starting the live node")[0]
    assert "strategies   MACross" in summary and ", Cash, MyLong\n" in summary
    with Journal(Path(env["BOT__JOURNAL__PATH"])) as journal:
        fills = journal.fills(journal.latest_run().run_id)
    bought = fills[fills["side"] == "BUY"].groupby("strategy")["qty"].sum()
    assert set(bought.index) == {"LongOnly", "MyLong"}
    assert bought["MyLong"] == pytest.approx(bought["LongOnly"])
    assert "Traceback" not in session.stderr


class _Session(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    sent: list[int]  # clients each kline reached
    stopped_in_s: float


def _live_session(binance: FakeBinance, env: dict[str, str]) -> _Session:
    """`bot live` on BTCUSDT 1m bars: three closed klines once it subscribes, then SIGINT."""
    process = start_bot([*LIVE, "--confirm-live"], env)
    try:
        wait_for(lambda: binance.hub.listening(KLINES) > 0, 25, "the kline subscription")
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        sent = [
            binance.push_kline("BTCUSDT", minute - timedelta(minutes=3 - n), kline_around(close))
            for n, close in enumerate([42_000.0, 42_001.0, 42_002.0])
        ]
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        stopping = time.monotonic()
        stdout, stderr = process.communicate(timeout=15)
        return _Session(process.returncode, stdout, stderr, sent, time.monotonic() - stopping)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
