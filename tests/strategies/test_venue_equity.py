"""The equity and position the strategies size with, kept from events, against the cache walk."""

from decimal import Decimal

import pytest

from strategies.equity import account_equity
from tests.strategies import patterns
from tests.strategies.harness import make_strategy, run

NAMES = ("MACross", "Turtle", "LongOnly", "ShortOnly", "Bollinger")


def _recording(strategy, seen: list) -> None:
    rebalance = strategy._rebalance

    def recorded() -> None:
        if strategy._equity is not None:
            cache = strategy.cache
            walked = account_equity(
                strategy.portfolio, cache, strategy._instrument, strategy._last_price
            )
            positions = cache.positions_open(strategy_id=strategy.id)
            held = sum((p.signed_decimal_qty() for p in positions), Decimal(0))
            kept = strategy._equity.value(strategy._last_price)
            seen.append((kept, walked, strategy._position, held))
        rebalance()

    strategy._rebalance = recorded


def test_event_kept_equity_and_position_equal_the_cache_walk_at_every_rebalance(stock):
    strategies = [
        make_strategy(name, stock, order_id_tag=f"{i:03d}") for i, name in enumerate(NAMES)
    ]
    seen: list = []
    for strategy in strategies:
        _recording(strategy, seen)
    weights = {0: dict.fromkeys(NAMES, 0.2), 150: {"ShortOnly": 0.5, "MACross": 0.5}}

    result = run(stock, patterns.regime(), strategies, weights, fill="next_open")

    assert len(result.fills) > 20 and len(seen) > 500
    traded = set(result.fills["strategy"])
    assert {"MACross", "LongOnly", "ShortOnly"} <= traded  # positions open, change and close
    for kept, walked, position, held in seen:
        assert kept == pytest.approx(walked, rel=1e-12, abs=1e-9)
        assert position == held
