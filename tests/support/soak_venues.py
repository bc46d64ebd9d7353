"""What the chaos soak (`tests/engine/test_chaos_soak.py`) needs of each venue: its fake over a
history, the `bot paper` arguments and environment against it, how a bar is pushed, which hub
channel the node's bar subscription is, the order endpoint, and the venue's side of the ledger
(orders, fills, position). The faults themselves are the fakes' shared `FaultPlan` and
`StreamHub`, the same for every venue."""

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.alpaca_streams import CRYPTO_FEED, feed_channel
from tests.fakes.binance import FakeBinance
from tests.fakes.binance_trading import num
from tests.fakes.faults import FaultPlan
from tests.fakes.server import serve_in_thread
from tests.support import alpaca_node, cli
from tests.support.series import SyntheticHistory

Ohlcv = tuple[float, float, float, float, float]


@dataclass(frozen=True)
class SoakVenue:
    """One venue of the soak. `results` is its counts file in benchmarks/results; `bars` the
    hub channel of the node's bar subscription; `order_path` the order submit endpoint."""

    name: str
    symbol: str
    results: str
    bars: str
    order_path: str

    @property
    def paper(self) -> list[str]:
        """The `bot` arguments of the soaked node."""
        return ["paper", "--venue", self.name, "--symbol", self.symbol, "--bar", "1m"]

    def serve(self, history: SyntheticHistory) -> AbstractContextManager[Any]:
        """The fake over `history`, with an empty fault plan, served in a thread."""
        raise NotImplementedError

    def env(self, fake: Any) -> dict[str, str]:
        """The environment of a `bot` subprocess against `fake`, keys included."""
        raise NotImplementedError

    def push(self, fake: Any, at: datetime, ohlcv: Ohlcv) -> None:
        """Stream a closed 1-minute bar opening at `at`; the price moves to its close."""
        raise NotImplementedError

    def price(self, fake: Any) -> float:
        """The symbol's price at the fake now."""
        raise NotImplementedError

    def ledger(self, fake: Any) -> dict:
        """The venue's orders (client ids), fills (client id, trade id, side, qty) and position."""
        return fake.hub.call(self._read, fake)

    def _read(self, fake: Any) -> dict:
        raise NotImplementedError


class BinanceSoak(SoakVenue):
    def serve(self, history: SyntheticHistory) -> AbstractContextManager[FakeBinance]:
        futures = {self.symbol: ("BTC", "USDT")}
        keys = {"api_key": cli.KEY, "api_secret": cli.SECRET}
        return serve_in_thread(FakeBinance(history, FaultPlan(), futures=futures, **keys))

    def env(self, fake: FakeBinance) -> dict[str, str]:
        return cli.bot_env(fake)

    def push(self, fake: FakeBinance, at: datetime, ohlcv: Ohlcv) -> None:
        fake.push_kline(self.symbol, at, ohlcv)

    def price(self, fake: FakeBinance) -> float:
        return fake.hub.call(lambda: fake.futures.book.prices[self.symbol])

    def _read(self, fake: FakeBinance) -> dict:
        book = fake.futures.book
        return {
            "orders": [o.client_id for o in book.orders.values()],
            "fills": [
                (t.order.client_id, str(t.trade_id), t.order.side.upper(), float(num(t.qty)))
                for t in fake.futures.trades
            ],
            "position": book.position(self.symbol).qty,
        }


class AlpacaSoak(SoakVenue):
    def serve(self, history: SyntheticHistory) -> AbstractContextManager[FakeAlpaca]:
        keys = {"key_id": alpaca_node.KEY, "secret_key": alpaca_node.SECRET}
        return serve_in_thread(FakeAlpaca(history, FaultPlan(), **keys))

    def env(self, fake: FakeAlpaca) -> dict[str, str]:
        return alpaca_node.alpaca_bot_env(fake)

    def push(self, fake: FakeAlpaca, at: datetime, ohlcv: Ohlcv) -> None:
        fake.push_bar(self.symbol, at, ohlcv)

    def price(self, fake: FakeAlpaca) -> float:
        return fake.hub.call(lambda: fake.book.prices[self.symbol])

    def _read(self, fake: FakeAlpaca) -> dict:
        orders = fake.book.orders
        return {
            "orders": [o.client_id for o in orders.values()],
            # The FILL activities: the venue's own record of each execution, booked at once.
            "fills": [
                (
                    orders[row["order_id"]].client_id,
                    row["id"].split("::")[1],
                    row["side"].upper(),
                    float(row["qty"]),
                )
                for row in fake.trading.fills
            ],
            "position": fake.book.position(self.symbol).qty,
        }


BINANCE = BinanceSoak(
    "binance", "BTCUSDT", "chaos_soak.json", cli.KLINES, order_path="/fapi/v1/order"
)
# Crypto trades around the clock: no waits for the US equity market.
ALPACA = AlpacaSoak(
    "alpaca",
    "BTC/USD",
    "chaos_soak-alpaca.json",
    feed_channel(CRYPTO_FEED, "bars", "BTC/USD"),
    order_path="/v2/orders",
)
VENUES = (BINANCE, ALPACA)
