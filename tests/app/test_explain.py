import sys
import types
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from bot.app.explain import attribution_lines, explain_decision, explain_run
from bot.core.errors import ConfigError
from bot.engine.journal import Journal
from strategies import strategy_names
from tests.support.records import DAY_NS, T0, model_decision, start, static_decision

UP = {"uptrend": 0.7, "downtrend": 0.2, "consolidation": 0.1}
DOWN = {"uptrend": 0.1, "downtrend": 0.8, "consolidation": 0.1}


def _day(day: int, hours: int = 0) -> datetime:
    return pd.Timestamp(T0 + day * DAY_NS, tz="UTC").to_pydatetime().replace(hour=hours)


@pytest.fixture
def journal(tmp_path):
    with Journal(tmp_path / "journal.sqlite") as opened:
        yield opened


@pytest.fixture
def static_run(journal):
    """Three uniform decisions 20 days apart, closes 100, 110, 120, and three fills."""
    start(journal)
    for day, close in ((0, 100.0), (20, 110.0), (40, 120.0)):
        journal.record_decision(static_decision("run-1", day, close=close))
    journal.record_fill("run-1", T0, "MACross", "BUY", 10, 100.0, 1.0)
    journal.record_fill("run-1", T0 + 25 * DAY_NS, "MACross", "SELL", 5, 115.0, 0.5)
    journal.record_fill("run-1", T0 + 40 * DAY_NS, "MACross", "SELL", 5, 120.0, 0.5)
    return journal


def _pnl_line(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.split()[:1] == [name])


def test_static_decision_is_found_at_or_before_the_time_and_says_no_attributions(static_run):
    # Act
    text = explain_decision(static_run, "run-1", _day(30))

    # Assert
    assert "Decision 2 of 3 at 2021-01-24T00:00:00+00:00" in text
    assert "Chart: none" in text
    assert "Regime: none (the policy 'uniform' predicts no regime)" in text
    assert "none: the policy 'uniform' is static and reads no inputs." in text
    assert "  trend     0.27  MACross* 0.33  Momentum 0.33  Turtle 0.33" in text


def test_pnl_from_fills_marks_positions_at_the_journalled_closes(static_run):
    # Act: window 2 holds 10 units from 110, sells 5 at 115 (fee 0.5), holds 5 to 120.
    first = explain_decision(static_run, "run-1", _day(0))
    second = explain_decision(static_run, "run-1", _day(20))

    # Assert
    assert _pnl_line(first, "MACross").split()[1] == "+99.00"  # 10 x (110 - 100) - 1 fee
    assert _pnl_line(second, "MACross").split()[1] == "+74.50"  # 10 x 5 - 0.5 + 5 x 5
    assert _pnl_line(second, "RSI").split()[1] == "+0.00"
    assert _pnl_line(second, "total").split()[1] == "+74.50"
    assert "until 2021-02-13T00:00:00+00:00 (from the journalled fills)" in second


def test_the_last_decision_needs_a_pnl_frame(static_run):
    # Arrange
    index = pd.to_datetime([T0 + d * DAY_NS for d in (0, 40, 50)], utc=True)
    pnl = pd.DataFrame(0.0, index=index, columns=list(strategy_names()))
    pnl["RSI"] = [0.0, 5.0, 12.5]

    # Act
    without = explain_decision(static_run, "run-1", _day(45))
    with_frame = explain_decision(static_run, "run-1", _day(45), pnl=pnl)

    # Assert
    assert "its PnL needs a PnL frame" in without
    assert _pnl_line(with_frame, "RSI").split()[1] == "+7.50"
    assert "until 2021-02-23T00:00:00+00:00 (from the supplied PnL frame)" in with_frame


def test_times_outside_the_run_are_refused(static_run):
    with pytest.raises(ConfigError, match="first decision is at 2021-01-04"):
        explain_decision(static_run, "run-1", _day(0) - pd.Timedelta("1h"))
    with pytest.raises(ConfigError, match="no timezone"):
        explain_decision(static_run, "run-1", datetime(2021, 2, 1))  # noqa: DTZ001


def test_model_decision_shows_regime_choices_and_the_attributors_lines(journal):
    # Arrange
    start(journal, policy="model:ckpt/a")
    journal.record_decision(model_decision("run-1", 0, {"trend": 0.75, "position": 0.25}, UP))
    journal.record_decision(model_decision("run-1", 20, {"reversal": 1.0}, DOWN))
    seen = []

    def attributor(record):
        seen.append(record.ts)
        return ["RSI at bar offset 0: +0.5"]

    # Act
    text = explain_decision(journal, "run-1", _day(3), attributor=attributor)

    # Assert
    assert seen == [T0]
    assert "  RSI at bar offset 0: +0.5" in text
    assert "Regime: uptrend 0.70, downtrend 0.20, consolidation 0.10" in text
    assert "policy model:ckpt/a version abc123, 4.2 ms" in text
    assert "Chart: charts/0.png (the file is missing)" in text
    assert "  trend     0.75  MACross* 1.00  Momentum 0.00  Turtle 0.00" in text
    assert "  breakout  0.00  VolumeBreakout 0.00  ATRBreakout 0.00" in text


def test_a_fallback_decision_is_not_attributed(journal):
    # Arrange
    start(journal, policy="model:ckpt/a")
    journal.record_decision(
        model_decision("run-1", 0, {"trend": 1.0}, None, fallback=True, error="NaN features")
    )

    def attributor(record):
        raise AssertionError("a fallback decision must not be attributed")

    # Act
    text = explain_decision(journal, "run-1", _day(1), attributor=attributor)

    # Assert
    assert "FALLBACK: the static policy decided; the model failed: NaN features" in text
    assert "none: the model failed at this decision" in text


def test_run_summary_follows_weights_through_regimes_and_writes_the_plot(journal, tmp_path):
    # Arrange: up, up, down, up -> two switches; the last move shifts 1.0 + 0.9 + 0.1 = 2.0.
    start(journal, policy="model:ckpt/a")
    steps = [
        ({"trend": 0.8, "position": 0.2}, UP),
        ({"trend": 0.6, "position": 0.4}, UP),
        ({"reversal": 0.9, "position": 0.1}, DOWN),
        ({"trend": 1.0}, UP),
    ]
    for n, (experts, regime) in enumerate(steps):
        journal.record_decision(model_decision("run-1", 20 * n, experts, regime))

    # Act
    text = explain_run(journal, "run-1", tmp_path / "out")

    # Assert
    assert "4 decisions from 2021-01-04T00:00:00+00:00 to 2021-03-05T00:00:00+00:00" in text
    assert "Regime switches: 2." in text
    assert (
        "  uptrend        75% of decisions: trend 0.80, reversal 0.00, breakout 0.00, "
        "position 0.20" in text
    )
    assert "  downtrend      25% of decisions: trend 0.00, reversal 0.90" in text
    assert (
        "Largest move: 2.00 of capital (sum of |change|) at 2021-03-05T00:00:00+00:00, "
        "regime downtrend -> uptrend" in text
    )
    png = tmp_path / "out" / "explain-run-1.png"
    assert f"Plot: {png}" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_summary_of_a_static_run_says_there_are_no_regimes(static_run, tmp_path):
    # Act
    text = explain_run(static_run, "run-1", tmp_path)

    # Assert
    assert "Regimes: none journalled" in text
    assert "Mean expert weights: trend 0.27, reversal 0.27, breakout 0.18, position 0.27" in text
    assert (tmp_path / "explain-run-1.png").is_file()


class _Observation:
    def digest(self) -> str:
        return "rebuilt"


def test_attribution_lines_rank_features_and_name_the_strongest_chart_cell(monkeypatch):
    # Arrange: stand-ins with the bot.model.attribution signatures, so no torch model is needed.
    drops = np.zeros((4, 4))
    drops[2, 1] = 0.25
    fake = types.SimpleNamespace(
        feature_attributions=lambda model, obs, top: [("RSI", 0, 0.5), ("MA10", 3, -0.125)][:top],
        chart_occlusion=lambda model, obs, grid: drops[:grid, :grid],
    )
    monkeypatch.setitem(sys.modules, "bot.model.attribution", fake)

    # Act
    matching = attribution_lines(object(), _Observation(), expected_hash="rebuilt")
    differing = attribution_lines(object(), _Observation(), top=1, expected_hash="journalled")

    # Assert
    assert matching[1:] == [
        "  RSI at bar offset 0: +0.5",
        "  MA10 at bar offset 3: -0.125",
        "chart occlusion (4x4 cells, row 0 at the top): hiding cell (2, 1) lowers the score "
        "most, by 0.25",
    ]
    assert differing[0].startswith("WARNING: the rebuilt observation differs")
    assert "MA10" not in "\n".join(differing)


def test_explaining_an_unknown_run_names_the_known_ones(static_run, tmp_path):
    with pytest.raises(ConfigError, match="Recent runs: run-1"):
        explain_run(static_run, "nope", tmp_path)
