"""Faults inside the router that must never stop a live node: a loaded model answering weights
that are not a capital split (NaN, negative, not summing to 1, unknown strategies) falls back
like a model that raises; a journal that cannot write is logged and trading goes on; an old or
repeated bar is dropped, as the strategies drop it.

A live nautilus node ends its process (`os._exit(1)`) on any exception that escapes a handler;
the `queue_errors` fixture records those exceptions instead, so that a test fails rather than
killing pytest."""

import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nautilus_trader.live.data_engine import LiveDataEngine
from nautilus_trader.live.execution_engine import LiveExecutionEngine
from nautilus_trader.live.node import TradingNode

from bot.engine.journal import Journal
from bot.engine.policy import Decision, GuardedPolicy, PolicySpec, complete, expert_weights
from tests.fakes.binance import FakeBinance
from tests.fakes.waiting import kline_around, wait_for
from tests.support import binance_node
from tests.support.binance_node import components, held, push_closed_klines, running, venue_qty

HALF_LONG = {"LongOnly": 0.5, "Cash": 0.5}
INVALID = [
    ({"LongOnly": math.nan, "Cash": 1.0}, "outside 0..1"),
    ({"LongOnly": -0.5, "Cash": 1.5}, "outside 0..1"),
    ({"LongOnly": 0.5, "Cash": 0.4}, "sums to 0.900000"),
    ({"LongOnly": 0.5, "Foo": 0.5}, "unknown strategies ['Foo']"),
]
INVALID_IDS = ["nan", "negative", "short", "unknown"]


class _Answering:
    """A loaded model that answers `weights` as they are."""

    name = "model:/ckpt"
    needs_observation, needs_context = True, False

    def __init__(self, weights: dict[str, float]) -> None:
        self.weights = weights

    def decide(self, observation=None, context=None) -> Decision:
        return Decision(dict(self.weights), expert_weights(self.weights), self.name)


def _guarded(weights: dict[str, float]) -> GuardedPolicy:
    model = _Answering(weights)
    return GuardedPolicy(PolicySpec("model:/ckpt"), "uniform", 5.0, lambda spec: model)


def _settled(guarded: GuardedPolicy, pending, within: float = 2.0) -> Decision | None:
    deadline = time.monotonic() + within
    while (decision := guarded.settle(pending)) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return decision


@pytest.mark.parametrize(("weights", "why"), INVALID, ids=INVALID_IDS)
def test_an_invalid_decision_falls_back_and_says_why(weights, why):
    guarded = _guarded(weights)

    decision, _ = guarded.decide(lambda: None)

    assert decision.fallback and decision.policy == "uniform"
    assert decision.error.startswith("ConfigError: the decision of policy 'model:/ckpt'")
    assert why in decision.error


@pytest.mark.parametrize(("weights", "why"), INVALID, ids=INVALID_IDS)
def test_an_invalid_background_decision_falls_back_and_says_why(weights, why):
    guarded = _guarded(weights)

    decision = _settled(guarded, guarded.submit(lambda: None))

    assert decision.fallback and decision.policy == "uniform"
    assert why in decision.error


def test_a_valid_decision_passes_the_check_unchanged():
    guarded = _guarded(complete(HALF_LONG))

    now, _ = guarded.decide(lambda: None)
    later = _settled(guarded, guarded.submit(lambda: None))

    assert not now.fallback and not later.fallback
    assert now.weights == later.weights == complete(HALF_LONG)


# -- a live node on the fake Binance futures API -------------------------------------------------


@pytest.fixture
def queue_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Exceptions that escaped a handler on a live engine's queue, recorded instead of letting
    nautilus end the process."""
    errors: list[str] = []

    def record(self, e: Exception, queue_name: str) -> None:
        errors.append(f"{queue_name}: {e!r}")

    monkeypatch.setattr(LiveDataEngine, "_handle_queue_exception", record)
    monkeypatch.setattr(LiveExecutionEngine, "_handle_queue_exception", record)
    return errors


def _until(condition, errors: list[str], what: str, timeout: float) -> None:
    """Wait for `condition`; fail at once with the exception that escaped a handler, if any."""
    wait_for(lambda: errors or condition(), timeout, what)
    assert errors == [], f"waiting for {what}: {errors}"


class _FullDisk:
    """Journal writes that fail as on a full disk, counted."""

    def __init__(self) -> None:
        self.calls = {"record_fill": 0, "record_decision": 0}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in self.calls:
            monkeypatch.setattr(Journal, name, self._failing(name))

    def _failing(self, name: str):
        def write(journal, *args, **kwargs):
            self.calls[name] += 1
            raise OSError(28, "No space left on device")

        return write


SCRIPTS = {  # LongOnly's share of the capital at each decision; the last one from then on
    "model:/turning-nan": (0.5, 0.5, math.nan),  # opens a position, then answers NaN weights
    "model:/steps": (0.25, 0.5, 0.0),  # buys, adds, closes
}


class _Scripted:
    """A loaded model reading the router's bars (no chart), answering its `SCRIPTS` row: the
    rest of the capital on Cash, or every weight NaN for a NaN share (as corrupt parameters or
    NaN inputs give)."""

    needs_observation, needs_context = False, True

    def __init__(self, name: str) -> None:
        self.name, self.script, self.calls = name, SCRIPTS[name], 0

    def decide(self, observation=None, context=None) -> Decision:
        share = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        weights = complete({"LongOnly": share, "Cash": 1.0 - share})
        if math.isnan(share):
            weights = dict.fromkeys(weights, math.nan)
        return Decision(weights, expert_weights(weights), self.name)


@pytest.fixture(autouse=True)
def _scripted_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    # The `node` fixture loads model policies through this name: `SCRIPTS`' are `_Scripted`.
    real = binance_node.load_policy

    def load(spec: PolicySpec):
        return _Scripted(spec.name) if spec.name in SCRIPTS else real(spec)

    monkeypatch.setattr(binance_node, "load_policy", load)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        {
            "router.policy": "model:/turning-nan",
            "router.window": 1,
            "router.fallback": "single:Cash",
        }
        | {"router.background": background}
        for background in (False, True)
    ],
    ids=["in-the-loop", "background"],
)
def test_a_model_answering_nan_weights_falls_back_and_the_node_keeps_trading(
    queue_errors: list[str],
    binance: FakeBinance,
    node: TradingNode,
    journal_path: Path,
) -> None:
    # Arrange: the model opens a long position on its first two decisions, then answers NaN
    # weights; the fallback, single:Cash, closes it.
    actor, strategies = components(node)
    long_only = next(s for s in strategies if s.name == "LongOnly")

    # Act
    with running(node, binance) as runner:
        push_closed_klines(binance, [42_000.0, 42_010.0])
        _until(lambda: held(node, long_only) > 0, queue_errors, "the model's long fill", 15)
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        binance.push_kline("BTCUSDT", minute, kline_around(42_020.0))
        _until(
            lambda: len(actor.recorder.decisions) == 3,
            queue_errors,
            "a decision on the third bar",
            15,
        )
        _until(
            lambda: venue_qty(binance) == 0, queue_errors, "the fallback's close at the venue", 15
        )
        alive = runner.is_alive()
        position = held(node, long_only)
        flags = actor.recorder.fallbacks()

    # Assert
    assert queue_errors == []
    assert alive and position == 0 and long_only.weight == 0.0
    assert all(s.failure is None for s in strategies), [s.failure for s in strategies]
    decisions = [decision for _, decision in actor.recorder.decisions]
    assert [(d.fallback, d.policy) for d in decisions] == [
        (False, "model:/turning-nan"),
        (False, "model:/turning-nan"),
        (True, "single:Cash"),
    ]
    assert "has fractions outside 0..1" in decisions[2].error and "nan" in decisions[2].error
    assert len(flags) == 1 and "on 1 of 3 decisions" in flags[0] and "outside 0..1" in flags[0]
    journalled = Journal(journal_path).decision_records(actor.config.run_id)
    assert [d.fallback for d in journalled] == [False, False, True]
    assert "outside 0..1" in journalled[2].error


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("overrides", [{"router.policy": "model:/steps", "router.window": 1}])
def test_a_journal_that_cannot_write_is_logged_and_the_node_keeps_trading(
    queue_errors: list[str],
    binance: FakeBinance,
    node: TradingNode,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture,
) -> None:
    # Arrange: every decision and fill the router journals fails, as on a full disk, while
    # the model has LongOnly buy, add, then close on three bars.
    disk = _FullDisk()
    disk.install(monkeypatch)
    actor, strategies = components(node)
    long_only = next(s for s in strategies if s.name == "LongOnly")
    minute = datetime.now(UTC).replace(second=0, microsecond=0)

    # Act
    with running(node, binance) as runner:
        push_closed_klines(binance, [42_000.0])
        _until(lambda: disk.calls["record_fill"] == 1, queue_errors, "the buy", 15)
        binance.push_kline("BTCUSDT", minute, kline_around(42_010.0))
        _until(lambda: disk.calls["record_fill"] == 2, queue_errors, "the add", 15)
        added = held(node, long_only)
        binance.push_kline("BTCUSDT", minute + timedelta(minutes=1), kline_around(42_020.0))
        _until(lambda: disk.calls["record_fill"] == 3, queue_errors, "the close", 15)
        alive = runner.is_alive()
        closed = (held(node, long_only), venue_qty(binance))

    # Assert: every write failed, and the node traded on.
    assert queue_errors == []
    assert alive and added > 0 and closed == (0, 0)
    assert all(s.failure is None for s in strategies), [s.failure for s in strategies]
    recorded = actor.recorder
    assert disk.calls["record_decision"] == len(recorded.decisions) == len(recorded.equity) == 3
    logged = "".join(capfd.readouterr())  # nautilus' log: errors go to stderr
    assert "could not journal the fill" in logged and "could not journal the decision" in logged
    assert "No space left on device" in logged


@pytest.mark.integration
@pytest.mark.slow
def test_an_old_or_repeated_bar_adds_no_equity_point_and_no_decision(
    queue_errors: list[str], binance: FakeBinance, node: TradingNode, journal_path: Path
) -> None:
    # Arrange: window 2, so the router decides on the first and the third bar it takes.
    actor, strategies = components(node)
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    minutes = [first + timedelta(minutes=n) for n in range(3)]

    # Act: two bars, the first again (out of order) and the second again (a replay), then the
    # third: bars are handled in order, so once the strategies have the third (the router
    # takes each bar before them), the router has handled the old ones.
    with running(node, binance):
        binance.push_kline("BTCUSDT", minutes[0], kline_around(42_000.0))
        binance.push_kline("BTCUSDT", minutes[1], kline_around(42_010.0))
        _until(lambda: len(actor.recorder.equity) >= 2, queue_errors, "two bars at the router", 10)
        binance.push_kline("BTCUSDT", minutes[0], kline_around(41_000.0))
        binance.push_kline("BTCUSDT", minutes[1], kline_around(42_010.0))
        binance.push_kline("BTCUSDT", minutes[2], kline_around(42_020.0))
        _until(
            lambda: strategies[0].window.count == 3,
            queue_errors,
            "the third bar at the strategies",
            10,
        )

    # Assert
    assert queue_errors == []
    closes = [ts for ts, _ in actor.recorder.equity]
    assert len(closes) == 3 and closes == sorted(closes)
    assert [ts for ts, _ in actor.recorder.decisions] == [closes[0], closes[2]]
    journalled = Journal(journal_path).decision_records(actor.config.run_id)
    assert [d.ts for d in journalled] == [closes[0], closes[2]]
