"""`bot status`: a paper or live node's state for an operator, running or stopped.

It reads the journal (the session, its decisions, fills and events) and Redis (positions,
accounts, the router's and risk guard's saved state) through `bot.engine.node_state`; it never talks
to the node or the venue.
"""

from datetime import datetime, timedelta

import pandas as pd
from nautilus_trader.model.objects import Price

from bot.core.bars import bar_interval
from bot.core.report import text_table
from bot.engine.node_state import CacheState, Session
from bot.engine.router_journal import ACCOUNT_EVENT, HELD_BACK_EVENT
from strategies import name_of, strategy_names

CLOCK_TOLERANCE = timedelta(seconds=5)  # a last bar further in the future is a clock problem


def format_status(session: Session, cache: CacheState, now: datetime) -> str:
    """The status report as text, at `now` (UTC)."""
    run = session.run
    lines = [
        f"Session {run.run_id}: {run.mode} on {session.venue}, {run.symbol} {run.bar} bars, "
        f"policy {run.policy}",
        f"Node: {session.state}" + (f" (pid {session.pid})" if session.pid else "")
        + f"; trader {session.trader_id}; started {run.started[:19]} UTC",
    ]  # fmt: skip
    missing = missing_state(session, cache)
    if missing:  # "armed" and "none" would be guesses
        lines += [f"Redis: {missing}"]
    else:
        lines += _market(session, cache, now)
        lines += [_kill_switch(cache.guard.get("kill_switch") or {})]
    lines += _router(session)
    lines += _held_back(session)
    positions = "  unknown (see Redis above)" if missing else _positions(cache)
    lines += ["", "Positions per strategy (from Redis):", positions]
    events = session.events
    if not events.empty:  # one per model decision: bookkeeping that would crowd out the news
        events = events[events["kind"] != ACCOUNT_EVENT]
    lines += ["", f"Last events (of {len(events)}):", *_events(events)]
    return "\n".join(lines)


def missing_state(session: Session, cache: CacheState) -> str | None:
    """Why `cache` cannot be the session's state: a later session of its trader has replaced it
    in Redis, or Redis holds nothing for its trader although the session journalled decisions
    (a node saves its state at every bar); None otherwise."""
    if session.superseded_by:
        return (
            f"the state of trader {session.trader_id} there is the later session "
            f"{session.superseded_by}'s; this session's own is not kept. Its equity, kill switch "
            f"and positions are unknown; `bot status --run {session.superseded_by}` shows the "
            "state Redis holds."
        )
    if session.decisions.empty or any(
        (cache.positions, cache.orders, cache.accounts, cache.router, cache.guard)
    ):
        return None
    return (
        f"no state for trader {session.trader_id}, though this session journalled "
        f"{len(session.decisions)} decisions: persistence points at another Redis than the "
        "node's, or the state was deleted there. Equity, kill switch and positions are unknown; "
        "point persistence.redis_host and persistence.redis_port at the node's Redis."
    )


def _events(events: pd.DataFrame, last: int = 8) -> list[str]:
    if events.empty:
        return ["  none"]
    rows = []
    for event in events.tail(last).itertuples():
        payload = ", ".join(f"{k}={v}" for k, v in event.payload.items())
        rows.append(f"  {event.ts:%Y-%m-%d %H:%M:%S} {event.kind}: {payload}"[:160])
    return rows


def data_age(
    session: Session, cache: CacheState, now: datetime
) -> tuple[pd.Timestamp, timedelta, timedelta] | None:
    """The last bar's time, its age at `now`, and the age after which the risk guard calls the
    data stale; None before the node saw a bar."""
    last = cache.guard.get("last_bar")
    if not last:
        return None
    at = pd.Timestamp(last["ts"], tz="UTC")
    risk = session.run.settings.get("risk", {})
    limit = bar_interval(session.run.bar).to_pytimedelta() * risk.get("stale_after_bars", 5.0)
    return at, now - at.to_pydatetime(), limit


def _market(session: Session, cache: CacheState, now: datetime) -> list[str]:
    age = data_age(session, cache, now)
    if age is None:
        return ["Equity: no bar seen yet; data staleness unknown"]
    last, (at, age, limit) = cache.guard["last_bar"], age
    return [
        f"Equity: {last['equity']:,.2f} at the last bar, close {last['close']:,.2f}",
        f"Data: last bar {at:%Y-%m-%d %H:%M:%S} UTC, {bar_age_text(age, limit)}",
    ]


def bar_age_text(age: timedelta, limit: timedelta) -> str:
    """The last bar's age as an operator reads it: fresh, stale, or a clock problem."""
    if age < -CLOCK_TOLERANCE:
        return (
            f"{-age.total_seconds() / 60:.1f} min in the future (CLOCK PROBLEM: this machine's "
            "clock is behind the venue's bar times, or the bars are misstamped; sync the clock "
            "(NTP) and check the venue's times; staleness cannot be judged)"
        )
    verdict = "STALE: no new orders" if age > limit else "fresh"
    minutes = max(age, timedelta(0)).total_seconds() / 60
    return f"{minutes:.1f} min ago ({verdict}; stale after {limit.total_seconds() / 60:g} min)"


def _kill_switch(state: dict) -> str:
    if state.get("reason"):
        return f"Kill switch: TRIPPED at {state['tripped_at']}: {state['reason']}"
    peak = state.get("peak")
    return "Kill switch: armed" + (f" (equity peak {peak:,.2f})" if peak else "")


def _router(session: Session) -> list[str]:
    decisions = session.decisions
    if decisions.empty:
        return ["Router: no decision yet"]
    last = decisions.iloc[-1]
    fell_back = int(decisions["fallback"].sum())
    lines = [
        f"Router: last decision {decisions.index[-1]:%Y-%m-%d %H:%M:%S} UTC by {last['policy']}"
        f"{' (FALLBACK: ' + str(last['error']) + ')' if last['fallback'] else ''}; "
        f"{len(decisions)} decisions, {fell_back} fell back",
    ]
    if last["regime"]:
        lines.append("Regime: " + "  ".join(f"{k} {v:.2f}" for k, v in last["regime"].items()))
    lines.append("Experts: " + "  ".join(f"{k} {v:.2f}" for k, v in last["experts"].items()))
    weights = last["weights"]
    lines.append(
        "Weights: " + "  ".join(f"{name} {weights[name]:.2f}" for name in strategy_names())
    )
    return lines


def held_back(session: Session) -> list[tuple[str, pd.Timestamp, str]]:
    """The strategies that hold nothing because their orders were kept back (the venue's
    minimums, the risk guard's limits) and have not filled since: (name, since, reason)."""
    events = session.events
    if events.empty:
        return []
    held = events[events["kind"] == HELD_BACK_EVENT]
    fills = session.fills
    found = []
    for payload, ts in zip(held["payload"], held["ts"], strict=True):
        name = payload["strategy"]
        if not fills.empty and ((fills["strategy"] == name) & (fills["ts"] > ts)).any():
            continue
        found.append((name, ts, payload["reason"]))
    return found


def _held_back(session: Session) -> list[str]:
    return [
        f"Held back: {name} since {ts:%Y-%m-%d %H:%M:%S} UTC: {reason}"
        for name, ts, reason in held_back(session)
    ]


def position_rows(cache: CacheState) -> list[dict]:
    """Each strategy's position in Redis: strategy, qty (signed), avg_price, realized_pnl and
    unrealized_pnl (marked at the last bar's close; None without one or when closed)."""
    close = (cache.guard.get("last_bar") or {}).get("close")
    rows = []
    for position in sorted(cache.positions, key=lambda p: p.strategy_id.value):
        unrealized = None
        if close is not None and position.is_open:
            # The bar's close at full precision: PnL is computed in floats anyway.
            unrealized = position.unrealized_pnl(Price(close, 8)).as_double()
        rows.append(
            {
                "strategy": name_of(position.strategy_id),
                "qty": float(position.signed_qty),
                "avg_price": float(position.avg_px_open),
                "realized_pnl": position.realized_pnl.as_double(),
                "unrealized_pnl": unrealized,
            }
        )
    return rows


def _positions(cache: CacheState) -> str:
    rows = [
        (
            row["strategy"],
            f"{row['qty']:g}",
            f"{row['avg_price']:,.2f}",
            f"{row['realized_pnl']:,.2f}",
            "n/a" if row["unrealized_pnl"] is None else f"{row['unrealized_pnl']:,.2f}",
        )
        for row in position_rows(cache)
    ]
    if not rows:
        return "  none"
    header = ("strategy", "qty", "avg price", "realized PnL", "unrealized PnL")
    return text_table(header, rows)
