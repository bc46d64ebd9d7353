"""What the execution client wraps of alpaca-py: the trade-updates stream with a reconnect hook,
and the US equity market clock, cached."""

import asyncio
from datetime import timedelta

import pandas as pd
from alpaca.trading.client import TradingClient
from alpaca.trading.stream import TradingStream


class TradeUpdates(TradingStream):
    """alpaca-py's trade stream, calling `on_connect` after every (re)connection: the SDK
    reconnects by itself but has no hook to say so."""

    def __init__(self, *args, on_connect, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._on_connect = on_connect

    async def _start_ws(self) -> None:
        await super()._start_ws()
        self._on_connect()


class MarketClock:
    """Alpaca's US equity market clock, cached until its next open/close (at most `ttl`)."""

    def __init__(self, client: TradingClient, ttl: timedelta) -> None:
        self._client = client
        self._ttl = ttl
        self._open = False
        self._until: pd.Timestamp | None = None

    async def is_open(self, now: pd.Timestamp) -> bool:
        if self._until is None or now >= self._until:
            clock = await asyncio.to_thread(self._client.get_clock)
            self._open = bool(clock.is_open)
            change = pd.Timestamp(clock.next_close if clock.is_open else clock.next_open)
            self._until = min(change, now + self._ttl)
        return self._open
