"""Parity: the same bars through the backtest engine and through the paper/live node against the
fake Binance USDT-M futures API give the same router decisions and the same per-strategy targets.

The node warms up from the fake's REST klines (router and strategies request history at start)
and then trades streamed closed klines; the backtest replays exactly the bars the node held, on
the instrument the node loaded, with the router starting at the node's first live bar.

Fill prices differ by design, so positions in units may differ slightly: the simulated venue
fills a market order at the next bar's open moved by `slippage_bps`, the fake at its last price
(the close of the kline it streamed, no slippage). Equity, and so the units behind a target, follow.
What is compared exactly is what the router and the strategies decide: weights per window, and
per bar each strategy's weight and signal (target exposure).
"""

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np
import pytest
from nautilus_trader.model.data import Bar

from bot.core.features import REQUIRED_BARS
from bot.core.settings_loader import load_settings
from bot.engine.assemble import assemble
from bot.engine.node import build_trading_node
from bot.engine.router import RouterActor
from bot.engine.sim import new_engine
from bot.model.policy import load_policy
from strategies import build_strategies
from strategies.base import RoutedStrategy
from tests.conftest import RedisServer
from tests.fakes.binance import FakeBinance
from tests.fakes.server import serve_in_thread
from tests.fakes.waiting import kline_around, wait_for
from tests.support.series import SyntheticHistory

pytestmark = pytest.mark.integration

KEY, SECRET = "parity-test-key", "parity-test-secret-81c2"
KLINES = "combined:btcusdt@kline_1m"
STREAMED = 12  # closed klines pushed after the warm-up history
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
FIRST_STREAMED = NOW - timedelta(minutes=STREAMED)
# The venue's REST history ends where the stream begins: 400 minutes, more than any warm-up.
HISTORY = SyntheticHistory(FIRST_STREAMED - timedelta(minutes=400), FIRST_STREAMED)
SETTINGS = {
    "venues.binance.market": "usdt_futures",
    "venues.binance.testnet": False,
    "router.policy": "model:models/daily-equities",
    "router.timeout_s": 120.0,  # a slow first inference on a busy machine must not fall back
    "router.window": 3,
    "risk.stale_after_bars": 1_000.0,  # the streamed bars are minutes old when they arrive
    "logging.level": "WARNING",
}


@pytest.fixture
def binance() -> Iterator[FakeBinance]:
    fake = FakeBinance(
        HISTORY, futures={"BTCUSDT": ("BTC", "USDT")}, api_key=KEY, api_secret=SECRET
    )
    with serve_in_thread(fake) as served:
        yield served


def _record_targets(strategies: list[RoutedStrategy]) -> dict[str, list[tuple[float, float]]]:
    """Per strategy, (weight, signal) each time it rebalances (every bar once warm)."""
    seen: dict[str, list[tuple[float, float]]] = {s.name: [] for s in strategies}
    for strategy in strategies:
        rebalance = strategy._rebalance

        def recording(strategy=strategy, rebalance=rebalance) -> None:
            seen[strategy.name].append((strategy.weight, strategy.target))
            rebalance()

        strategy._rebalance = recording
    return seen


def _streamed_closes() -> list[float]:
    last = HISTORY.frame("BTCUSDT", 60)["close"].iloc[-1]
    moves = np.random.default_rng(3).normal(0.0, 0.004, STREAMED)
    return [round(float(c), 2) for c in last * np.exp(np.cumsum(moves))]


def _run_node(binance: FakeBinance, settings) -> dict:
    loop = asyncio.new_event_loop()
    node = build_trading_node(
        settings.settings, settings.secrets, symbol="BTCUSDT", bar="1m", loop=loop,
        timeout_post_stop=0.5,
        load_policy=load_policy,
    )  # fmt: skip
    actor = next(a for a in node.trader.actors() if isinstance(a, RouterActor))
    recorder = actor.recorder
    strategies = [s for s in node.trader.strategies() if isinstance(s, RoutedStrategy)]
    targets = _record_targets(strategies)
    runner = threading.Thread(target=node.run, name="trading-node", daemon=True)
    runner.start()
    try:
        wait_for(lambda: binance.hub.listening(KLINES) > 0, 20, "the kline subscription")
        warm = min(len(HISTORY.frame("BTCUSDT", 60)), REQUIRED_BARS)
        wait_for(lambda: len(actor._history) >= warm, 20, "the router's warm-up history")
        wait_for(lambda: all(s.is_warm for s in strategies), 20, "the strategies' warm-up")
        for n, close in enumerate(_streamed_closes()):
            binance.push_kline(
                "BTCUSDT", FIRST_STREAMED + timedelta(minutes=n), kline_around(close)
            )
            # One bar at a time, each decision out before the next bar, as on a live minute feed
            wait_for(lambda n=n: len(recorder.equity) > n and actor._pending is None, 60, "a bar")
        wait_for(lambda: len(recorder.equity) >= STREAMED, 60, "the streamed bars at the router")
        instrument = node.cache.instrument(actor.config.bar_type.instrument_id)
        account = node.portfolio.account(instrument.id.venue)
        result = {
            "bars": list(reversed(node.cache.bars(actor.config.bar_type))),
            "instrument": instrument,
            "capital": account.balance_total(instrument.quote_currency).as_double(),
            "router": actor.config,
            "decisions": [(ts, d.weights, d.fallback) for ts, d in recorder.decisions],
            "targets": targets,
        }
    finally:
        asyncio.run_coroutine_threadsafe(node.stop_async(), loop).result(timeout=15)
        runner.join(timeout=10)
        node.dispose()
    return result


def _at_instrument_precision(bar: Bar, instrument) -> Bar:
    # Binance's REST klines come back at precision 8, its stream at the instrument's; the
    # simulated venue accepts only the instrument's (the values are the same).
    price = instrument.make_price
    return Bar(
        bar.bar_type,
        price(bar.open.as_double()),
        price(bar.high.as_double()),
        price(bar.low.as_double()),
        price(bar.close.as_double()),
        instrument.make_qty(bar.volume.as_double()),
        bar.ts_event,
        bar.ts_init,
    )


def _run_backtest(live: dict) -> dict:
    instrument = live["instrument"]
    bar_type = live["router"].bar_type
    engine = new_engine(
        instrument,
        [_at_instrument_precision(bar, instrument) for bar in live["bars"]],
        capital=live["capital"],
        account="margin",
        fee_bps=float(instrument.taker_fee) * 1e4,
    )
    strategies = build_strategies(instrument.id, bar_type)
    targets = _record_targets(strategies)
    # A backtest waits for each decision (background decisions are for live event loops).
    router = msgspec.structs.replace(
        live["router"], start_ns=live["decisions"][0][0], background=False
    )
    actor = assemble(engine, strategies, RouterActor(router, load_policy))
    engine.run()
    decisions = [(ts, d.weights, d.fallback) for ts, d in actor.recorder.decisions]
    engine.dispose()
    return {"decisions": decisions, "targets": targets}


@pytest.mark.slow
@pytest.mark.parametrize("background", [False, True])
def test_backtest_and_node_make_the_same_decisions_and_targets_on_the_same_bars(
    binance: FakeBinance,
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
    tmp_path,
    background: bool,
) -> None:
    """In the background (`router.background`) the node's model decides in its worker thread
    and a timer publishes the decision: the same decisions, but the strategies take the weights
    when they arrive, after the decision bar, so only the decisions are compared."""
    # Arrange
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    settings = load_settings(
        cli=SETTINGS
        | {
            "venues.binance.base_url_http": binance.base_url,
            "venues.binance.base_url_ws": binance.ws_url,
            "journal.path": str(tmp_path / "journal.sqlite"),
            "router.background": background,
        }
        | redis_server.settings()
    )

    # Act
    live = _run_node(binance, settings)
    replayed = _run_backtest(live)

    # Assert: the node decided on streamed bars only, once per window, with the model.
    # Binance stamps a kline with its close time, one millisecond before the next opens
    # (nautilus converts the milliseconds through a float: compare milliseconds).
    first_close_ms = (int(FIRST_STREAMED.timestamp()) + 60) * 1_000 - 1
    assert round(live["decisions"][0][0] / 1e6) == first_close_ms
    assert len(live["decisions"]) == STREAMED // 3
    assert not any(fallback for _, _, fallback in live["decisions"])
    assert len({json.dumps(w, sort_keys=True) for _, w, _ in live["decisions"]}) > 1
    assert replayed["decisions"] == live["decisions"]
    if background:
        return
    # Per strategy: every streamed bar's (weight, signal) pair equals the backtest's.
    for name, pairs in live["targets"].items():
        assert len(pairs) == STREAMED, name
        assert replayed["targets"][name][-STREAMED:] == pairs, name
        assert any(weight > 0 for weight, _ in pairs), name
