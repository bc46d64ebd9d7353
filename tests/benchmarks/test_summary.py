"""The benchmark summary renders the committed results, and says which JSON is too old."""

import json
from pathlib import Path

from benchmarks import summary

RESULTS = Path(__file__).parents[2] / "benchmarks" / "results"
SECTIONS = ("backtest_speed", "charts_speed", "router_speed", "train_speed", "evaluate_speed")


def _results() -> dict:
    paths = {name: RESULTS / f"{name}.json" for name in SECTIONS}  # as benchmarks/__main__ reads
    return {
        n: json.loads(p.read_text())["results"] if p.exists() else None for n, p in paths.items()
    }


def test_the_committed_summary_is_what_the_committed_results_render():
    assert summary.markdown(_results(), quick=False) == (RESULTS / "SUMMARY.md").read_text()


def test_a_result_from_an_older_version_names_what_it_lacks_instead_of_failing():
    results = _results()
    del results["train_speed"]["dataset_samples_per_s_from_cache"]

    text = summary.markdown(results, quick=False)

    assert "lacks 'dataset_samples_per_s_from_cache'" in text
    assert "## Targets (issue 21)" in text and "## Backtest throughput" in text  # the rest stays
