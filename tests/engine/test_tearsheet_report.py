"""The tear sheet on real backtests: a model policy over its own validation span beside uniform,
on SPX. Its tables must match the metrics and the runs they come from."""

import json
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from bot.core.metrics import round_trips
from bot.engine.backtest import run_backtest
from bot.engine.backtest_report import write_backtest_report
from bot.engine.backtest_request import BacktestRequest
from bot.model.policy import load_policy
from strategies import STRATEGIES

pytestmark = pytest.mark.integration

MODEL = "model:models/daily-equities"  # validated on SPX decisions 2013-01-08 .. 2016-03-29
SPAN = BacktestRequest(symbol="SPX", policy=MODEL, start=date(2015, 10, 1), end=date(2016, 6, 30))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    results = [run_backtest(replace(SPAN, policy=p), load_policy) for p in (MODEL, "uniform")]
    folder = tmp_path_factory.mktemp("tearsheet")
    metrics = write_backtest_report(results, folder)
    return {
        "results": results,
        "metrics": metrics,
        "sheet": json.loads((folder / "tearsheet.json").read_text()),
        "trades": pd.read_csv(folder / "trades.csv"),
        "page": (folder / "index.html").read_text(),
    }


def test_returns_and_drawdowns_match_the_metrics(report):
    sheet = report["sheet"]

    for name, metrics in report["metrics"].items():
        yearly = [row[name] for row in sheet["yearly"].values() if row[name] is not None]
        assert np.prod(1 + np.array(yearly)) - 1 == pytest.approx(metrics["total_return"])
    for name in (MODEL, "uniform"):
        worst = sheet["drawdowns"][name][0]["depth"]
        assert worst == pytest.approx(report["metrics"][name]["max_drawdown"])
    months = [v for row in sheet["monthly"].values() for v in row.values() if v is not None]
    assert np.prod(1 + np.array(months)) - 1 == pytest.approx(
        report["metrics"][MODEL]["total_return"]
    )
    assert 0.0 < sheet["alpha_beta"]["uniform"]["beta"] < 1.0  # part long, part hedged, part cash


def test_pnl_per_strategy_and_expert_match_the_run(report):
    for result in report["results"]:
        pnl = report["sheet"]["pnl"][result.request.policy]
        assert pnl["strategy"] == pytest.approx(result.pnl.iloc[-1].to_dict())
        for expert, total in pnl["expert"].items():
            mine = [s.name for s in STRATEGIES if s.expert == expert]
            assert total == pytest.approx(result.pnl.iloc[-1][mine].sum())


def test_every_trade_names_the_rules_that_opened_and_closed_it(report):
    trades = report["trades"]

    for result in report["results"]:
        mine = trades[trades["policy"] == result.request.policy]
        assert len(mine) == len(round_trips(result.fills)) > 20
        assert mine["pnl"].to_numpy() == pytest.approx(round_trips(result.fills))
        assert mine["open_reason"].notna().all() and mine["close_reason"].notna().all()
    closes = set(trades["close_reason"])
    assert {"ATR stop", "momentum faded", "back to the middle band"} <= closes


def test_page_shows_every_policy_the_in_sample_span_and_units(report):
    page = report["page"]

    for policy in (MODEL, "uniform"):
        quoted = policy.replace("/", "\\u002f")  # as plotly's JSON writes it
        assert page.count(f'"text":"{quoted}"') >= 2, policy  # its weights and candle panels
        assert f"<summary>{policy}: " in page  # its trade list
    assert "in sample: " + MODEL.replace("/", "\\u002f") in page  # shaded, named
    assert "<th>Costs (USD)</th>" in page
