"""`bot risk reset` and `bot flatten`: the operator's side of the kill switch.

- `bot flatten --venue V --symbol S --live|--paper --confirm` cancels the symbol's open orders
  and closes its position at the venue, outside the node (`adapters.venues.flatten`), on the
  account `bot live` or `bot paper` would trade with these settings. The account has no default:
  a flatten on the wrong one would leave the position it was meant to close. Journalled as
  `manual_flatten`.
- `bot risk reset --operator NAME` re-arms a tripped kill switch. The node must be stopped: its
  risk guard keeps the tripped state in Redis and would write it back on the next bar; the
  next start then begins with an armed switch. Journalled as `kill_switch_reset`.
"""

from typing import Annotated

import typer

from adapters.venues import flatten as flatten_at_venue
from adapters.venues import venue as venue_named
from bot.app.cli.live import mode_settings
from bot.app.cli.models import operator_event
from bot.core.errors import ConfigError
from bot.engine.journal import Journal
from bot.engine.node_state import clear_guard_state, latest_session, read_cache
from bot.engine.risk import KILL_SWITCH_RESET_EVENT

risk_app = typer.Typer(help="The kill switch: reset it after a trip (node stopped).")

MANUAL_FLATTEN_EVENT = "manual_flatten"


@risk_app.command("reset")
def risk_reset(
    ctx: typer.Context,
    operator: Annotated[str, typer.Option(help="Who resets it, for the audit trail.")],
) -> None:
    """Re-arm a tripped kill switch of a stopped node; it trades again at its next start."""
    if not operator.strip():
        raise ConfigError("--operator needs your name: the reset is audited.")
    settings = ctx.find_root().obj.settings().settings
    with Journal(settings.journal.path) as journal:
        session = latest_session(journal)
    if session.state in ("running", "starting"):
        raise ConfigError(
            f"The node of session {session.run.run_id} is {session.state} (pid {session.pid}). "
            "Stop it first (SIGINT), then reset, then start it again: a running guard would "
            "write its tripped state back on the next bar."
        )
    switch = read_cache(settings.persistence, session.trader_id).guard.get("kill_switch") or {}
    if not switch.get("reason"):
        typer.echo("The kill switch is not tripped; nothing was changed.")
        return
    clear_guard_state(settings.persistence, session.trader_id)
    operator_event(ctx, KILL_SWITCH_RESET_EVENT, {"operator": operator, "was": switch["reason"]})
    typer.echo(f"Kill switch re-armed by {operator} (was: {switch['reason']}).")


def flatten(
    ctx: typer.Context,
    venue: Annotated[str, typer.Option(help="binance | alpaca")],
    symbol: Annotated[str, typer.Option(help="Venue symbol, e.g. BTCUSDT or AAPL.")],
    live: Annotated[
        bool | None,
        typer.Option(
            "--live/--paper",
            help="The account: the one `bot live` trades, or `bot paper`'s (required).",
        ),
    ] = None,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Confirm closing the position at the venue.")
    ] = False,
) -> None:
    """Cancel the symbol's open orders and close its position at the venue, now (outside the
    node), on the live or the paper account. Stop the node or let the kill switch halt it
    first."""
    capabilities = venue_named(venue)  # ConfigError for a venue the table does not know
    if live is None:
        raise ConfigError(
            f"`bot flatten` needs the account: --live for a `bot live` node's position, --paper "
            f"for a `bot paper` node's ({capabilities.paper}). Nothing was done."
        )
    if not confirm:
        raise ConfigError(
            f"`bot flatten` sends market orders to {venue} to close {symbol}. Nothing was done. "
            "Re-run with --confirm."
        )
    mode = "live" if live else "paper"
    loaded = mode_settings(ctx, capabilities, mode)
    done = flatten_at_venue(venue, loaded.settings, loaded.secrets, symbol)
    payload = {"venue": venue, "account": mode, "symbol": done.symbol}
    payload |= {"cancelled": done.cancelled, "closed_qty": done.closed_qty}
    operator_event(ctx, MANUAL_FLATTEN_EVENT, payload, symbol=done.symbol)
    typer.echo(
        f"Flattened {done.symbol} at {venue} ({mode} account): cancelled {done.cancelled} open "
        f"order(s), closed a position of {done.closed_qty:g}."
    )
