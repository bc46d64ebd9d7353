"""The trade list: closed positions per strategy with their entry and exit rules."""

import pandas as pd
import pytest

from bot.core.metrics import round_trips
from bot.core.trades import TRADE_COLUMNS, trade_list


def _fills(rows: list[tuple]) -> pd.DataFrame:
    columns = ["ts", "strategy", "side", "qty", "price", "commission", "reason"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def test_a_layered_trade_a_flip_and_an_open_position():
    # Arrange: RSI buys 2, adds 1, sells 3; MACross buys 1, flips short with a sell of 3
    # (closing 1, opening 2: the commission split 1/3 : 2/3), and is still short at the end.
    fills = _fills(
        [
            ("2024-01-01", "RSI", "BUY", 2.0, 10.0, 0.2, "RSI oversold"),
            ("2024-01-02", "MACross", "BUY", 1.0, 50.0, 0.3, "golden cross"),
            ("2024-01-03", "RSI", "BUY", 1.0, 13.0, 0.1, "RSI more extreme"),
            ("2024-01-04", "RSI", "SELL", 3.0, 12.0, 0.3, "profit target"),
            ("2024-01-05", "MACross", "SELL", 3.0, 47.0, 0.9, "death cross while falling"),
        ]
    )

    # Act
    trades = trade_list(fills)

    # Assert
    assert list(trades.columns) == list(TRADE_COLUMNS)
    rsi, macross = trades.iloc[0], trades.iloc[1]
    assert (rsi["strategy"], rsi["side"], rsi["size"]) == ("RSI", "long", 3.0)
    assert rsi["entry"] == pytest.approx(11.0) and rsi["exit"] == 12.0
    assert rsi["pnl"] == pytest.approx(3 * 12 - (2 * 10 + 13) - 0.6)
    assert (rsi["open_reason"], rsi["close_reason"]) == ("RSI oversold", "profit target")
    assert rsi["opened"] == pd.Timestamp("2024-01-01", tz="UTC")
    assert macross["pnl"] == pytest.approx(47 - 50 - 0.3 - 0.3)
    assert macross["close_reason"] == "death cross while falling"
    assert len(trades) == 2  # the short opened by the flip is still open
    assert trades["pnl"].tolist() == pytest.approx(round_trips(fills))


def test_fills_without_reasons_or_any_fills():
    fills = _fills(
        [
            ("2024-01-01", "Turtle", "SELL", 1.0, 5.0, 0.0, ""),
            ("2024-01-02", "Turtle", "BUY", 1.0, 4.0, 0.0, ""),
        ]
    )

    trades = trade_list(fills.drop(columns="reason"))

    assert trades.iloc[0]["side"] == "short" and trades.iloc[0]["pnl"] == pytest.approx(1.0)
    assert trades.iloc[0]["open_reason"] == ""
    assert trade_list(fills.iloc[:0]).empty
