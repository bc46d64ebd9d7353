"""`bot backtest` through Typer's CliRunner."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.core.fingerprint import out_of_sample_start
from bot.core.saved_meta import trained_on
from bot.engine.policy import POLICY_FORMS
from strategies import EXPERTS

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
    # The shipped router learned from SPX bars up to 2016-04-26 (its meta.json): the default
    # span starts the day after, out of sample, where the last ten years would start in 2014.
    floor = out_of_sample_start(trained_on("model:models/daily-equities")["symbols"]["SPX"])
    assert floor == pd.Timestamp("2016-04-27", tz="UTC")
    assert f"\nSPX {floor:%Y-%m-%d} .. 2024-06-26\n" in result.stdout
    assert "IN-SAMPLE" not in result.stdout
    # The table's units and its two exposure columns are explained under it.
    assert "Costs: commissions paid" in result.stdout and "Gross% (gross exposure)" in result.stdout
    report = _report(result.output)
    for name in ("index.html", "equity.png", "weights.png", "candles.png", "fills.csv"):
        assert (report / name).stat().st_size > 0, name
    metrics = json.loads((report / "metrics.json").read_text())
    assert f"{floor:%Y-%m-%d} .. 2024-06-26" in metrics["title"]
    # The printed run id finds the run and its report again.
    run_id = result.stdout.split("\nRun: ", 1)[1].split()[0]
    listed = runner.invoke(app, ["runs", "list"]).stdout.splitlines()
    assert listed[1].split()[0] == run_id and listed[1].split()[-1] == str(report)
    explained = runner.invoke(app, ["explain", run_id])
    assert explained.stdout.startswith(f"Run {run_id}-SPX-model_models_daily-equities:")


def test_compare_prints_one_table_with_buy_and_hold_and_the_expert_best_expert_picked():
    policies = "uniform,best-expert,random,single:LongOnly"
    result = runner.invoke(
        app, ["backtest", "--compare", policies, "--start", "2016-01-01", "--end", "2019-12-31"]
    )

    assert result.exit_code == 0, result.output
    after = result.stdout.split("\nSPX 2016-01-04 .. 2019-12-31\n", 1)[1]
    table = after.split("\nbest-expert picked")[0].splitlines()
    assert [line.split()[0] for line in table] == [
        "run",
        "uniform",
        "best-expert",
        "random",
        "single:LongOnly",
        "buy_and_hold",
    ]
    picked = result.stdout.split("\nbest-expert picked the ", 1)[1].split()[0]
    assert picked in EXPERTS
    written = json.loads((_report(result.output) / "metrics.json").read_text())
    assert set(written["metrics"]) == {*policies.split(","), "buy_and_hold"}
    assert written["simulation"]["best-expert picked"] == picked


def test_help_lists_every_policy_form_and_the_default_start():
    result = runner.invoke(app, ["backtest", "--help"], env={"COLUMNS": "400"})

    assert result.exit_code == 0
    for form, _ in POLICY_FORMS:
        assert form in result.stdout, form
    assert "(model:models/daily-equities on SPX: 2016-04-27)" in result.stdout


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
        (["backtest", "--policy", "registry"], 2, "a backtest names one: model:"),
        # The default start is out of sample; past the data's end that is nothing to trade.
        (["backtest", "--end", "2016-03-31"], 3, "Pass --start to backtest the model's"),
    ],
)
def test_bad_input_exits_with_a_clear_message(args, code, needle):
    result = runner.invoke(app, args)

    assert result.exit_code == code, result.output
    assert needle in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--report-dir", "taken"], "--report-dir taken is not a folder"),
        (["--symbols", "SPX,IBM,SPX"], "SPX listed twice"),
        (["--compare", "uniform,random,uniform"], "names a policy twice"),
    ],
    ids=["report-dir-is-a-file", "symbol-twice", "policy-twice"],
)
def test_what_would_fail_after_the_run_is_refused_before_it(tmp_path, args, needle):
    # Arrange
    (tmp_path / "taken").write_text("a file, not a folder")

    # Act
    result = runner.invoke(app, ["backtest", "--start", "2020-01-01", "--end", "2020-03-01", *args])

    # Assert
    assert result.exit_code == 2 and needle in result.output
    assert not (tmp_path / "var" / "journal.sqlite").exists()  # nothing ran, nothing journalled


def test_a_catalog_that_is_a_file_is_refused_not_swapped_for_the_built_in_data(tmp_path):
    # Arrange: without the check, the backtest ran on the built-in SPX bars without a word.
    (tmp_path / "taken").write_text("a file, not a folder")

    # Act
    result = runner.invoke(
        app,
        ["--set", "data.catalog=taken", "backtest", "--start", "2020-01-01", "--end", "2020-03-01"],
    )

    # Assert
    assert result.exit_code == 2, result.output
    assert "The data catalog taken is a file, not a folder" in result.output
    assert "Report: " not in result.output
    assert not (tmp_path / "var" / "journal.sqlite").exists()  # nothing ran, nothing journalled


def test_the_default_span_of_a_symbol_with_less_data_than_backtest_years_is_all_of_it():
    # TSLA's built-in bars cover one year (2021-03-23 .. 2022-03-23), backtest.years ten: the
    # default start was ten years back, and the run was refused as "outside" a span it chose.
    default = runner.invoke(app, ["backtest", "--symbols", "TSLA", "--policy", "uniform"])
    earlier = runner.invoke(
        app, ["backtest", "--symbols", "TSLA", "--policy", "uniform", "--start", "2020-01-01"]
    )

    assert default.exit_code == 0, default.output
    assert "\nTSLA 2021-03-23 .. 2022-03-23\n" in default.stdout
    # A --start before the data is still refused, naming the data's span.
    assert earlier.exit_code == 3
    assert "TSLA 1d has data from 2021-03-23 to 2022-03-23" in earlier.output
