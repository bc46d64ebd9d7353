"""The trade list: each closed position of each strategy, from its fills (`bot.core.metrics`'
fills schema, with an optional `reason` column: the rule that sent each order).

A trade is a run of one strategy's fills from flat back to flat. A fill that crosses zero closes
the trade with its closing part (commission split pro rata) and opens the next with the rest.
A position still open at the end is not a trade yet.
"""

from dataclasses import dataclass

import pandas as pd

_FLAT = 1e-9  # a position this small, relative to the fill's size, is flat (float residue)
TRADE_COLUMNS = (
    "strategy",
    "side",
    "opened",
    "closed",
    "entry",
    "exit",
    "size",
    "pnl",
    "open_reason",
    "close_reason",
)


@dataclass
class _Open:
    side: int
    opened: pd.Timestamp
    reason: str
    units: float = 0.0
    cash: float = 0.0
    bought: float = 0.0  # units and notional added in the trade's direction, for its entry price
    notional: float = 0.0
    size: float = 0.0


def trade_list(fills: pd.DataFrame) -> pd.DataFrame:
    """One row per closed trade (`TRADE_COLUMNS`), strategy by strategy, each in time order.

    side is "long" or "short"; entry is the average price of the fills that built the
    position, exit the price of the fill that closed it; size the largest position in units;
    pnl the net PnL after commissions (account currency); the reasons are those of the opening
    and closing fills ("" without a `reason` column).
    """
    rows: list[tuple] = []
    if len(fills):
        ordered = fills.sort_values("ts", kind="stable")
        if "reason" not in ordered:
            ordered = ordered.assign(reason="")
        for strategy, group in ordered.groupby("strategy", sort=False):
            rows += _trades_of(str(strategy), group)
    return pd.DataFrame(rows, columns=list(TRADE_COLUMNS))


def _trades_of(strategy: str, fills: pd.DataFrame) -> list[tuple]:
    rows, trade = [], None
    columns = fills[["ts", "side", "qty", "price", "commission", "reason"]]
    for ts, side, qty, price, fee, reason in columns.itertuples(index=False):
        signed = qty if str(side).upper() == "BUY" else -qty
        reason = "" if pd.isna(reason) else str(reason)
        if trade is None:
            trade = _Open(1 if signed > 0 else -1, ts, reason)
        units = trade.units + signed
        if trade.units * units < 0 and abs(units) > _FLAT * qty:  # crosses zero: close, reopen
            closing = -trade.units / signed
            pnl = trade.cash + trade.units * price - fee * closing
            rows.append(_row(strategy, trade, ts, price, pnl, reason))
            trade = _Open(-trade.side, ts, reason)
            _book(trade, units, price, fee * (1 - closing))
            continue
        _book(trade, signed, price, fee)
        if abs(trade.units) <= _FLAT * qty:
            rows.append(_row(strategy, trade, ts, price, trade.cash, reason))
            trade = None
    return rows


def _book(trade: _Open, signed: float, price: float, fee: float) -> None:
    trade.units += signed
    trade.cash -= signed * price + fee
    if signed * trade.side > 0:
        trade.bought += abs(signed)
        trade.notional += abs(signed) * price
    trade.size = max(trade.size, abs(trade.units))


def _row(strategy: str, trade: _Open, ts, price: float, pnl: float, reason: str) -> tuple:
    entry = trade.notional / trade.bought if trade.bought else price
    side = "long" if trade.side > 0 else "short"
    return (strategy, side, trade.opened, ts, entry, price, trade.size, pnl, trade.reason, reason)
