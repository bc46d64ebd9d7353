"""`bot dashboard`: a read-only web view of the journal and of a node's state in Redis.

Pages (plain HTML and a little JavaScript from `static/`, nothing from the network) read the
JSON API beside them:
- `GET /api/runs[?mode=M]`: the runs, as `bot runs list` groups them, with their report pages;
- `GET /api/status[?run=ID]`: a paper or live session, as `bot status` reads it;
- `GET /api/decisions/ID`: a journalled run's decisions; `/api/decisions/ID/N` one of them,
  `/api/decisions/ID/N/chart` the chart the model saw, `/api/decisions/ID/N/attributions` its
  input attributions (computed on request: it loads the model);
- `GET /reports/RUN/PATH`: the files of a run's report folder.
There is no route that writes: the journal is opened read-only (SQLite refuses writes) and
Redis is only read. Bound beyond loopback, every route asks for the token (`auth.py`).
"""

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from aiohttp import web

from bot.app.dashboard.auth import loopback_only, token_middleware
from bot.app.dashboard.views import (
    decision_record,
    decision_view,
    decisions_view,
    report_folder,
    runs_view,
    status_view,
)
from bot.app.explain import decision_attributions, model_attributor
from bot.core.errors import BotError, ConfigError, JournalError, OperationalError
from bot.core.settings import PersistenceSettings
from bot.engine.journal import Journal
from bot.engine.node_state import latest_session, read_cache

STATIC = Path(__file__).parent / "static"
PAGES = {"/": "runs.html", "/live": "live.html", "/decision": "decision.html"}
JOURNAL = web.AppKey("journal", Path)
PERSISTENCE = web.AppKey("persistence", PersistenceSettings)
ATTRIBUTORS = web.AppKey("attributors", dict)


def create_app(
    journal: Path, persistence: PersistenceSettings, token: str | None
) -> web.Application:
    """The dashboard over the journal at `journal` and the Redis of `persistence`; with a
    `token`, every route asks for it."""
    guard = token_middleware(token) if token else loopback_only
    app = web.Application(middlewares=[_errors, guard])
    app[JOURNAL], app[PERSISTENCE], app[ATTRIBUTORS] = journal, persistence, {}
    for path, page in PAGES.items():
        app.router.add_get(path, partial(_page, page))
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/runs", _runs)
    app.router.add_get("/api/status", _status)
    app.router.add_get("/api/decisions/{run}", _decisions)
    app.router.add_get("/api/decisions/{run}/{n:\\d+}", _decision)
    app.router.add_get("/api/decisions/{run}/{n:\\d+}/chart", _chart)
    app.router.add_get("/api/decisions/{run}/{n:\\d+}/attributions", _attributions)
    app.router.add_get("/reports/{run}/{path:.*}", _report_file)
    return app


def serve(app: web.Application, host: str, port: int, listening: Callable[[], None]) -> None:
    """Serve until interrupted, calling `listening` once bound; an address it cannot bind is
    refused (ConfigError). No access log: a browser's first URL may carry the token."""
    try:
        web.run_app(app, host=host, port=port, access_log=None, print=lambda _: listening())
    except OSError as exc:  # binding: the port taken, an address not this machine's, no such name
        raise ConfigError(
            f"The dashboard cannot listen on {host}:{port} ({exc.strerror or exc}). Pass another "
            "--port if a program uses that one (another dashboard?), or a --host of this machine "
            "(127.0.0.1, or 0.0.0.0 for all its addresses)."
        ) from None


async def _read(request: web.Request, read: Callable[[Journal], object]) -> object:
    def in_thread() -> object:
        with Journal(request.app[JOURNAL], read_only=True) as journal:
            return read(journal)

    # SQLite and pandas block: keep the event loop free for the other requests.
    return await asyncio.to_thread(in_thread)


def _json(data: object) -> web.Response:
    return web.json_response(data, dumps=partial(json.dumps, default=str))


async def _page(name: str, request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / name)


async def _static(request: web.Request) -> web.FileResponse:
    path = STATIC / request.match_info["name"]
    if path.parent != STATIC or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path)


async def _runs(request: web.Request) -> web.Response:
    mode = request.query.get("mode")
    return _json(await _read(request, lambda journal: runs_view(journal, mode)))


async def _status(request: web.Request) -> web.Response:
    run_id = request.query.get("run")
    session = await _read(request, lambda journal: latest_session(journal, run_id))
    persistence = request.app[PERSISTENCE]
    try:
        cache, error = await asyncio.to_thread(read_cache, persistence, session.trader_id), None
    except OperationalError as exc:
        cache, error = None, str(exc)
    return _json(status_view(session, cache, error, datetime.now(UTC)))


async def _decisions(request: web.Request) -> web.Response:
    run_id = request.match_info["run"]
    return _json(await _read(request, lambda journal: decisions_view(journal, run_id)))


async def _decision(request: web.Request) -> web.Response:
    run_id, n = request.match_info["run"], int(request.match_info["n"])
    return _json(await _read(request, lambda journal: decision_view(journal, run_id, n)))


async def _chart(request: web.Request) -> web.FileResponse:
    run_id, n = request.match_info["run"], int(request.match_info["n"])
    record = await _read(
        request, lambda journal: decision_record(journal.decision_records(run_id), run_id, n)
    )
    if record.chart_path is None or not Path(record.chart_path).is_file():
        raise web.HTTPNotFound(text=f"Decision {n} of {run_id} has no chart file.")
    return web.FileResponse(record.chart_path)


async def _attributions(request: web.Request) -> web.Response:
    run_id, n = request.match_info["run"], int(request.match_info["n"])

    def attribute(journal: Journal) -> list[str]:
        run = journal.run(run_id)
        record = decision_record(journal.decision_records(run_id), run_id, n)
        cached = request.app[ATTRIBUTORS]
        if run_id not in cached:  # loading the model and the run's bars takes seconds
            cached[run_id] = model_attributor(run, run.settings.get("catalog"), journal)
        return decision_attributions(record, cached[run_id])

    return _json({"lines": await _read(request, attribute)})


async def _report_file(request: web.Request) -> web.FileResponse:
    run_id = request.match_info["run"]
    folder = (await _read(request, lambda journal: report_folder(journal, run_id))).resolve()
    path = (folder / request.match_info["path"]).resolve()
    if path.is_dir():
        path = path / "index.html"
    # Only files inside the run's own report folder, whatever the path says, and no hidden
    # ones (an `--out .` report folder may hold a .env).
    inside = path.is_relative_to(folder)
    if not inside or not path.is_file() or _hidden(path.relative_to(folder)):
        raise web.HTTPNotFound(text=f"No file {request.match_info['path']!r} in {run_id}'s report.")
    return web.FileResponse(path)


def _hidden(path: Path) -> bool:
    return any(part.startswith(".") for part in path.parts)


@web.middleware
async def _errors(request: web.Request, handler) -> web.StreamResponse:
    """Expected errors answer as JSON with what to do: 404 for what is not there (an unknown run,
    no journal yet), 503 for what cannot be read or reached (a corrupt journal, Redis down)."""
    try:
        response = await handler(request)
    except JournalError as exc:
        return web.json_response({"error": str(exc)}, status=503)
    except ConfigError as exc:
        return web.json_response({"error": str(exc)}, status=404)
    except BotError as exc:
        return web.json_response({"error": str(exc)}, status=503)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")
    return response
