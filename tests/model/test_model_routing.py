"""The `model:<checkpoint>` policy inside whole backtests: journalling, explain, fallbacks for a
loaded model that fails, and refusals of a named model (or registry model) that does not load."""

import json
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
import pytest
from typer.testing import CliRunner

import bot.core.features
from bot.app.cli import app
from bot.app.explain import explain_decision, model_attributor
from bot.core.alerts import MODEL_REFUSED
from bot.core.errors import CheckpointError
from bot.core.parallel import Parallel
from bot.engine.backtest import run_backtest, run_many
from bot.engine.backtest_request import BacktestRequest
from bot.engine.catalog import bar_type_for
from bot.engine.instruments import make_instrument
from bot.engine.journal import Journal
from bot.engine.registry import REGISTRY_POLICY, Registry
from bot.engine.router import RouterActor
from bot.engine.router_config import RouterActorConfig
from bot.model.checkpoint import init_checkpoint
from bot.model.policy import load_policy
from bot.model.router_model import ModelConfig, RouterModel

pytestmark = pytest.mark.integration

REQUEST = BacktestRequest(symbol="SPX", start=date(2019, 1, 1), end=date(2019, 12, 31))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return init_checkpoint(tmp_path_factory.mktemp("ckpt") / "untrained", ModelConfig())


def _run(tmp_path, checkpoint, **changes):
    request = replace(
        REQUEST,
        policy=f"model:{checkpoint}",
        journal=str(tmp_path / "journal.sqlite"),
        run_id="run1",
        **changes,
    )
    return run_backtest(request, load_policy), Journal(tmp_path / "journal.sqlite")


def test_untrained_checkpoint_routes_journals_each_window_and_explains(tmp_path, checkpoint):
    result, journal = _run(tmp_path, checkpoint)

    decisions = journal.decision_records("run1")
    assert len(decisions) == len(result.weights) == int(np.ceil(len(result.bars) / 20))
    assert not any(d.fallback for d in decisions) and result.flags == []
    assert all(d.inputs_hash and d.chart_path and d.regime for d in decisions)
    assert all(abs(sum(d.weights.values()) - 1) < 1e-6 for d in decisions)
    journalled = journal.fills("run1")
    assert len(journalled) == len(result.fills) > 0
    # Each fill carries the rule that sent its order, as the report's trade list does.
    assert sorted(journalled["reason"]) == sorted(result.fills["reason"]) and all(
        journalled["reason"]
    )
    attributor = model_attributor(journal.run("run1"), None, journal)
    text = explain_decision(
        journal, "run1", datetime(2019, 6, 1, tzinfo=UTC), attributor=attributor
    )
    assert "gradient x input" in text and "differs" not in text  # rebuilt inputs match
    assert decisions[5].chart_path in text  # the decision in force on 2019-06-01


def test_cli_backtest_with_a_model_and_explain(tmp_path, checkpoint, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["backtest", "--policy", f"model:{checkpoint}", "--start", "2019-01-01"]

    ran = runner.invoke(app, [*args, "--end", "2019-06-30"])
    explained = runner.invoke(app, ["explain", "--at", "2019-05-01"])

    assert ran.exit_code == 0, ran.output
    assert explained.exit_code == 0, explained.output
    assert "Regime:" in explained.stdout and "Chart: var/charts/" in explained.stdout


def _corrupt_weights(path):
    (path / "model.safetensors").write_bytes(b"not a tensor file")


def _other_table(path):
    meta = json.loads((path / "meta.json").read_text())
    meta["strategies"] = list(reversed(meta["strategies"]))
    (path / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("damage", "needle"), [(_corrupt_weights, "is corrupt"), (_other_table, "strategies")]
)
def test_bad_checkpoint_stops_the_run_with_the_reason_before_it_starts(tmp_path, damage, needle):
    # Arrange
    broken = init_checkpoint(tmp_path / "broken", ModelConfig())
    damage(broken)

    # Act
    with pytest.raises(CheckpointError, match=needle) as refused:
        _run(tmp_path, broken)

    # Assert: no fallback run under the model's name, not even a journalled run
    assert f"model:{broken} did not load" in str(refused.value)
    assert not (tmp_path / "journal.sqlite").exists()


def _missing(path):
    pass


def _empty(path):
    path.mkdir()


def _corrupt(path):
    init_checkpoint(path, ModelConfig())
    _corrupt_weights(path)


@pytest.mark.parametrize(
    ("make", "needle"),
    [(_missing, "No meta.json"), (_empty, "No meta.json"), (_corrupt, "is corrupt")],
    ids=["missing", "empty", "corrupt"],
)
def test_cli_backtest_with_a_broken_model_exits_2_with_the_reason_and_no_report(
    tmp_path, monkeypatch, make, needle
):
    # Arrange
    monkeypatch.chdir(tmp_path)
    broken, reports = tmp_path / "broken", tmp_path / "reports"
    make(broken)
    args = ["backtest", "--policy", f"model:{broken}", "--start", "2019-01-01"]

    # Act
    result = CliRunner().invoke(app, [*args, "--end", "2019-03-31", "--report-dir", str(reports)])

    # Assert
    assert result.exit_code == 2, result.output
    assert f"Router policy model:{broken} did not load" in result.output
    assert needle in result.output and str(broken) in result.output
    assert "Report:" not in result.output and not reports.exists()
    assert "Traceback" not in result.output


def test_compared_runs_stop_with_the_reason_when_a_named_model_does_not_load(tmp_path):
    # Arrange
    short = replace(REQUEST, end=date(2019, 3, 31), progress=False)
    missing = tmp_path / "nowhere"
    requests = [replace(short, policy="uniform"), replace(short, policy=f"model:{missing}")]

    # Act / Assert
    with pytest.raises(CheckpointError, match="nowhere"):
        run_many(requests, Parallel(workers=1), load_policy)


def _registry_router(root):
    instrument = make_instrument("SPX", "equity")
    config = RouterActorConfig(
        instrument_id=instrument.id,
        bar_type=bar_type_for(instrument, "1d"),
        policy=REGISTRY_POLICY,
        registry=str(root),
    )
    return RouterActor(config, load_policy)


def test_registry_router_refuses_to_build_when_the_active_model_does_not_load(tmp_path, checkpoint):
    # Arrange
    registry = Registry(tmp_path / "registry")
    registry.add(checkpoint, name="active")
    registry.promote("active")
    _corrupt_weights(tmp_path / "registry" / "active")

    # Act / Assert
    with pytest.raises(CheckpointError, match="bot models rollback"):
        _registry_router(tmp_path / "registry")


class _Alerts:
    def __init__(self):
        self.sent = []

    def send(self, kind, message, details=None):
        self.sent.append((kind, message))


def test_registry_router_keeps_its_model_when_a_newly_promoted_one_does_not_load(
    tmp_path, checkpoint
):
    # Arrange
    registry = Registry(tmp_path / "registry")
    registry.add(checkpoint, name="good")
    registry.add(checkpoint, name="bad")
    registry.promote("good")
    router = _registry_router(tmp_path / "registry")
    router.notifier = alerts = _Alerts()
    _corrupt_weights(tmp_path / "registry" / "bad")
    registry.promote("bad")

    # Act: two windows after the promotion
    kept = [router._registry.follow(ts) for ts in (0, 1)]

    # Assert: still on the good model; the refusal alerted once
    good = f"model:{(tmp_path / 'registry' / 'good').resolve()}"
    assert [policy.primary.name for policy in kept] == [good, good]
    assert [kind for kind, _ in alerts.sent] == [MODEL_REFUSED]
    assert "bad" in alerts.sent[0][1] and "is corrupt" in alerts.sent[0][1]


def test_model_raising_at_inference_falls_back(tmp_path, checkpoint, monkeypatch):
    calls = {"n": 0}
    real = RouterModel.decide

    def flaky(self, observation):
        calls["n"] += 1
        if calls["n"] % 2 == 0:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(self, observation)

    monkeypatch.setattr(RouterModel, "decide", flaky)

    result, journal = _run(tmp_path, checkpoint)

    flags = [d.fallback for d in journal.decision_records("run1")]
    assert flags[:4] == [False, True, False, True]
    assert "simulated" in result.flags[0]


def test_model_answering_weights_that_are_not_a_capital_split_falls_back(
    tmp_path, checkpoint, monkeypatch
):
    real = RouterModel.decide

    def nan_weights(self, observation):
        out = real(self, observation)
        return out | {"weights": dict.fromkeys(out["weights"], np.nan)}

    monkeypatch.setattr(RouterModel, "decide", nan_weights)

    result, journal = _run(tmp_path, checkpoint, end=date(2019, 3, 31))

    decisions = journal.decision_records("run1")
    assert decisions and all(d.fallback and "outside 0..1" in d.error for d in decisions)
    assert len(result.flags) == 1 and "outside 0..1" in result.flags[0]


def test_nan_features_fall_back(tmp_path, checkpoint, monkeypatch):
    real = bot.core.features.raw_features

    def with_nan(ind):
        raw = real(ind).copy()
        raw[-1, 0] = np.nan
        return raw

    monkeypatch.setattr(bot.core.features, "raw_features", with_nan)

    _, journal = _run(tmp_path, checkpoint)

    decisions = journal.decision_records("run1")
    assert decisions and all(d.fallback and "not finite" in d.error for d in decisions)


def test_slow_model_times_out_and_falls_back(tmp_path, checkpoint, monkeypatch):
    real = RouterModel.decide

    def slow(self, observation):
        time.sleep(0.3)
        return real(self, observation)

    monkeypatch.setattr(RouterModel, "decide", slow)

    _, journal = _run(tmp_path, checkpoint, timeout_s=0.1, end=date(2019, 3, 31))

    decisions = journal.decision_records("run1")
    assert decisions and all(d.fallback and "timed out" in d.error for d in decisions)


def test_sigkill_mid_run_leaves_every_committed_decision(tmp_path):
    journal_path = tmp_path / "journal.sqlite"
    command = [
        sys.executable, "-m", "bot", "--set", f"journal.path={json.dumps(str(journal_path))}",
        "backtest", "--symbols", "EURUSD", "--bar", "1h", "--window", "2",
        "--start", "2017-01-02", "--end", "2017-12-29", "--policy", "random",
    ]  # fmt: skip
    child = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    seen = 0
    deadline = time.monotonic() + 120
    while seen < 200 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.2)
        if journal_path.exists():
            with sqlite3.connect(journal_path, timeout=5) as db:
                try:
                    seen = db.execute("SELECT count(*) FROM decisions").fetchone()[0]
                except sqlite3.OperationalError:  # schema not created yet
                    seen = 0
    child.send_signal(signal.SIGKILL)
    child.wait()

    assert seen >= 200, "the backtest did not journal decisions in time"
    with Journal(journal_path) as journal:
        run = journal.latest_run()
        decisions = journal.decision_records(run.run_id)
    assert len(decisions) >= seen
    assert len(decisions) < 3000  # killed mid-run: a full year holds ~3,100 windows of 2 bars
    assert [d.window_index for d in decisions] == list(range(len(decisions)))
