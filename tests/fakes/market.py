"""A market for tests that run nodes against the fake venues: it streams one closed 1-minute
bar per symbol every `every_s` seconds, continuing the fakes' history, until stopped."""

import threading
from datetime import timedelta

import numpy as np

from tests.fakes.waiting import kline_around
from tests.support.series import SyntheticHistory


class StreamedMarket:
    """Streams BTCUSDT klines to `binance` and AAPL bars to `alpaca` (either may be None)
    after the end of `history`, while the context is open."""

    def __init__(self, history: SyntheticHistory, binance=None, alpaca=None, every_s=0.25):
        self.history, self.binance, self.alpaca, self.every_s = history, binance, alpaca, every_s
        self.bars = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="market", daemon=True)

    def __enter__(self) -> "StreamedMarket":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        last = {s: float(self.history.frame(s, 60)["close"].iloc[-1]) for s in ("BTCUSDT", "AAPL")}
        walk = np.exp(np.cumsum(np.random.default_rng(11).normal(0.0, 0.003, 100_000)))
        while not self._stop.wait(self.every_s):
            at = self.history.end + timedelta(minutes=self.bars)
            btc, aapl = (round(last[s] * float(walk[self.bars]), 2) for s in ("BTCUSDT", "AAPL"))
            if self.binance is not None:
                self.binance.push_kline("BTCUSDT", at, kline_around(btc))
            if self.alpaca is not None:
                bar = (aapl, aapl + 0.05, aapl - 0.05, aapl, 1_000.0)
                self.alpaca.push_bar("AAPL", at, bar)
            self.bars += 1
