"""Rules of the position expert's strategies (Algorithms 9-11)."""

import numpy as np
import pytest

from tests.strategies import patterns
from tests.strategies.harness import trade

WEIGHT = 0.4


@pytest.mark.parametrize(("name", "sign"), [("LongOnly", 1.0), ("ShortOnly", -1.0)])
def test_position_strategy_holds_its_side_from_the_first_bar(stock, name, sign):
    df = patterns.trend_then_crash()

    exposure, result = trade(name, df, stock, WEIGHT)

    assert np.all(exposure == sign)
    first = result.fills_of(name).iloc[0]
    assert first["bar"] == 0
    assert first["qty"] == pytest.approx(sign * WEIGHT * 100_000 / df["close"].iloc[0], abs=1.0)
    assert np.all(np.sign(result.held(name)) == sign)


def test_cash_never_trades(stock):
    df = patterns.trend_then_crash()

    exposure, result = trade("Cash", df, stock, WEIGHT)

    assert np.all(exposure == 0.0)
    assert result.fills_of("Cash").empty


def test_short_only_holds_nothing_when_long_only(stock):
    df = patterns.trend_then_crash()

    exposure, result = trade("ShortOnly", df, stock, WEIGHT, long_only=True)

    assert np.all(exposure == 0.0)
    assert result.fills_of("ShortOnly").empty
