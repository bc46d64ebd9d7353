"""The routed-strategy base: sizing, flips, the tolerance band, weights, failures, accounting."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from nautilus_trader.common.component import flush_logger
from nautilus_trader.config import PositiveInt
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import Price

from bot.core.errors import ConfigError
from strategies import build_strategies, strategy_names
from strategies.base import RoutedStrategy, RoutedStrategyConfig
from strategies.long_only import LongOnly
from tests.strategies import patterns
from tests.strategies.harness import (
    bar_type_for,
    crypto_instrument,
    expected_fill_bars,
    frame,
    make_strategy,
    run,
    to_bars,
)


class ScriptedConfig(RoutedStrategyConfig, kw_only=True, frozen=True):
    warmup_bars: PositiveInt = 1
    script: tuple[float, ...] = ()


class Scripted(RoutedStrategy):
    """Plays a fixed exposure per bar (the last one repeats)."""

    def decide(self, window):
        script = self.config.script
        return script[min(window.count, len(script)) - 1]


class Exploding(LongOnly):
    """Long like LongOnly, until its 31st bar raises; remembers when it was first stopped."""

    stopped_ns: int | None = None

    def on_stop(self) -> None:
        if self.stopped_ns is None:
            self.stopped_ns = self.clock.timestamp_ns()

    def decide(self, window):
        if window.count == 31:
            raise RuntimeError("boom")
        return 1.0


def _scripted(instrument, script, **overrides):
    return Scripted(
        ScriptedConfig(
            instrument_id=instrument.id,
            bar_type=bar_type_for(instrument),
            script=tuple(script),
            **overrides,
        )
    )


def _ramp(n=60, step=0.01):
    return frame(100.0 * (1 + step) ** np.arange(n))


def test_flip_closes_then_opens_and_keeps_the_closed_legs_pnl(stock):
    strategy = _scripted(stock, [1.0] * 20 + [-1.0] * 20)

    result = run(stock, _ramp(40), [strategy], {0: {"Scripted": 0.5, "Cash": 0.5}})

    fills = result.fills_of("Scripted")
    at_flip = fills[fills["bar"] == 20]["qty"].tolist()
    held = result.held("Scripted")
    assert len(at_flip) == 2  # two orders, never one that flips
    assert at_flip[0] == -held[19]  # the first closes the long exactly
    assert at_flip[1] == pytest.approx(-0.5 * result.equity[20] / result.close[20], abs=1.0)
    closed = [p for p in result.positions["Scripted"] if p.is_closed]
    assert len(closed) == 1 and closed[0].realized_pnl.as_double() > 0  # the long's gain is kept


def test_drift_inside_the_tolerance_band_is_not_traded(stock):
    strategy = _scripted(stock, [1.0])

    result = run(stock, _ramp(60), [strategy], {0: {"Scripted": 0.5, "Cash": 0.5}})

    exposure = np.ones(60)
    bars = result.fills_of("Scripted")["bar"].tolist()
    assert bars == expected_fill_bars(result, "Scripted", exposure, 0.5)
    assert bars[0] == 0 and 2 <= len(bars) < 10  # a few rebalances as price drifts, no churn


def test_zero_tolerance_rebalances_every_bar(stock):
    strategy = _scripted(stock, [1.0], tolerance=0.0)

    result = run(stock, _ramp(30), [strategy], {0: {"Scripted": 0.5, "Cash": 0.5}})

    assert result.fills_of("Scripted")["bar"].nunique() == 30


@pytest.mark.parametrize("actor_first", [True, False])
def test_a_new_weight_is_traded_on_its_bar_whatever_the_handler_order(stock, actor_first):
    df = patterns.trend_then_crash()
    schedule = {0: {"LongOnly": 0.2, "Cash": 0.8}, 30: {"LongOnly": 0.6, "Cash": 0.4}}

    result = run(stock, df, [make_strategy("LongOnly", stock)], schedule, actor_first=actor_first)

    held = result.held("LongOnly")
    assert 30 in result.fills_of("LongOnly")["bar"].tolist()
    assert held[30] == pytest.approx(0.6 * result.equity[30] / result.close[30], abs=1.0)
    assert held[29] == pytest.approx(0.2 * result.equity[29] / result.close[29], rel=0.1)


def test_a_failing_strategy_is_flattened_and_stopped_while_the_others_trade(stock):
    df = patterns.trend_then_crash()
    exploding = Exploding(make_strategy("LongOnly", stock).config)
    survivor = make_strategy("LongOnly", stock)
    schedule = {
        0: {"Exploding": 0.5, "LongOnly": 0.5},
        40: {"Exploding": 0.2, "LongOnly": 0.8},
    }

    result = run(stock, df, [exploding, survivor], schedule)

    assert exploding.failure == "RuntimeError: boom"
    assert exploding.stopped_ns == df.index[30].value  # stopped on the failing bar, not at the end
    held = result.held("Exploding")
    assert held[29] > 0 and np.all(held[30:] == 0)  # flattened on the failing bar
    assert survivor.failure is None and survivor.window.count == len(df)
    assert 40 in result.fills_of("LongOnly")["bar"].tolist()  # still trading after it


def _log_refusals() -> None:
    # Run by the test below in a fresh process, at log level WARNING (nautilus' Rust logger is
    # set up once per process, by its first engine): the strategy's warnings go to stdout.
    # BTC/USDT at about 1,000 with Binance-like minimums: 0.001 BTC and 10 USDT.
    spec = CurrencyPair.to_dict(crypto_instrument())
    btc = CurrencyPair.from_dict(spec | {"min_quantity": "0.001", "min_notional": "10.00 USDT"})
    strategy = _scripted(btc, [1.0], tolerance=0.0)
    # Bars 0-2: a buy of ~0.0005 BTC, below the minimum quantity; bar 3: weight 0, no order;
    # bars 4-5: that buy again; bars 6-8: ~5 USDT, below the minimum notional; bar 9: ~100
    # USDT, sent; bars 10-12: a sell of ~5 USDT, below the minimum notional again. The price
    # drifts, so each refused quantity differs a little from the bar before.
    weights = {0: 0.00005, 3: 0.0, 4: 0.00005, 6: 0.0005, 9: 0.01, 10: 0.0095}
    schedule = {bar: {"Scripted": w, "Cash": 1 - w} for bar, w in weights.items()}
    df = frame(1_000.0 + 0.5 * np.arange(13))

    result = run(btc, df, [strategy], schedule, capital=10_000.0, log_level="WARNING")

    flush_logger()
    refused = {"count": strategy.below_minimum, "held_back": strategy.held_back}
    print("RESULT", json.dumps(refused | {"fill_bars": result.fills["bar"].tolist()}), flush=True)


@pytest.mark.integration  # a subprocess
def test_a_refusal_is_logged_when_it_starts_or_changes_not_on_each_bar_it_repeats():
    # Arrange
    root = Path(__file__).resolve().parents[2]
    script = "from tests.strategies.test_base import _log_refusals; _log_refusals()"

    # Act
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120
    )

    # Assert: 11 bars refused, 4 warnings: the first refusal, the same after a bar that needed
    # no order, its new reason, and the same reason after an order went out.
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 0, "\n".join(lines[-30:])
    result = json.loads(next(line for line in lines if line.startswith("RESULT "))[7:])
    logged = [line for line in lines if "[WARN]" in line and " not sent: " in line]
    warned = [line.split("Scripted: order of ")[1] for line in logged]
    assert result["fill_bars"] == [9] and result["count"] == 11
    assert len(warned) == 4, warned
    assert warned[0].startswith("0.000500 not sent: quantity 0.000500 is below")
    assert warned[1].startswith("0.000499 not sent: quantity 0.000499 is below")
    assert warned[2].startswith("0.004985 not sent: notional 5.00 is below")
    assert warned[3].startswith("-0.005025 not sent: notional 5.05 is below")
    assert result["held_back"].startswith("order of -0.005118 not sent: notional 5.15")  # bar 12


def test_cash_account_buys_leave_the_reserve_for_fees_and_slippage(btc):
    df = frame(np.full(10, 30_000.0))
    strategy = make_strategy("LongOnly", btc, long_only=True)

    result = run(btc, df, [strategy], {0: {"LongOnly": 1.0}}, account="cash", slippage_bps=5.0)

    fills = result.fills_of("LongOnly")
    spent = (fills["qty"] * fills["price"] + fills["commission"]).sum()
    assert len(fills) == 1 and fills["bar"][0] == 0
    assert 0.985 * 100_000 < spent < 100_000  # 1% of the free cash is kept back


class First(Scripted):
    pass


class Second(Scripted):
    pass


def test_buys_on_one_bar_share_one_cash_reserve(btc):
    # LongOnly holds all the capital, then the weights move to two others: its sale is not
    # settled when they buy, so both buy from the 1% reserve left free. Each keeping 1% of what
    # the other left would spend it (nautilus then stops the run: AccountBalanceNegative).
    df = frame(np.full(12, 30_000.0))
    long_only = make_strategy("LongOnly", btc, long_only=True)
    first, second = (
        cls(ScriptedConfig(instrument_id=btc.id, bar_type=bar_type_for(btc), script=(1.0,)))
        for cls in (First, Second)
    )
    schedule = {0: {"LongOnly": 1.0}, 5: {"First": 0.5, "Second": 0.5}}

    result = run(btc, df, [first, second, long_only], schedule, account="cash", slippage_bps=5.0)

    bought = result.fills[(result.fills["bar"] == 5) & (result.fills["qty"] > 0)]
    spent = (bought["qty"] * bought["price"] + bought["commission"]).sum()
    assert 0 < spent < 0.01 * result.equity[4]  # within the reserve the first buy left free
    assert len(result.equity) == len(df)  # the run reached the last bar
    assert result.held("First")[-1] > 0 and result.held("Second")[-1] > 0


def _conservation(result, instrument):
    """(realised + unrealised - costs, ledger PnL, equity change) over all strategies."""
    last = Price(result.close[-1], instrument.price_precision)
    gross, costs = 0.0, result.fills["commission"].sum()
    for positions in result.positions.values():
        for p in positions:
            fees = sum(m.as_double() for m in p.commissions())
            realised = p.realized_pnl.as_double() if p.realized_pnl is not None else 0.0
            unrealised = p.unrealized_pnl(last).as_double() if p.is_open else 0.0
            gross += realised + fees + unrealised  # nautilus nets fees out of realised PnL
    ledger = sum(s.pnl(last.as_double()) for s in result.strategies.values())
    return gross - costs, ledger, result.equity_end - 100_000.0


@pytest.mark.parametrize("account", ["margin", "cash"])
def test_strategy_pnl_sums_to_the_equity_change(stock, btc, account):
    instrument = stock if account == "margin" else btc
    df = patterns.regime()
    strategies = build_strategies(
        instrument.id, bar_type_for(instrument), long_only=account == "cash"
    )
    uniform = {name: 1 / 11 for name in strategy_names()}
    tilted = {**{name: 0.05 for name in strategy_names()}, "Turtle": 0.3, "RSI": 0.25}

    result = run(
        instrument, df, strategies, {0: uniform, 150: tilted}, account=account, slippage_bps=2.0
    )

    pnl, ledger, change = _conservation(result, instrument)
    assert result.fills["commission"].sum() > 0 and len(result.fills) > 50
    assert pnl == pytest.approx(change, rel=1e-6, abs=1e-6 * 100_000)
    assert ledger == pytest.approx(change, rel=1e-6, abs=1e-6 * 100_000)
    assert all(s.failure is None for s in strategies)


def test_history_warms_up_the_signal_without_trading(stock):
    bars = to_bars(patterns.trend_then_crash(), stock)
    live = make_strategy("MACross", stock)
    reference = make_strategy("MACross", stock)

    for bar in bars[:110]:
        live.on_historical_data(bar)  # unregistered: any order attempt would fail it
    expected = [reference.signal(bar) for bar in bars[:110]][-1]
    live.on_bar(bars[105])  # a bar already seen through history is ignored

    assert live.failure is None and live.is_warm
    assert live.target == expected == 1.0
    assert live.layers == reference.layers and live.window.count == 110


@pytest.mark.parametrize(
    "overrides", [{"oms_type": "HEDGING"}, {"tolerance": 1.5}, {"cash_reserve": 1.0}]
)
def test_config_refuses_unsafe_settings(stock, overrides):
    with pytest.raises(ConfigError):
        RoutedStrategyConfig(instrument_id=stock.id, bar_type=bar_type_for(stock), **overrides)
