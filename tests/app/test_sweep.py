"""`bot sweep` end to end on a tiny grid, serially and on local Ray."""

import json
import sys
from datetime import date
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.app.sweep import SweepConfig, run_sweep
from bot.core.parallel import Parallel
from bot.engine.backtest import resolve_window
from bot.engine.backtest_request import BacktestRequest
from tests.support.series import trending_bars

pytestmark = pytest.mark.e2e


@pytest.mark.slow
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


@pytest.fixture
def no_backtest(monkeypatch):
    """Fails a test whose sweep gets as far as loading bars: bad input must stop before that."""

    def started(*args, **kwargs):
        raise AssertionError("the sweep started its backtests")

    monkeypatch.setattr("bot.app.sweep.load_bars", started)


def sweep_rsi(tmp_path, *options):
    window = ["--start", "2019-01-01", "--end", "2020-01-01", "--workers", "1"]
    return CliRunner().invoke(
        app, ["sweep", "RSI", *options, *window, "--out", str(tmp_path / "s")]
    )


@pytest.mark.parametrize(
    ("grid", "named"),
    [
        ("rsi_period=abc,14", "rsi_period='abc' is not int > 0"),  # not JSON
        ("atr_mult=nan,1.5", "atr_mult='nan' is not float > 0.0"),  # not JSON either
        ("atr_mult=NaN,1.5", "atr_mult=nan is not float > 0.0"),  # JSON's NaN
        ("atr_mult=Infinity", "atr_mult=inf is not float > 0.0"),
        ('rsi_period="x"', "rsi_period='x' is not int > 0"),
        ("rsi_period=0,-3", "rsi_period=0 is not int > 0"),
        ("rsi_period=10.5,14", "rsi_period=10.5 is not int > 0"),
        ("rsi_period=true", "rsi_period=True is not int > 0"),
    ],
)
def test_sweep_refuses_a_value_of_the_wrong_type_naming_field_value_and_type(
    tmp_path, no_backtest, grid, named
):
    # Act
    result = sweep_rsi(tmp_path, "--grid", grid)

    # Assert
    assert result.exit_code == 2, result.output
    assert named in " ".join(result.output.split()), result.output


def test_sweep_refuses_a_point_the_strategy_config_rejects(tmp_path, no_backtest):
    # Act: fast=30 with slow=20 is a point MACross' config refuses (fast must be below slow).
    result = CliRunner().invoke(app, ["sweep", "MACross", "--grid", "fast=5,30", "--grid",
                                      "slow=20", "--out", str(tmp_path / "s")])  # fmt: skip

    # Assert
    assert result.exit_code == 2, result.output
    assert "fast=30 is not below slow=20" in " ".join(result.output.split())


def test_sweep_refuses_a_value_repeated_in_one_field(tmp_path, no_backtest):
    # Act
    result = sweep_rsi(tmp_path, "--grid", "rsi_period=10,14,10")

    # Assert: not every backtest run twice
    assert result.exit_code == 2 and "repeats a value" in result.output


def test_sweep_refuses_a_field_given_in_two_grid_options(tmp_path, no_backtest):
    # Act
    result = sweep_rsi(tmp_path, "--grid", "rsi_period=10", "--grid", "rsi_period=14")

    # Assert: not a sweep of [14] alone
    assert result.exit_code == 2, result.output
    assert "--grid rsi_period" in result.output and "rsi_period=10,14" in result.output


def test_sweep_refuses_an_out_folder_it_cannot_make_before_any_backtest(tmp_path, no_backtest):
    # Arrange
    (tmp_path / "s").write_text("a file, not a folder")

    # Act
    result = sweep_rsi(tmp_path, "--grid", "rsi_period=10,14")

    # Assert
    assert result.exit_code == 2, result.output
    assert f"--out {tmp_path / 's'} is not a folder" in " ".join(result.output.split())


def test_sweep_config_holds_each_value_as_its_field_type():
    # Act: JSON's 2 is an int; atr_mult is a float.
    config = SweepConfig(strategy="RSI", grid={"atr_mult": (2, 1.5)})

    # Assert
    assert config.points() == [{"atr_mult": 2.0}, {"atr_mult": 1.5}]
    assert isinstance(config.points()[0]["atr_mult"], float)


def test_intraday_folds_keep_their_purge_and_never_share_a_bar(tmp_path, monkeypatch):
    # Arrange: 15-minute bars; the backtests only recorded, as the engine would span them
    frame = trending_bars(0.0, count=3000)
    frame.index = pd.date_range("2021-01-01", periods=3000, freq="15min", tz="UTC", name="ts")
    monkeypatch.setattr("bot.app.sweep.load_bars", lambda *_args, **_kwargs: frame)
    sent = []

    def recorded(requests, _parallel):
        sent.extend(requests)
        return [SimpleNamespace(metrics={"sharpe": 0.0}) for _ in requests]

    monkeypatch.setattr("bot.app.sweep.run_many", recorded)
    config = SweepConfig(strategy="RSI", grid={"rsi_period": (10,)}, folds=3, purge=20)

    # Act
    base = BacktestRequest("SYN", bar="15m", start=date(2021, 1, 1), end=date(2021, 2, 1))
    run_sweep(config, base, tmp_path / "out", Parallel(workers=1))

    # Assert
    spans = [resolve_window(frame, request) for request in sent]
    for (_, fit_end), (test_start, _) in zip(spans[::2], spans[1::2], strict=True):
        between = ((frame.index > fit_end) & (frame.index < test_start)).sum()
        assert fit_end < test_start and between == 20


def test_sweep_spans_the_settings_years_by_default(tmp_path, monkeypatch):
    # Arrange: the sweep itself only recorded
    sent = []

    def recorded(config, base, out_dir, parallel):
        sent.append(base)
        return {"table": ""}

    # `bot.app.cli.sweep` names the command there: patch its module.
    monkeypatch.setattr(sys.modules["bot.app.cli.sweep"], "run_sweep", recorded)

    # Act
    options = ["--set", "backtest.years=1", "sweep", "RSI", "--grid", "rsi_period=10,14"]
    result = CliRunner().invoke(app, [*options, "--out", str(tmp_path / "s")])

    # Assert: as `bot backtest` spans it, not the request's own default
    assert result.exit_code == 0, result.output
    assert [base.years for base in sent] == [1]
