"""`bot sweep` end to end on a tiny grid, serially and on local Ray."""

import json

import pytest
from typer.testing import CliRunner

from bot.app.cli import app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_sweep_scores_a_tiny_grid_walk_forward(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["sweep", "RSI", "--grid", "rsi_period=10,20", "--symbol", "SPX", "--start",
              "2016-01-01", "--end", "2018-12-31", "--folds", "2"]  # fmt: skip

    serial = CliRunner().invoke(app, [*common, "--out", "w1", "--workers", "1"])
    parallel = CliRunner().invoke(app, [*common, "--out", "w2", "--workers", "2"])

    assert serial.exit_code == 0, serial.output
    assert parallel.exit_code == 0, parallel.output
    result = json.loads((tmp_path / "w1" / "sweep.json").read_text())
    assert [p["params"] for p in result["points"]] == [{"rsi_period": 10}, {"rsi_period": 20}]
    assert len(result["folds"]) == 2 and all(len(p["test_sharpe"]) == 2 for p in result["points"])
    for fold in result["folds"]:
        assert fold["fit"][1] < fold["test"][0]  # tested only after what it was chosen on
    assert result["points"][0]["test_sharpe"] != result["points"][1]["test_sharpe"]
    assert (tmp_path / "w1" / "sweep.png").stat().st_size > 0
    assert json.loads((tmp_path / "w2" / "sweep.json").read_text()) == result  # Ray = serial
    assert "walk-forward Sharpe" in serial.output


def test_sweep_refuses_a_field_the_strategy_does_not_have_naming_only_its_parameters():
    result = CliRunner().invoke(app, ["sweep", "RSI", "--grid", "no_such_field=1,2"])

    assert result.exit_code == 2 and "no parameter(s) ['no_such_field']" in result.output
    listed = result.output.split("its parameters are ", 1)[1]
    assert "'rsi_period'" in listed and "'oversold'" in listed
    # nautilus' StrategyConfig internals, and what the run sets itself, are not parameters
    for internal in ("log_events", "order_id_tag", "oms_type", "instrument_id", "long_only"):
        assert internal not in listed, internal
