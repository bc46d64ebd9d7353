"""What every fake venue shares: an aiohttp app on 127.0.0.1 with a route table, a request log,
fault injection from a `FaultPlan`, an async start/stop, and a helper that runs it in a thread
for synchronous SDK clients."""

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.faults import FaultPlan, HttpFault

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REDACTED = "***"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it, with secrets redacted."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival
    status: int


class FakeServer:
    """Base class of the fake venues. Subclasses list their endpoints in `routes()` and say how
    the venue words an HTTP error in `error_body()`."""

    def __init__(self, faults: FaultPlan | None = None) -> None:
        self.faults = faults or FaultPlan()
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def error_body(self, status: int) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, once started."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._port}"

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests for one path, in arrival order."""
        return [request for request in self.requests if request.path == path]

    async def start(self, port: int = 0) -> None:
        """Serve on `port` (0: a free one) of 127.0.0.1 in the running event loop."""
        app = web.Application(middlewares=[self._record_and_inject])
        app.add_routes(self.routes())
        # No graceful drain on stop: a client's idle keep-alive connection would hold it for
        # aiohttp's default 60 s.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop serving and release the port."""
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._port = None

    @web.middleware
    async def _record_and_inject(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        arrived = time.monotonic()
        fault = self.faults.http_fault(request.path)
        try:
            response = self._fault_response(fault) if fault else await handler(request)
        except web.HTTPException as exc:
            response = exc
        self.requests.append(_record(request, arrived, response.status))
        return response

    def _fault_response(self, fault: HttpFault) -> web.Response:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        return web.json_response(
            self.error_body(fault.status), status=fault.status, headers=headers
        )


def _record(request: web.Request, arrived: float, status: int) -> RecordedRequest:
    return RecordedRequest(
        method=request.method,
        path=request.path,
        query={key: _redact(key, value) for key, value in request.query.items()},
        headers={key: _redact(key, value) for key, value in request.headers.items()},
        at=arrived,
        status=status,
    )


def _redact(name: str, value: str) -> str:
    lowered = name.lower()
    secret = "secret" in lowered or lowered in ("authorization", "signature")
    return REDACTED if secret else value


@contextmanager
def serve_in_thread(server: FakeServer) -> Iterator[FakeServer]:
    """Run `server` on its own event loop in a daemon thread for the duration of the block."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=type(server).__name__, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
