"""Serve one fake venue for manual runs: `python -m tests.fakes alpaca|binance [--port N]`.

It prints the URLs and keys to point a client at, and serves until interrupted (Ctrl-C)."""

import argparse
import asyncio
import signal
from datetime import UTC, datetime, timedelta

from tests.fakes.alpaca import FakeAlpaca
from tests.fakes.alpaca_streams import CRYPTO_FEED, STOCK_FEED, TRADING_STREAM
from tests.fakes.binance import FakeBinance
from tests.fakes.server import FakeServer
from tests.support.series import SyntheticHistory


def _history() -> SyntheticHistory:
    # Two days of bars ending at the current minute, so "latest" data looks live.
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    return SyntheticHistory(end - timedelta(days=2), end)


def _describe(fake: FakeServer) -> list[str]:
    lines = [f"REST      {fake.base_url}"]
    if isinstance(fake, FakeAlpaca):
        lines += [f"{name:<9} {fake.ws_url(path)}" for name, path in _ALPACA_STREAMS]
        lines += [f"keys      APCA-API-KEY-ID={fake.key_id} APCA-API-SECRET-KEY={fake.secret_key}"]
    elif isinstance(fake, FakeBinance):
        lines += [f"streams   {fake.ws_url}/stream?streams=...  and  {fake.ws_url}/ws/<stream>"]
        lines += [f"keys      api_key={fake.auth.api_key} api_secret={fake.auth.api_secret}"]
    return lines


_ALPACA_STREAMS = (("trading", TRADING_STREAM), ("stocks", STOCK_FEED), ("crypto", CRYPTO_FEED))


async def _serve(fake: FakeServer, port: int) -> None:
    # Explicit handlers: a process started with SIGINT ignored (a background job of a
    # non-interactive shell) never sees KeyboardInterrupt.
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await fake.start(port)
    print(
        "\n".join([f"fake {type(fake).__name__} serving (Ctrl-C stops it)", *_describe(fake)]),
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the chosen fake until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes", description=__doc__)
    parser.add_argument("venue", choices=("alpaca", "binance"))
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free)")
    args = parser.parse_args(argv)
    venue = FakeAlpaca if args.venue == "alpaca" else FakeBinance
    asyncio.run(_serve(venue(_history()), args.port))


if __name__ == "__main__":
    main()
