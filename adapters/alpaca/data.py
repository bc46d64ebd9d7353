"""The Alpaca market-data client: instruments at connect, historical bars for warm-up
(`request_bars`, through `adapters.alpaca.history`), and live 1-minute bars and quotes from
the msgpack websockets (alpaca-py `StockDataStream` / `CryptoDataStream`).

Alpaca allows one market-data connection per feed and account: a second one is refused with
406 "connection limit exceeded" and kills neither but starves both. So the client opens at most
one stream per feed (stocks, crypto), multiplexes every subscription on it, and a process-wide
registry refuses a second client on the same feed URL with an actionable error instead.

alpaca-py's streams are written for a thread of their own (`run()`); here they run as tasks on
the node's event loop (`_run_forever`), so their callbacks land on the loop that owns the cache.
Subscribing through the SDK's public methods while connected would block on that same loop,
so live subscriptions update the stream's handler table and send the subscribe frame directly.
"""

import asyncio
import contextlib
from datetime import timedelta

import pandas as pd
from alpaca.data.enums import DataFeed
from alpaca.data.live import CryptoDataStream, StockDataStream
from alpaca.data.live.websocket import DataStream
from nautilus_trader.core.datetime import dt_to_unix_nanos
from nautilus_trader.data.messages import (
    RequestBars,
    SubscribeBars,
    SubscribeQuoteTicks,
    UnsubscribeBars,
    UnsubscribeQuoteTicks,
)
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.model.data import Bar, BarType, QuoteTick
from nautilus_trader.model.enums import AggregationSource
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import CurrencyPair, Instrument
from nautilus_trader.model.objects import Price, Quantity

from adapters.alpaca.config import AlpacaDataClientConfig, ClientParts
from adapters.alpaca.history import TIMEFRAMES, fetch_bars
from bot.core.bars import bar_interval
from bot.core.errors import BotError, ConfigError, DataError

STREAMED_BAR = timedelta(minutes=1)  # the websockets stream 1-minute bars only
_OPEN_FEEDS: set[str] = set()  # stream URLs with a connection in this process


class _Feed:
    """One market-data websocket (one feed), shared by every subscription of the client."""

    def __init__(self, stream: DataStream, url: str, loop: asyncio.AbstractEventLoop) -> None:
        if url in _OPEN_FEEDS:
            raise ConfigError(
                f"An Alpaca market-data stream to {url} is already open in this process, and "
                "Alpaca allows one connection per feed: run one node per account and feed."
            )
        _OPEN_FEEDS.add(url)
        self.url = url
        self._stream = stream
        self._loop = loop
        self._task: asyncio.Task | None = None

    async def subscribe(self, channel: str, symbol: str, handler) -> None:
        # While not connected the stream subscribes to its whole handler table on connect.
        self._stream._handlers[channel][symbol] = handler
        if self._stream._running:
            await self._stream._send_subscribe_msg()
        if self._task is None:  # started at the first subscription: it idles busily before
            self._task = self._loop.create_task(self._stream._run_forever())

    async def unsubscribe(self, channel: str, symbol: str) -> None:
        self._stream._handlers[channel].pop(symbol, None)
        if self._stream._running:
            await self._stream._send_unsubscribe_msg(channel, [symbol])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._stream.close()
        _OPEN_FEEDS.discard(self.url)


class AlpacaDataClient(LiveMarketDataClient):
    """Market data from Alpaca for the instruments of `config.instrument_provider`."""

    def __init__(self, parts: ClientParts, config: AlpacaDataClientConfig) -> None:
        super().__init__(**parts.nautilus_kwargs(), config=config)
        self._config = config
        self._feeds: dict[bool, _Feed] = {}  # keyed by "is crypto"

    async def _connect(self) -> None:
        await self._instrument_provider.initialize()
        for instrument in self._instrument_provider.list_all():
            self._handle_data(instrument)

    async def _disconnect(self) -> None:
        for feed in self._feeds.values():
            await feed.close()
        self._feeds.clear()

    async def _subscribe_bars(self, command: SubscribeBars) -> None:
        bar_type = command.bar_type
        if bar_type.spec.timedelta != STREAMED_BAR or bar_type.is_internally_aggregated():
            self._log.error(f"Cannot subscribe to {bar_type}: Alpaca streams 1-minute bars only")
            return
        instrument = self._instrument(bar_type.instrument_id)

        async def on_bar(bar) -> None:
            self._handle_data(_bar(bar_type, instrument, bar, self._clock.timestamp_ns()))

        await self._feed(instrument).subscribe("bars", instrument.raw_symbol.value, on_bar)

    async def _unsubscribe_bars(self, command: UnsubscribeBars) -> None:
        instrument = self._instrument(command.bar_type.instrument_id)
        await self._feed(instrument).unsubscribe("bars", instrument.raw_symbol.value)

    async def _subscribe_quote_ticks(self, command: SubscribeQuoteTicks) -> None:
        instrument = self._instrument(command.instrument_id)

        async def on_quote(quote) -> None:
            self._handle_data(_quote(instrument, quote, self._clock.timestamp_ns()))

        await self._feed(instrument).subscribe("quotes", instrument.raw_symbol.value, on_quote)

    async def _unsubscribe_quote_ticks(self, command: UnsubscribeQuoteTicks) -> None:
        instrument = self._instrument(command.instrument_id)
        await self._feed(instrument).unsubscribe("quotes", instrument.raw_symbol.value)

    async def _request_bars(self, request: RequestBars) -> None:
        bar_type = request.bar_type
        instrument = self._instrument(bar_type.instrument_id)
        interval = bar_type.spec.timedelta
        bar = next((k for k in TIMEFRAMES if bar_interval(k).to_pytimedelta() == interval), None)
        if bar is None or bar_type.aggregation_source != AggregationSource.EXTERNAL:
            self._log.error(f"Cannot request {bar_type}: Alpaca aggregates {list(TIMEFRAMES)}")
            return
        now = self._clock.utc_now()
        end = min(pd.Timestamp(request.end), now) if request.end is not None else now
        limit = request.limit if request.limit > 0 else 10_000
        start = request.start if request.start is not None else end - limit * interval
        try:
            frame = await asyncio.to_thread(self._history, instrument, bar, start, end)
        except DataError as exc:
            self._log.warning(f"No history for {bar_type}: {exc}")
            frame = pd.DataFrame()
        except BotError as exc:
            self._log.error(f"Cannot request {bar_type}: {exc}")
            return
        ts_init = self._clock.timestamp_ns()
        bars = [
            _make_bar(bar_type, instrument, opened + interval, values, ts_init)
            for opened, values in zip(frame.index, frame.itertuples(index=False), strict=True)
            if opened + interval <= now  # the bar still forming is not history yet
        ]
        self._handle_bars(
            bar_type, bars[-limit:], request.id, request.start, request.end, request.params
        )

    def _history(self, instrument: Instrument, bar: str, start, end) -> pd.DataFrame:
        return fetch_bars(
            instrument.raw_symbol.value,
            bar,
            pd.Timestamp(start).floor("us").to_pydatetime(),
            pd.Timestamp(end).floor("us").to_pydatetime(),
            asset_class="crypto" if isinstance(instrument, CurrencyPair) else "equity",
            api_key=self._config.api_key,
            secret_key=self._config.secret_key,
            url_override=self._config.data_url,
            feed=self._config.feed,
            progress=False,
        )

    def _instrument(self, instrument_id: InstrumentId) -> Instrument:
        instrument = self._cache.instrument(instrument_id)
        if instrument is None:
            raise ConfigError(f"{instrument_id} is not loaded: add it to instrument_provider.")
        return instrument

    def _feed(self, instrument: Instrument) -> _Feed:
        crypto = isinstance(instrument, CurrencyPair)
        if crypto not in self._feeds:
            url = self._config.stream_url(crypto)
            keys = (self._config.api_key, self._config.secret_key)
            stream = (
                CryptoDataStream(*keys, url_override=url)
                if crypto
                else StockDataStream(*keys, feed=DataFeed(self._config.feed), url_override=url)
            )
            self._feeds[crypto] = _Feed(stream, url, self._loop)
        return self._feeds[crypto]


def _bar(bar_type: BarType, instrument: Instrument, bar, ts_init: int) -> Bar:
    # Alpaca stamps a bar with its open time; nautilus with its close.
    values = (bar.open, bar.high, bar.low, bar.close, bar.volume)
    return _make_bar(bar_type, instrument, bar.timestamp + STREAMED_BAR, values, ts_init)


def _make_bar(bar_type: BarType, instrument: Instrument, closed, values, ts_init: int) -> Bar:
    open_, high, low, close, volume = values
    price = instrument.price_precision
    return Bar(
        bar_type,
        Price(open_, price),
        Price(high, price),
        Price(low, price),
        Price(close, price),
        Quantity(volume, instrument.size_precision),
        dt_to_unix_nanos(closed),
        ts_init,
    )


def _quote(instrument: Instrument, quote, ts_init: int) -> QuoteTick:
    price, size = instrument.price_precision, instrument.size_precision
    return QuoteTick(
        instrument.id,
        Price(quote.bid_price, price),
        Price(quote.ask_price, price),
        Quantity(quote.bid_size, size),
        Quantity(quote.ask_size, size),
        dt_to_unix_nanos(quote.timestamp),
        ts_init,
    )
