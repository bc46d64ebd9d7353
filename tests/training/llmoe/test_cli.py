"""`bot evaluate --system llmoe` end to end on a short slice, and its clear errors."""

import json

import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.engine.journal import Journal


def _invoke(tmp_path, *args):
    settings = ["--set", f"data.catalog={tmp_path / 'var' / 'catalog'}"]
    settings += ["--set", f"journal.path={tmp_path / 'var' / 'journal.sqlite'}"]
    return CliRunner().invoke(app, [*settings, "evaluate", "--system", "llmoe", *args])


@pytest.mark.slow
def test_a_short_llmoe_evaluation_writes_the_table_1_layout(tiny_llm, tmp_path):
    out = tmp_path / "report"

    result = _invoke(
        tmp_path, "--symbols", "MSFT", "--seeds", "2", "--years", "1", "--train-days", "0",
        "--llm", str(tiny_llm), "--out", str(out),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    summary = json.loads((out / "table1.json").read_text())
    assert (out / "equity.png").stat().st_size > 10_000
    assert "numbers only" in summary["text"] and "numbers only" in result.output
    rows = summary["results"]["with_costs"]["MSFT"]
    expected = {"LightGBM", "MLP", "LSTM", "DNNE", "MoE_10", "MoE_2", "LLMoE"}
    assert expected | {"LLMoE (random router)", "MM-DREX", "Buy & hold"} == set(rows)
    assert rows["LLMoE"]["TR"]["n"] == 2 and rows["MM-DREX"]["TR"]["n"] == 1
    assert set(rows["LLMoE"]) == {"TR", "SR", "CR", "SoR", "VOL", "DD", "MDD"}
    free = summary["results"]["without_costs"]["MSFT"]["Buy & hold"]["TR"]["mean"]
    assert free > rows["Buy & hold"]["TR"]["mean"]  # the entry fee is the only difference
    text = (out / "table1.txt").read_text()
    assert "with costs" in text and "without costs" in text and "MDD%" in text
    with Journal(tmp_path / "var" / "journal.sqlite") as journal:
        run_id = journal.runs()["run_id"].iloc[0]
        events = journal.events(run_id, "llmoe_route")
    assert len(events) == summary["symbols"]["MSFT"]["test_samples"]
    assert events["payload"].iloc[0]["rationale"]


def test_a_corrupt_gguf_is_a_clear_cli_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"garbage")

    result = _invoke(tmp_path, "--symbols", "MSFT", "--llm", str(bad))

    assert result.exit_code == 2
    assert "not a GGUF file" in result.output and "Traceback" not in result.output


def test_a_bad_headlines_file_is_a_clear_cli_error(tmp_path):
    news = tmp_path / "news.csv"
    news.write_text("date,headline\nyesterday-ish,Something\n")

    result = _invoke(tmp_path, "--symbols", "MSFT", "--headlines", str(news))

    assert result.exit_code == 3
    assert "do not parse" in result.output and "Traceback" not in result.output


def test_mmdrex_without_a_checkpoint_is_refused(tmp_path):
    result = CliRunner().invoke(app, ["evaluate"])

    assert result.exit_code == 2 and "CHECKPOINT" in result.output


def test_an_unknown_llm_dtype_is_a_clear_cli_error(tmp_path):
    result = _invoke(tmp_path, "--symbols", "MSFT", "--llm-dtype", "float16")

    assert result.exit_code == 2
    assert "'float16' is not one of float32, bfloat16" in result.output
    assert "Traceback" not in result.output
