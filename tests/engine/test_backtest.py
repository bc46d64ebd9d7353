"""Whole backtests: one engine with the eleven strategies and the router actor, on real bars."""

import json
import os
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.core.errors import ConfigError, DataError
from bot.core.features import REQUIRED_BARS
from bot.core.fingerprint import fingerprint
from bot.core.observation import ObservationConfig
from bot.core.saved_meta import trained_bar_warning, trained_on
from bot.engine.backtest import _stopped_early, resolve_window, run_backtest
from bot.engine.backtest_report import write_backtest_report
from bot.engine.backtest_request import BacktestRequest
from bot.engine.buy_and_hold import buy_and_hold
from bot.engine.data import load_bars, store_bars
from bot.engine.policy import Decision, complete, expert_weights
from bot.model.checkpoint import save_checkpoint
from bot.model.policy import load_policy
from bot.model.router_model import ModelConfig, RouterModel
from strategies import strategy_names
from strategies.long_only import LongOnly

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).parents[1] / "data" / "spx_2018_2019_random_seed7.json"
SLICE = BacktestRequest(
    symbol="SPX", policy="random", seed=7, start=date(2018, 1, 1), end=date(2019, 12, 31)
)


def test_pnl_of_strategies_sums_to_equity_change():
    result = run_backtest(replace(SLICE, policy="uniform"), load_policy)

    change = result.equity.iloc[-1] - result.equity.iloc[0]
    assert result.equity.iloc[0] == pytest.approx(SLICE.capital, rel=1e-12)
    # The account books each fill's money in cents; the strategies' ledgers keep fractional
    # units unrounded: they may differ by up to a cent per fill, no more.
    assert result.pnl.iloc[-1].sum() == pytest.approx(change, abs=0.01 * len(result.fills))
    assert len(result.fills) > 50
    assert result.metrics["costs"] == pytest.approx(result.fills["commission"].sum())


def test_router_decides_every_window_from_start():
    result = run_backtest(replace(SLICE, window=20), load_policy)

    decisions = result.weights.index
    bars = result.bars.index
    assert decisions[0] == bars[0] + pd.Timedelta(days=1)  # the first traded bar's close
    positions = np.searchsorted(bars + pd.Timedelta(days=1), decisions)
    assert set(np.diff(positions)) == {20}
    assert np.allclose(result.weights.sum(axis=1), 1.0)
    assert result.weights.std().min() > 0  # random weights change between windows


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_buy_and_hold_enters_at_the_strategies_first_fill(fill):
    result = run_backtest(replace(SLICE, policy="single:LongOnly", fill=fill), load_policy)

    curve, hold = buy_and_hold(result.bars, result.request)

    first = result.fills.iloc[0]
    assert hold["ts"].iloc[0] == first["ts"].floor("D")  # the same bar (the engine adds 1 ns)
    assert hold["price"].iloc[0] == pytest.approx(first["price"], abs=0.01)  # tick rounding
    assert curve.index.equals(result.equity.index)  # both stamped at bar closes
    assert (curve.iloc[0] == SLICE.capital) == (fill == "next_open")  # holds from the fill


def test_golden_statistics_are_reproduced():
    result = run_backtest(SLICE, load_policy)

    if os.environ.get("BOT_RECORD_GOLDEN"):
        GOLDEN.write_text(json.dumps(result.metrics, indent=2, sort_keys=True))
    expected = json.loads(GOLDEN.read_text())
    assert expected.keys() == result.metrics.keys()
    for key, value in expected.items():
        assert result.metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_no_look_ahead_changing_future_bars_keeps_past_decisions(tmp_path):
    request = replace(SLICE, catalog=str(tmp_path))
    shift = pd.Timestamp("2019-01-01", tz="UTC")
    original = load_bars("SPX")
    future = original.index >= shift
    altered = original.copy()
    rng = np.random.default_rng(0)
    noise = np.exp(np.cumsum(rng.normal(0.0, 0.02, future.sum())))
    for column in ("open", "high", "low", "close"):
        altered.loc[future, column] *= noise
    altered.loc[future, "volume"] *= 3.0
    store_bars(altered, "SPX", "index", "1d", policy="strict", catalog_dir=tmp_path)

    base = run_backtest(SLICE, load_policy)
    changed = run_backtest(request, load_policy)

    def before(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
        return frame[frame.index < shift]

    past = base.fills[base.fills["ts"] < shift].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        past, changed.fills[changed.fills["ts"] < shift].reset_index(drop=True)
    )
    pd.testing.assert_series_equal(before(base.equity), before(changed.equity))
    pd.testing.assert_frame_equal(before(base.weights), before(changed.weights))
    assert len(past) > 20
    after = base.fills[base.fills["ts"] >= shift].reset_index(drop=True)
    assert not after.equals(changed.fills[changed.fills["ts"] >= shift].reset_index(drop=True))


def test_failing_strategy_is_flattened_and_the_run_continues(monkeypatch, tmp_path):
    calls = {"n": 0}
    failure_bar = REQUIRED_BARS + 150  # LongOnly decides from the first warm-up bar on

    def exploding(self, window):
        calls["n"] += 1
        if calls["n"] >= failure_bar:
            raise RuntimeError("boom in on_bar")
        return 1.0

    monkeypatch.setattr(LongOnly, "decide", exploding)

    result = run_backtest(replace(SLICE, policy="uniform"), load_policy)
    metrics = write_backtest_report([result], tmp_path)

    assert result.flags == ["LongOnly failed and was flattened: RuntimeError: boom in on_bar"]
    fills = result.fills
    longonly = fills[fills["strategy"] == "LongOnly"]
    assert longonly["side"].tolist()[0] == "BUY" and longonly["side"].tolist()[-1] == "SELL"
    net = np.where(longonly["side"] == "BUY", 1, -1) @ longonly["qty"].to_numpy()
    assert net == pytest.approx(0.0)
    failed_at = longonly["ts"].iloc[-1]
    others = fills[(fills["strategy"] != "LongOnly") & (fills["ts"] > failed_at)]
    assert len(others) > 10  # the rest kept trading
    assert result.pnl["LongOnly"][result.pnl.index > failed_at].nunique() == 1
    assert "LongOnly failed" in (tmp_path / "index.html").read_text()
    assert "LongOnly failed" in json.loads((tmp_path / "metrics.json").read_text())["flags"][0]
    assert list(metrics) == ["uniform", "buy_and_hold"]


@pytest.mark.parametrize(
    ("request_", "error", "needle"),
    [
        (replace(SLICE, symbol="NOPE"), DataError, "Available"),
        (replace(SLICE, start=date(1950, 1, 1)), DataError, "1982-04-20"),
        (replace(SLICE, policy="fixed", weights={"LongOnly": 0.5}), ConfigError, "sums to"),
        (replace(SLICE, policy="fixed", weights={"Nope": 1.0}), ConfigError, "unknown strat"),
        (replace(SLICE, policy="sometimes"), ConfigError, "Unknown router policy"),
        (replace(SLICE, start=date(2020, 3, 5), end=date(2020, 3, 2)), DataError, "swap them"),
        # A weekend holds no bar, a Monday alone one: nothing to fill an order at.
        (replace(SLICE, start=date(2020, 1, 4), end=date(2020, 1, 5)), DataError, "has 0 bar"),
        (replace(SLICE, start=date(2020, 3, 2), end=date(2020, 3, 2)), DataError, "has 1 bar"),
    ],
)
def test_bad_input_gives_clear_errors(request_, error, needle):
    with pytest.raises(error, match=needle):
        run_backtest(request_, load_policy)


def test_the_default_start_is_clamped_to_the_first_bar_of_shorter_data():
    bars = pd.DataFrame(index=pd.date_range("2020-01-01", "2022-03-23", freq="D", tz="UTC"))
    short = BacktestRequest(symbol="X", years=10)  # more years than the data holds

    assert resolve_window(bars, short) == (bars.index[0], bars.index[-1])
    assert resolve_window(bars, replace(short, end=date(2021, 12, 31)))[0] == bars.index[0]
    # Data longer than `years` keeps its last `years`; an explicit start before the data, or an
    # end before it, is still refused.
    assert resolve_window(bars, replace(short, years=1))[0] == pd.Timestamp("2021-03-23", tz="UTC")
    for outside in (replace(short, start=date(2019, 1, 1)), replace(short, end=date(2019, 1, 1))):
        with pytest.raises(DataError, match="has data from 2020-01-01 to 2022-03-23"):
            resolve_window(bars, outside)


def test_an_end_day_includes_every_intraday_bar_of_that_day():
    bars = pd.DataFrame(index=pd.date_range("2021-10-01", "2021-10-25", freq="15min", tz="UTC"))
    days = {"start": date(2021, 10, 1), "end": date(2021, 10, 20)}
    request = BacktestRequest(symbol="X", bar="15m", **days)

    start, end = resolve_window(bars, request)

    traded = bars.index[(bars.index >= start) & (bars.index <= end)]
    assert traded[0] == pd.Timestamp("2021-10-01", tz="UTC")
    assert traded[-1] == pd.Timestamp("2021-10-20 23:45", tz="UTC")  # not its 00:00 bar alone


def test_every_strategy_is_reported():
    result = run_backtest(replace(SLICE, policy="uniform"), load_policy)

    assert list(result.pnl.columns) == list(strategy_names())
    assert list(result.weights.columns) == list(strategy_names())


@pytest.mark.parametrize(
    ("symbol", "strategy"), [("SPX", "Turtle"), ("SPX", "KDJ"), ("BTCUSD", "ATRBreakout")]
)
def test_a_single_strategy_run_builds_only_it_and_trades_as_among_the_eleven(symbol, strategy):
    span = {"start": date(2020, 9, 1), "end": date(2021, 10, 27)} if symbol == "BTCUSD" else {}
    single = replace(SLICE, symbol=symbol, policy=f"single:{strategy}", **span)

    alone = run_backtest(single, load_policy)
    among = run_backtest(replace(single, policy="fixed", weights={strategy: 1.0}), load_policy)

    assert list(alone.pnl.columns) == [strategy] and len(among.pnl.columns) == 11
    assert len(alone.fills) > 5 and alone.fills["strategy"].eq(strategy).all()
    pd.testing.assert_series_equal(alone.equity, among.equity, check_exact=True)
    pd.testing.assert_series_equal(alone.pnl[strategy], among.pnl[strategy], check_exact=True)


def test_a_model_trained_on_other_bars_is_flagged():
    request = BacktestRequest(
        symbol="BTCUSD",
        bar="15m",
        start=date(2021, 11, 1),
        end=date(2021, 11, 10),
        policy="model:models/daily-equities",
    )

    result = run_backtest(request, load_policy)

    mismatch = [flag for flag in result.flags if flag.startswith("MODEL MISMATCH")]
    assert mismatch and "trained on 1d bars" in mismatch[0] and "trades 15m bars" in mismatch[0]
    shipped = "model:models/daily-equities"
    assert trained_bar_warning(shipped, trained_on(shipped), "1d") is None
    assert trained_on("uniform") is None
    assert trained_bar_warning("uniform", trained_on("uniform"), "15m") is None


def test_a_model_trained_on_the_same_prices_under_another_name_is_flagged(tmp_path):
    # A checkpoint that saw SPX 2018-2019, routing the same bars renamed OTHER.
    spx = load_bars("SPX", "1d")
    store_bars(spx, "OTHER", "index", "1d", policy="strict", catalog_dir=tmp_path)
    seen = spx.loc["2018":"2019", "close"]
    save_checkpoint(RouterModel(ModelConfig(text_encoder="hashed")), tmp_path / "ckpt",
                    prices=fingerprint(seen))  # fmt: skip
    request = replace(SLICE, symbol="OTHER", policy=f"model:{tmp_path / 'ckpt'}",
                      catalog=str(tmp_path), end=date(2018, 3, 31))  # fmt: skip

    flagged = run_backtest(request, load_policy).flags
    later = run_backtest(
        replace(request, start=date(2021, 1, 1), end=date(2021, 3, 31)), load_policy
    ).flags

    assert any(flag.startswith("IN-SAMPLE") and "fingerprint" in flag for flag in flagged)
    assert not any(flag.startswith("IN-SAMPLE") for flag in later)


class _PromptRecorder:
    """A model-like policy that keeps the prompts it is shown and holds LongOnly."""

    needs_observation, needs_context = True, False
    observation, stats = ObservationConfig(), None

    def __init__(self, spec) -> None:
        self.name, self.prompts = spec.name, []

    def decide(self, observation=None, context=None) -> Decision:
        self.prompts.append(observation.prompt)
        return Decision(complete({"LongOnly": 1.0}), expert_weights({"LongOnly": 1.0}), self.name)


def test_the_prompts_account_line_follows_the_backtest_portfolio():
    recorder = {}
    request = replace(SLICE, policy="model:recorder", start=date(2019, 1, 1), end=date(2019, 4, 30))

    result = run_backtest(request, lambda spec: recorder.setdefault("p", _PromptRecorder(spec)))

    lines = [line for p in recorder["p"].prompts for line in p.splitlines() if "Account" in line]
    assert lines[0] == "Account balance: $100000.00, Shares held: 0, Total value: $100000.00"
    held = [float(line.split("Shares held: ")[1].split(",")[0]) for line in lines]
    assert len(lines) >= 3 and all(units > 0 for units in held[1:])
    balance, total = (float(lines[-1].split(f"{key}: $")[1].split(",")[0])
                      for key in ("Account balance", "Total value"))  # fmt: skip
    assert total == pytest.approx(float(result.equity.iloc[-1]), rel=0.05)
    assert 0 <= balance < total  # LongOnly holds nearly all of it


def test_a_run_the_engine_stopped_early_is_flagged_not_passed_off_as_the_whole_span():
    # nautilus stops a backtest when a cash account's balance goes below zero (seen: the
    # momentum router on BTCUSD 2020-12 .. 2021-10 stopped at 2021-02-21, 81 of 330 days).
    opens = pd.date_range("2021-01-01", periods=10, freq="D", tz="UTC")
    traded = pd.DataFrame({"close": 1.0}, index=opens)
    closes = opens + pd.Timedelta(days=1)  # the actor records equity at bar closes
    whole = pd.DataFrame({"equity": 1.0}, index=closes)

    assert _stopped_early(whole, traded, "1d") == []
    cut = _stopped_early(whole.iloc[:4], traded, "1d")
    assert len(cut) == 1 and cut[0].startswith("STOPPED EARLY")
    assert "2021-01-05 00:00 UTC" in cut[0] and "2021-01-10" in cut[0]
    assert _stopped_early(whole.iloc[:0], traded, "1d")[0].startswith("STOPPED EARLY")
