"""The peer: the same eleven rules in backtrader, uniform weights, orders included.

Each strategy is one `bt.Strategy` in one Cerebro sharing one broker, so, as in our engine, every
strategy keeps its own holding (tracked from its own fills) and orders only the difference to
its target, weight x equity x signal / price, with the same 10% tolerance band. Orders fill at
the bar's close (cheat-on-close; ours fill at the next open) with 10 bps commission and 1 bp
slippage.

What differs from ours (strategies/*.py), kept simple on purpose, so the peer does LESS work:
the entry/exit rules below are the core signal of each algorithm without pyramided layers or
ATR stops, and there is no router actor (static uniform weights, no equity curve recording).

backtrader is not a dependency of the project: `python -m benchmarks` installs it into
var/bench-deps (`pip install --target`) and only this module's process puts that on sys.path.
"""

import sys

import pandas as pd

from benchmarks.common import PEER_DEPS

sys.path.insert(0, str(PEER_DEPS.resolve()))

import backtrader as bt  # noqa: E402

STRATEGIES = (
    "MACross", "Momentum", "Turtle", "Bollinger", "RSI", "KDJ",
    "VolumeBreakout", "ATRBreakout", "LongOnly", "ShortOnly", "Cash",
)  # fmt: skip
TOLERANCE = 0.1


class Rule(bt.Strategy):
    """One of the eleven rules as a target exposure in [-1, 1], sized like RoutedStrategy."""

    params = (("rule", "Cash"), ("weight", 1.0 / len(STRATEGIES)))

    def __init__(self) -> None:
        d = self.data
        self.units = 0.0
        self.side = 0.0
        self.fast, self.slow = bt.ind.SMA(d.close, period=5), bt.ind.SMA(d.close, period=20)
        self.roc = bt.ind.ROC(d.close, period=10)
        self.hi20, self.lo20 = bt.ind.Highest(d.high, period=20), bt.ind.Lowest(d.low, period=20)
        self.hi10, self.lo10 = bt.ind.Highest(d.high, period=10), bt.ind.Lowest(d.low, period=10)
        self.boll = bt.ind.BollingerBands(d.close, period=20, devfactor=1.8)
        self.rsi = bt.ind.RSI(d.close, period=14)
        self.kd = bt.ind.Stochastic(d, period=9, period_dfast=3, period_dslow=3)
        self.vol5 = bt.ind.SMA(d.volume, period=5)
        self.atr = bt.ind.ATR(d, period=20)

    def next(self) -> None:
        self.side = getattr(self, f"_{self.p.rule}")()
        price = self.data.close[0]
        equity = self.broker.getvalue()
        target = self.p.weight * equity * self.side / price
        change = target - self.units
        closing = target == 0 and self.units != 0
        if closing or abs(change) * price >= TOLERANCE * self.p.weight * equity:
            if change > 0:
                self.buy(size=change)
            elif change < 0:
                self.sell(size=-change)

    def notify_order(self, order) -> None:
        if order.status == order.Completed:
            self.units += order.executed.size

    def _MACross(self) -> float:
        return 1.0 if self.fast[0] > self.slow[0] else -1.0

    def _Momentum(self) -> float:
        roc = self.roc[0]
        return 1.0 if roc > 0.02 else -1.0 if roc < -0.02 else self.side

    def _Turtle(self) -> float:
        close = self.data.close[0]
        if close > self.hi20[-1]:
            return 1.0
        if close < self.lo20[-1]:
            return -1.0
        exit_long = self.side > 0 and close < self.lo10[-1]
        exit_short = self.side < 0 and close > self.hi10[-1]
        return 0.0 if exit_long or exit_short else self.side

    def _Bollinger(self) -> float:
        close, band = self.data.close[0], self.boll
        if close < band.bot[0]:
            return 1.0
        if close > band.top[0]:
            return -1.0
        mid = band.mid[0]
        crossed = (self.side > 0 and close >= mid) or (self.side < 0 and close <= mid)
        return 0.0 if crossed else self.side

    def _RSI(self) -> float:
        rsi = self.rsi[0]
        if rsi < 35:
            return 1.0
        if rsi > 65:
            return -1.0
        return 0.0 if (self.side > 0 and rsi > 50) or (self.side < 0 and rsi < 50) else self.side

    def _KDJ(self) -> float:
        k, d = self.kd.percK[0], self.kd.percD[0]
        j = 3 * k - 2 * d
        return 1.0 if j < 10 or k < 20 else -1.0 if j > 90 or k > 80 else self.side

    def _VolumeBreakout(self) -> float:
        d = self.data
        loud = d.volume[0] > 1.5 * self.vol5[-1]
        if loud and d.close[0] > self.hi20[-1]:
            return 1.0
        if loud and d.close[0] < self.lo20[-1]:
            return -1.0
        inside = (self.side > 0 and d.close[0] < self.slow[0]) or (
            self.side < 0 and d.close[0] > self.slow[0]
        )
        return 0.0 if inside else self.side

    def _ATRBreakout(self) -> float:
        close, mid, band = self.data.close[0], self.slow[0], 1.5 * self.atr[0]
        if close > mid + band:
            return 1.0
        if close < mid - band:
            return -1.0
        back = (self.side > 0 and close < mid) or (self.side < 0 and close > mid)
        return 0.0 if back else self.side

    def _LongOnly(self) -> float:
        return 1.0

    def _ShortOnly(self) -> float:
        return -1.0

    def _Cash(self) -> float:
        return 0.0


def run_peer(frame: pd.DataFrame, capital: float = 100_000.0) -> dict:
    """Run the eleven rules on `frame` (open, high, low, close, volume); fills and final value."""
    cerebro = bt.Cerebro(stdstats=False)
    naive = frame.set_axis(frame.index.tz_localize(None))
    cerebro.adddata(bt.feeds.PandasData(dataname=naive, openinterest=None))
    for name in STRATEGIES:
        cerebro.addstrategy(Rule, rule=name)
    broker = cerebro.broker
    broker.setcash(capital)
    broker.setcommission(commission=0.001)
    broker.set_slippage_perc(0.0001)
    broker.set_coc(True)
    broker.set_checksubmit(False)
    strategies = cerebro.run()
    fills = sum(len([o for o in s._orders if o.status == o.Completed]) for s in strategies)
    return {"fills": fills, "final_value": broker.getvalue()}
