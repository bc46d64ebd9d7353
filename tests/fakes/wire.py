"""Wire-level plumbing shared by the fake venues.

Websockets: each connection gets a writer that drains a
queue, `publish` fans a message out to the connections listening on a channel, the fault
plan's `WsDrop` cuts a connection without a close frame after N published messages, and its
`DelayedFill` and `DuplicatedFill` send a fill report on a user stream late or twice.

A fake's state lives on its server event loop; `StreamHub.call` runs a function there from a
test's thread, so tests can push bars or move prices while SDK clients are connected.

HTTP: `deliver` answers an accepted order submit, or loses the answer as a `LostResponse`
fault says."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.faults import FaultPlan, LostResponse, WsDrop

Payload = str | bytes


@dataclass(eq=False)
class Connection:
    """One websocket client. `channels` are what it listens to; `state` is the fake's own."""

    ws: web.WebSocketResponse
    request: web.Request
    drop: WsDrop | None
    channels: set[str] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)
    published: int = 0
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)

    def send(self, payload: Payload) -> None:
        """Queue a control message (answers to auth, subscribe...); drops do not count it."""
        self.queue.put_nowait((payload, False))


OnMessage = Callable[[Connection, Payload], Awaitable[None]]


class StreamHub:
    """The websocket connections of one fake venue."""

    def __init__(self, faults: FaultPlan) -> None:
        self.faults = faults
        self.connections: list[Connection] = []
        self.dropped = 0  # connections cut by a WsDrop fault
        self.delayed = 0  # fill reports sent late by a DelayedFill fault
        self.duplicated = 0  # fill reports sent twice by a DuplicatedFill fault
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the server's event loop (called when the fake starts)."""
        self._loop = loop

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run `function(*args)` on the server's loop and return its result, from any thread."""
        if self._loop is None or _running_loop() is self._loop:
            return function(*args)

        async def run() -> Any:
            return function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def publish(self, channel: str, payload: Payload) -> int:
        """Queue a data message to every connection listening on `channel`; returns how many."""
        listeners = [conn for conn in self.connections if channel in conn.channels]
        for conn in listeners:
            conn.queue.put_nowait((payload, True))
        return len(listeners)

    def report(self, send: Callable[[], Any], fill: bool) -> None:
        """Run `send`, which publishes one order event on a user stream (call on the loop); a
        `fill` is sent late or twice when the fault plan says so."""
        copies, delay = 1, None
        if fill:
            if self.faults.duplicated_fill() is not None:
                self.duplicated += 1
                copies = 2
            late = self.faults.delayed_fill()
            if late is not None:
                self.delayed += 1
                delay = late.delay_s

        def repeat() -> None:
            for _ in range(copies):
                send()

        if delay is None:
            repeat()
        else:
            asyncio.get_running_loop().call_later(delay, repeat)

    def listening(self, channel: str) -> int:
        """How many connections listen on `channel` now."""
        return sum(channel in conn.channels for conn in self.connections)

    async def serve(
        self,
        request: web.Request,
        on_message: OnMessage,
        greeting: Payload | None = None,
        state: dict[str, Any] | None = None,
        channels: Iterable[str] = (),
    ) -> web.WebSocketResponse:
        """Run one websocket connection until either side ends it; it starts with `state` and
        listening on `channels`."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Connection(ws, request, self.faults.ws_drop(request.path))
        conn.state |= state or {}
        conn.channels |= set(channels)
        self.connections.append(conn)
        writer = asyncio.create_task(self._write(conn))
        if greeting is not None:
            conn.send(greeting)
        try:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await on_message(conn, message.data)
        finally:
            self.connections.remove(conn)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    def cut(self, index: int) -> str | None:
        """Cut connection `index` (modulo their number) as a dead network does, without a close
        frame (call on the loop); returns its path, None when there is no connection."""
        if not self.connections:
            return None
        conn = self.connections[index % len(self.connections)]
        self.dropped += 1
        conn.channels.clear()
        if conn.request.transport is not None:
            conn.request.transport.abort()
        return conn.request.path

    def disconnect(self) -> None:
        """Close every connection with a close frame, in the background (call on the loop,
        e.g. `hub.call(hub.disconnect)`): wakes clients blocked on a receive."""
        for conn in self.connections:
            asyncio.ensure_future(conn.ws.close())

    async def close_all(self) -> None:
        """Close every connection with a close frame (the fake is stopping)."""
        for conn in list(self.connections):
            await conn.ws.close()

    async def _write(self, conn: Connection) -> None:
        while True:
            payload, counted = await conn.queue.get()
            if isinstance(payload, bytes):
                await conn.ws.send_bytes(payload)
            else:
                await conn.ws.send_str(payload)
            conn.published += counted
            if conn.drop is not None and counted and conn.published >= conn.drop.after:
                # A dead network, not a goodbye: no close frame, the TCP connection just ends.
                self.dropped += 1
                conn.channels.clear()
                conn.request.transport.abort()
                return


async def deliver(
    request: web.Request,
    lost: LostResponse | None,
    answer: web.Response,
    error: Callable[[int], web.Response],
) -> web.Response:
    """Send `answer` to an accepted order submit, unless `lost` loses it: late, as an error
    (`error(status)`), or not at all (the connection is cut)."""
    if lost is None:
        return answer
    if lost.delay_s is not None:
        await asyncio.sleep(lost.delay_s)
    if lost.status is not None:
        return error(lost.status)
    if lost.delay_s is None and request.transport is not None:
        request.transport.abort()
    return answer


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
