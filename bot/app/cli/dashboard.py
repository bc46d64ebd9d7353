"""`bot dashboard`: serve the read-only web dashboard (`bot.app.dashboard`)."""

from typing import Annotated

import typer

from bot.core.errors import ConfigError


def dashboard(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to bind; beyond 127.0.0.1 it needs $BOT_DASHBOARD_TOKEN.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8050,
) -> None:
    """Serve a read-only web dashboard: the runs and their reports, a paper or live node's
    state (refreshed every few seconds), and the router's decisions, with a JSON API under
    /api. It reads the journal and Redis only; it sends no orders."""
    try:  # the dashboard extra is optional: the other commands work without aiohttp
        from bot.app.dashboard.auth import dashboard_token
        from bot.app.dashboard.server import create_app, serve
    except ImportError as exc:
        raise ConfigError(
            f"The dashboard needs the dashboard extra ({exc}): pip install -e '.[dashboard]' "
            "(`make setup` installs it)."
        ) from None
    settings = ctx.find_root().obj.settings().settings
    token = dashboard_token(host)  # before anything listens
    app = create_app(settings.journal.path, settings.persistence, token)
    where = "anyone with the token" if token else "this machine only"
    listening = f"Dashboard on http://{host}:{port}/ ({where}); Ctrl-C stops it."
    serve(app, host, port, lambda: typer.echo(listening))  # said once bound, not before
