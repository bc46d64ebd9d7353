"""`bot train data|sft|ppo` then `bot evaluate`, end to end on two real instruments."""

import json

import pytest
from typer.testing import CliRunner

from bot.app.cli import app

runner = CliRunner()
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT__LOGGING__FORMAT", "json")


def _bot(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A small real dataset: AAPL and GOOG daily, horizon 20, 56-pixel charts, one calendar."""
    data = tmp_path_factory.mktemp("cli_train") / "ds"
    printed = _bot(
        "train", "data", "--out", str(data), "--symbols", "AAPL,GOOG",
        "--horizon", "20", "--image-size", "56", "--cuts", "2017-01-01,2020-01-01",
    )  # fmt: skip
    return data, printed


def test_train_then_evaluate_writes_table3_report(tmp_path, dataset):
    data, built = dataset
    sft, ppo, report = (tmp_path / name for name in ("sft", "ppo", "report"))
    common = ["--dataset", str(data)]

    _bot("train", "sft", *common, "--out", str(sft), "--max-steps", "3")
    _bot("train", "ppo", str(sft), *common, "--out", str(ppo), "--max-steps", "3")
    printed = _bot("evaluate", str(ppo), *common, "--out", str(report))

    assert "AAPL" in built and "GOOG" in built
    result = json.loads((report / "evaluation.json").read_text())
    assert set(result["instruments"]) == {"AAPL", "GOOG"}
    methods = set(result["average"])
    assert {"router", "uniform", "best-expert", "random", "buy_and_hold"} <= methods
    assert {"MACD", "KDJ-RSI", "BIAS", "single:LongOnly", "single:Cash"} <= methods
    assert {"rule", "momentum", "lgbm"} <= methods  # the lgbm router fitted on the same data
    for symbol, inst in result["instruments"].items():
        assert inst["regime"]["decisions"] > 0, symbol
        assert 0.0 <= inst["regime"]["accuracy"] <= 1.0
        low, high = inst["sharpe_diff_vs_uniform"]["low"], inst["sharpe_diff_vs_uniform"]["high"]
        assert low <= inst["sharpe_diff_vs_uniform"]["diff"] <= high
        assert (report / symbol / "equity.png").stat().st_size > 0
        # Trading starts at the instrument's first test decision: out of sample.
        test = json.loads((data / "meta.json").read_text())["symbols"][symbol]["splits"]["test"]
        assert inst["test"][0] == test["first_decision"][:10]
    assert (report / "summary.png").stat().st_size > 0
    assert _bot("evaluate", str(ppo), *common, "--out", str(report)) == printed  # rerun in place
    assert printed.splitlines()[0].startswith("method (mean of 2 instruments)")
    assert "router" in printed and "Regime accuracy" in printed
    # --symbols fits the LightGBM row on the dataset the checkpoint records, when it is there.
    span = ["--start", "2010-01-04", "--end", "2010-06-30"]  # half a year: the row, not the span
    _bot(
        "evaluate",
        str(ppo),
        "--symbols",
        "IBM",
        *span,
        "--workers",
        "1",
        "--out",
        str(tmp_path / "s"),
    )
    assert "lgbm" in json.loads((tmp_path / "s" / "evaluation.json").read_text())["average"]


def test_evaluate_refuses_a_checkpoint_trained_on_another_dataset(tmp_path, dataset):
    data, _ = dataset
    _bot("train", "init", str(tmp_path / "untrained"))

    result = runner.invoke(app, ["evaluate", str(tmp_path / "untrained"), "--dataset", str(data)])

    assert result.exit_code == 2
    assert "could overlap" in result.output
