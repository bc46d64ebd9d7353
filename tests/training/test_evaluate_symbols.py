"""`bot evaluate CKPT --symbols`: any instrument, out of sample only unless asked, with the
Table 2 baselines and a bootstrap interval for every row."""

import json
import shutil
from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.app.runs import list_runs
from bot.core.errors import DataError
from bot.core.fingerprint import fingerprint
from bot.engine.backtest_request import BacktestRequest
from bot.engine.data import load_bars
from bot.engine.journal import Journal
from bot.model.checkpoint import init_checkpoint
from bot.model.router_model import ModelConfig
from training.eval_windows import IN_SAMPLE, in_sample_overlap, symbol_windows, warmup_bars
from training.evaluate import router_baselines
from training.rule_baselines import RULE_BASELINES

IBM_SPLITS = {  # a crafted record of training on IBM (the bundled bokeh sample, 2000-2013)
    "train": {
        "first_decision": "2005-01-03T00:00:00+00:00",
        "last_decision": "2008-06-02",
        "last_bar_used": "2008-07-01T00:00:00+00:00",
    },
    "val": {
        "first_decision": "2009-03-02T00:00:00+00:00",
        "last_decision": "2009-10-01",
        "last_bar_used": "2009-10-29T00:00:00+00:00",
    },
    "test": {"first_decision": "2010-03-01T00:00:00+00:00", "window_end": "2013-03-01"},
}


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    """An untrained checkpoint (as `bot train init` writes): every symbol is new to it."""
    folder = tmp_path_factory.mktemp("ckpt") / "untrained"
    return init_checkpoint(folder, ModelConfig(text_encoder="hashed", hidden_size=64))


@pytest.fixture(scope="module")
def trained_on_ibm(unseen, tmp_path_factory):
    """The same weights, whose meta.json says they were trained on IBM up to 2009."""
    folder = tmp_path_factory.mktemp("ckpt") / "ibm"
    shutil.copytree(unseen, folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["extra"]["dataset"] = {
        "config": {"bar": "1d", "horizon": 20, "symbols": ["IBM"]},
        "config_hash": "crafted",
        "symbols": {"IBM": IBM_SPLITS},
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def _evaluate(tmp_path, monkeypatch, checkpoint, *args):
    monkeypatch.chdir(tmp_path)
    settings = ["--set", f"data.catalog={tmp_path / 'catalog'}"]
    settings += ["--set", f"journal.path={tmp_path / 'journal.sqlite'}"]
    command = ["evaluate", str(checkpoint), "--symbols", "IBM", "--workers", "1", *args]
    return CliRunner().invoke(app, [*settings, *command])


def test_symbols_evaluates_a_symbol_the_checkpoint_never_saw(unseen, tmp_path, monkeypatch):
    out = tmp_path / "report"

    result = _evaluate(
        tmp_path, monkeypatch, unseen, "--start", "2010-01-04", "--end", "2010-06-30",
        "--out", str(out),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "No LightGBM row: the checkpoint records no training dataset" in result.output
    summary = json.loads((out / "evaluation.json").read_text())
    ibm = summary["instruments"]["IBM"]
    assert ibm["in_sample"] is None and summary["in_sample"] == []
    assert ibm["out_of_sample"].startswith("never seen")
    assert ibm["validation"] == ["2010-01-04", ibm["test"][0]] and ibm["test"][1] == "2010-06-30"
    rows = ["uniform", "best-expert", "random", "buy_and_hold"]
    rows += [*RULE_BASELINES, *router_baselines()]
    assert set(rows) <= set(ibm["metrics"]) and {"CR", "BBI", "WR"} <= set(summary["average"])
    for row in rows:  # router - row, per instrument and pooled, each with its 95% interval
        for diff in (ibm["sharpe_diff"][row], summary["sharpe_diff"][row]):
            assert diff["low"] <= diff["diff"] <= diff["high"], row
    assert "router" not in ibm["sharpe_diff"]
    table = (out / "table.txt").read_text()
    assert "router SR - row SR [95% CI]" in table and "IBM 20" in table
    assert (out / "summary.png").stat().st_size > 0 and (out / "IBM" / "index.html").exists()
    assert "never seen" in result.stdout and IN_SAMPLE not in result.stdout
    with Journal(tmp_path / "journal.sqlite") as journal:  # for `bot runs list`
        (evaluation,) = list_runs(journal, "evaluate")
    assert evaluation.symbols == ("IBM",) and evaluation.policies == (f"model:{unseen}",)
    assert evaluation.report_dir == str(out.resolve())


def test_an_in_sample_start_is_refused_with_a_clear_message(trained_on_ibm, tmp_path, monkeypatch):
    result = _evaluate(tmp_path, monkeypatch, trained_on_ibm, "--start", "2009-06-01")

    assert result.exit_code == 2
    assert f"{IN_SAMPLE}:" in result.output and "2009-10-30 on are out of sample" in result.output
    assert "--allow-in-sample" in result.output and "Traceback" not in result.output


def test_allow_in_sample_flags_every_row(trained_on_ibm, tmp_path, monkeypatch):
    out = tmp_path / "report"

    result = _evaluate(
        tmp_path, monkeypatch, trained_on_ibm, "--start", "2009-06-01", "--end", "2009-12-31",
        "--allow-in-sample", "--out", str(out),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    summary = json.loads((out / "evaluation.json").read_text())
    assert summary["in_sample"] == ["IBM"]
    assert summary["instruments"]["IBM"]["flags"][0].startswith(IN_SAMPLE)
    rows = [line for block in summary["table"].split("\n\n") for line in block.splitlines()[1:]]
    assert rows and all(IN_SAMPLE in row for row in rows)
    assert f"WARNING {IN_SAMPLE}" in result.stdout


def test_a_trained_symbol_is_evaluated_from_its_test_split_by_default(trained_on_ibm):
    base = BacktestRequest(symbol="")

    (window,) = symbol_windows(trained_on_ibm, ["IBM"], base)

    # out of sample from the day after the last bar its validation labels read
    assert window.test_start == date(2009, 10, 30) and window.test_end == date(2013, 3, 1)
    assert window.validation_start == date(2009, 3, 2)  # best-expert: its validation split
    assert window.in_sample is None and "out of sample from 2009-10-30" in window.out_of_sample


def test_a_new_symbol_is_out_of_sample_from_its_first_warm_bar(unseen):
    frame = load_bars("IBM")
    first = frame.index[warmup_bars()]

    (window,) = symbol_windows(unseen, ["IBM"], BacktestRequest(symbol=""))

    assert window.validation_start == first.date()
    span = frame[frame.index >= first]
    assert window.test_start == span.index[int(len(span) * 0.2)].date()
    with pytest.raises(DataError, match=f"Use --start {first.date()} or later"):
        symbol_windows(unseen, ["IBM"], BacktestRequest(symbol="", start=date(2001, 1, 2)))


def test_in_sample_overlap_names_the_training_span(trained_on_ibm, unseen):
    frame = load_bars("IBM")
    early, late = frame.loc["2009-06-01":"2009-12-31"], frame.loc["2009-11-02":]

    message = in_sample_overlap(trained_on_ibm, "IBM", early)

    assert message.startswith(IN_SAMPLE) and "2005-01-03 to 2009-10-01" in message
    assert in_sample_overlap(trained_on_ibm, "IBM", late) is None
    assert in_sample_overlap(unseen, "IBM", early) is None
    assert in_sample_overlap(trained_on_ibm, "MSFT", early) is None


def test_a_forced_start_inside_the_test_split_keeps_the_validation_split(trained_on_ibm):
    base = replace(BacktestRequest(symbol=""), start=date(2011, 1, 3), end=date(2011, 12, 30))

    (window,) = symbol_windows(trained_on_ibm, ["IBM"], base)

    assert window.validation_start == date(2009, 3, 2) and window.in_sample is None
    assert window.test_start == date(2011, 1, 3) and window.test_end == date(2011, 12, 30)


def test_the_same_prices_under_another_name_are_in_sample(unseen, tmp_path):
    # A checkpoint that trained on IBM 2005-2009 meets those bars again, renamed.
    folder = tmp_path / "ibm-prices"
    shutil.copytree(unseen, folder)
    ibm = load_bars("IBM")
    np.save(folder / "fingerprint.npy", fingerprint(ibm.loc["2005":"2009", "close"]))

    message = in_sample_overlap(folder, "RENAMED", ibm.loc["2009-01-01":"2009-12-31"])

    assert message.startswith(IN_SAMPLE) and "fingerprint" in message
    assert in_sample_overlap(folder, "RENAMED", ibm.loc["2011-01-01":"2011-12-31"]) is None
