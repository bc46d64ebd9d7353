"""The dashboard's guards: a token for a dashboard bound beyond 127.0.0.1, and on loopback a
check that the browser asked for this machine by name (`loopback_only`).

The token comes from the environment only (`BOT_DASHBOARD_TOKEN`) and is never logged. Every
route, pages, API and report files alike, asks for it in one of three ways:
- `Authorization: Bearer <token>` (scripts, `curl -H`);
- the cookie a browser got by opening any page once with `?token=<token>`: the answer sets it
  (HttpOnly, SameSite=Strict) and redirects to the same page without the token in the URL;
- `?token=<token>` on an API request.
"""

import hmac
import os

from aiohttp import web

from bot.core.errors import ConfigError

TOKEN_ENV = "BOT_DASHBOARD_TOKEN"
COOKIE = "bot_dashboard_token"
MIN_TOKEN_CHARS = 16
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def dashboard_token(host: str) -> str | None:
    """The token a dashboard bound to `host` needs: None on loopback, else the environment's,
    refused when missing or short."""
    if host in LOOPBACK:
        return None
    token = os.environ.get(TOKEN_ENV, "")
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"The dashboard bound to {host} is reachable from other machines, so it needs a "
            f"token: set {TOKEN_ENV} to a secret of at least {MIN_TOKEN_CHARS} characters (e.g. "
            f"`export {TOKEN_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe())')`)"
            ", or bind to 127.0.0.1."
        )
    return token


def token_middleware(token: str):
    """A middleware answering 401 to any request without `token`."""

    def matches(given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), token.encode())

    @web.middleware
    async def check(request: web.Request, handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        bearer = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        if matches(bearer) or matches(request.cookies.get(COOKIE)):
            return await handler(request)
        if matches(request.query.get("token")):
            # A browser's page: keep the token in a cookie, for the page's own requests
            # (a report's images) and the next visit, and out of the address bar.
            if request.method == "GET" and not request.path.startswith("/api/"):
                return _remember(request, token)
            return await handler(request)
        raise web.HTTPUnauthorized(
            text=f"Unauthorized: open this page once with ?token=<{TOKEN_ENV}>, or send the "
            "header 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )

    return check


def _remember(request: web.Request, token: str) -> web.StreamResponse:
    query = {key: value for key, value in request.query.items() if key != "token"}
    location = str(request.rel_url.with_query(query))
    response = web.Response(status=302, headers={"Location": location})
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
    return response


@web.middleware
async def loopback_only(request: web.Request, handler) -> web.StreamResponse:
    """Answer 403 to a request naming another host than this machine (its Host header): a web
    page whose name its DNS points at 127.0.0.1 (DNS rebinding) must not read a loopback
    dashboard, which asks for no token."""
    if request.url.host not in LOOPBACK:
        raise web.HTTPForbidden(
            text=f"This dashboard answers to 127.0.0.1 and localhost only, not {request.host!r}: "
            "open it as http://127.0.0.1:PORT/ (through an SSH tunnel from another machine), or "
            f"bind it beyond loopback with {TOKEN_ENV} set."
        )
    return await handler(request)
