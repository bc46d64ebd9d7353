"""`bot backtest` through Typer's CliRunner."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app.cli import app

pytestmark = pytest.mark.e2e

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # reports/ and var/ land in the test's folder
    monkeypatch.setenv("BOT__LOGGING__FORMAT", "json")


def _report(output: str) -> Path:
    return Path(output.rsplit("Report: ", 1)[1].strip())


def test_default_backtest_prints_table_and_writes_report():
    result = runner.invoke(app, ["backtest"])

    assert result.exit_code == 0, result.output
    rows = [line.split()[0] for line in result.stdout.splitlines() if line[:1].isalpha()]
    assert rows[:4] == ["SPX", "run", "model:models/daily-equities", "buy_and_hold"]
    # The shipped router was trained on SPX before 2016: the last ten years are partly in-sample.
    assert "IN-SAMPLE" in result.stdout
    report = _report(result.output)
    for name in ("index.html", "equity.png", "weights.png", "candles.png", "fills.csv"):
        assert (report / name).stat().st_size > 0, name
    metrics = json.loads((report / "metrics.json").read_text())
    assert "2014-06-26 .. 2024-06-26" in metrics["title"]  # the last 10 years of the data


def test_compare_prints_one_table_with_buy_and_hold():
    policies = "uniform,best-expert,random,single:LongOnly"
    result = runner.invoke(
        app, ["backtest", "--compare", policies, "--start", "2016-01-01", "--end", "2019-12-31"]
    )

    assert result.exit_code == 0, result.output
    table = result.stdout.split("\nSPX\n", 1)[1].split("\n\nReport:")[0].splitlines()
    assert [line.split()[0] for line in table] == [
        "run",
        "uniform",
        "best-expert",
        "random",
        "single:LongOnly",
        "buy_and_hold",
    ]
    metrics = json.loads((_report(result.output) / "metrics.json").read_text())["metrics"]
    assert set(metrics) == {*policies.split(","), "buy_and_hold"}


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["backtest", "--symbols", "NOPE"], 3, "No 1d bars for 'NOPE'"),
        (["backtest", "--start", "1900-01-01"], 3, "outside"),
        (
            ["--set", 'router.weights={"LongOnly": 0.7}', "backtest", "--policy", "fixed"],
            2,
            "sums to 0.700000",
        ),
        (["--set", 'router.weights={"Nope": 1}', "backtest", "--policy", "fixed"], 2, "Nope"),
        (["backtest", "--policy", "single:Nope"], 2, "unknown strategies ['Nope']"),
    ],
)
def test_bad_input_exits_with_a_clear_message(args, code, needle):
    result = runner.invoke(app, args)

    assert result.exit_code == code, result.output
    assert needle in result.output
    assert "Traceback" not in result.output
