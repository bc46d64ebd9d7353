"""The buy-and-hold baseline of every backtest report: all in on the first traded bar, held.

It decides on the same first bar as the router and fills the same way (`bot.engine.sim`: the
next bar's open by default), so every row of a report starts from the same price. The equity
curve is stamped at bar close times, like the engine's.
"""

import numpy as np
import pandas as pd

from bot.core.bars import bar_interval
from bot.engine.backtest_request import BacktestRequest
from bot.engine.fills import fills_frame

BUY_AND_HOLD = "buy_and_hold"


def buy_and_hold(bars: pd.DataFrame, request: BacktestRequest) -> tuple[pd.Series, pd.DataFrame]:
    """Buy all in and hold: decided on the first traded bar, as the router's first decision,
    filled as `request.fill` says with its slippage and fee. The equity curve (stamped at bar
    close times, like the engine's) and its one fill."""
    closes = bars["close"].copy()
    closes.index = bars.index + bar_interval(request.bar)
    entry = 1 if request.fill == "next_open" else 0
    if len(bars) <= entry:
        return pd.Series(request.capital, index=closes.index, name=BUY_AND_HOLD), fills_frame(None)
    column = "open" if request.fill == "next_open" else "close"
    price = bars[column].iloc[entry] * (1 + request.slippage_bps / 1e4)
    qty = request.capital / (price * (1 + request.fee_bps / 1e4))
    fill = pd.DataFrame(
        {
            "ts": [bars.index[1] if entry else closes.index[0]],  # the open, or the close
            "strategy": [BUY_AND_HOLD],
            "side": ["BUY"],
            "qty": [qty],
            "price": [price],
            "commission": [request.capital - qty * price],
        }
    )
    equity = (closes * qty).where(np.arange(len(closes)) >= entry, request.capital)
    return equity.rename(BUY_AND_HOLD), fill
