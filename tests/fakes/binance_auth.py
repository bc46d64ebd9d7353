"""Binance's request authentication, as the fake venue checks it: the `X-MBX-APIKEY` header,
an HMAC-SHA256 `signature` over the parameters (query string, then body) and a `timestamp`
inside `recvWindow` of the venue's clock."""

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Params = dict[str, str]
SignedHandler = Callable[[web.Request, Params], Awaitable[web.Response]]

_SIGNATURE = re.compile(r"&?signature=([0-9a-fA-F]*)")
DEFAULT_RECV_WINDOW_MS = 5000


def binance_error(status: int, code: int, msg: str, headers: Any = None) -> web.Response:
    """An error answer in Binance's shape."""
    return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)


def sign(secret: str, payload: str) -> str:
    """Binance's HMAC-SHA256 signature of `payload`, hex encoded."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class BinanceAuth:
    """Checks requests against one API key pair; `clock_ms()` is the venue's clock."""

    def __init__(self, api_key: str, api_secret: str, clock_ms: Callable[[], int]) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.clock_ms = clock_ms

    def keyed(self, handler: SignedHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Wrap a handler that needs the API key only (listen-key endpoints)."""

        async def checked(request: web.Request) -> web.Response:
            params = await _params(request)
            if request.headers.get("X-MBX-APIKEY") != self.api_key:
                return _bad_key()
            return await handler(request, params)

        return checked

    def signed(self, handler: SignedHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Wrap a handler that needs the API key, a valid signature and a fresh timestamp."""

        async def checked(request: web.Request) -> web.Response:
            if request.headers.get("X-MBX-APIKEY") != self.api_key:
                return _bad_key()
            body = await request.text()
            problem = self._problem(request.query_string, body)
            if problem is not None:
                return problem
            return await handler(request, await _params(request))

        return checked

    def _problem(self, query: str, body: str) -> web.Response | None:
        signatures = _SIGNATURE.findall(query) + _SIGNATURE.findall(body)
        if len(signatures) != 1:
            return binance_error(400, -1102, "Mandatory parameter 'signature' was not sent.")
        # Binance signs the query string followed directly by the body, minus the signature.
        payload = _SIGNATURE.sub("", query).lstrip("&") + _SIGNATURE.sub("", body).lstrip("&")
        if not hmac.compare_digest(sign(self.api_secret, payload), signatures[0].lower()):
            return binance_error(400, -1022, "Signature for this request is not valid.")
        params = dict(pair.split("=", 1) for pair in payload.split("&") if "=" in pair)
        return self._timestamp_problem(params)

    def _timestamp_problem(self, params: Params) -> web.Response | None:
        if not params.get("timestamp", "").isdigit():
            return binance_error(400, -1102, "Mandatory parameter 'timestamp' was not sent.")
        window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
        lag = self.clock_ms() - int(params["timestamp"])
        if lag > window or lag < -1000:
            return binance_error(
                400, -1021, "Timestamp for this request is outside of the recvWindow."
            )
        return None


def _bad_key() -> web.Response:
    return binance_error(401, -2015, "Invalid API-key, IP, or permissions for action.")


async def _params(request: web.Request) -> Params:
    params = dict(request.query)
    if request.can_read_body and request.content_type == "application/x-www-form-urlencoded":
        params |= {key: str(value) for key, value in (await request.post()).items()}
    params.pop("signature", None)
    return params
