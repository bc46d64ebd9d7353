"""The chaos soak's checks of the node's ledger against the venue's (`SoakVenue.ledger`): the
node's side read from its Redis cache and its journal, and every disagreement between them."""

import sqlite3
from collections import Counter
from pathlib import Path

from nautilus_trader.model.events import OrderFilled

from bot.core.settings import PersistenceSettings
from bot.engine.journal import Journal
from bot.engine.node_state import read_cache
from bot.engine.persistence import UNOWNED_STRATEGIES
from tests.conftest import RedisServer


def cached(server: RedisServer) -> dict:
    """The paper trader's fills (client id, trade id, side, qty) and per-strategy positions in
    nautilus' Redis cache."""
    persistence = PersistenceSettings(redis_host=server.host, redis_port=server.port)
    state = read_cache(persistence, persistence.trader_for("paper"))
    fills = [
        (o.client_order_id.value, e.trade_id.value, e.order_side.name, e.last_qty.as_double())
        for o in state.orders
        for e in o.events
        if isinstance(e, OrderFilled)
    ]
    positions: dict[str, float] = {}
    for p in state.positions:
        positions[p.strategy_id.value] = positions.get(p.strategy_id.value, 0.0) + p.signed_qty
    return {"fills": fills, "positions": positions}


def journalled(path: Path) -> tuple[list[tuple[str, float]], bool]:
    """The journal's fills (side, qty) over all runs, and whether it is intact with a run."""
    with sqlite3.connect(path) as connection:
        intact = connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Journal(path) as journal:
        runs = journal.runs()["run_id"].tolist()
        fills = [
            (side, round(qty, 8))
            for run in runs
            for side, qty in journal.fills(run)[["side", "qty"]].itertuples(index=False)
        ]
    return fills, intact and len(runs) >= 1


def inferred(venue: dict, cache: dict) -> int:
    """How many cached trade ids the venue never sent: fills nautilus inferred."""
    return len({trade for _, trade, _, _ in cache["fills"]} - {t for _, t, _, _ in venue["fills"]})


def refused_fill_warnings(logs: Path) -> int:
    """Warnings of a refused or repeated fill in the node's logs (`paper-*.log`)."""
    noise = ("overfill", "Duplicate TradeId", "did not apply OrderFilled")
    text = "".join(log.read_text(errors="replace") for log in logs.glob("paper-*.log"))
    return sum(text.count(words) for words in noise)


def mismatches(venue: dict, cache: dict, journal: list, intact: bool) -> list[str]:
    """Every way the node's ledger disagrees with the venue's; empty when none."""
    problems = []
    if not intact:
        problems.append("journal: integrity check failed or no run")
    if len(set(venue["orders"])) != len(venue["orders"]):
        twice = [c for c, n in Counter(venue["orders"]).items() if n > 1]
        problems.append(f"orders at the venue twice: {twice}")
    # By order, side and quantity: a fill nautilus books from an order status report (its
    # trade report missed) carries a trade id of its own; `inferred_trade_ids` counts those.
    venue_fills = Counter((c, side, qty) for c, _, side, qty in venue["fills"])
    cached_fills = Counter((c, side, qty) for c, _, side, qty in cache["fills"])
    if cached_fills != venue_fills:
        missing, extra = venue_fills - cached_fills, cached_fills - venue_fills
        problems.append(f"cache vs venue fills: missing {missing}, extra {extra}")
    booked = Counter(journal)
    expected = Counter((side, round(qty, 8)) for _, _, side, qty in venue["fills"])
    if booked != expected:
        problems.append(
            f"journal vs venue fills: missing {expected - booked}, extra {booked - expected}"
        )
    # Reconciliation books a difference it cannot explain on a position of its own (nautilus'
    # EXTERNAL / INTERNAL-DIFF), which no strategy manages: there must be none.
    unowned = {s: q for s, q in cache["positions"].items() if s in UNOWNED_STRATEGIES and q}
    if unowned:
        problems.append(f"positions reconciliation opened, managed by no strategy: {unowned}")
    held = sum(q for s, q in cache["positions"].items() if s not in UNOWNED_STRATEGIES)
    if abs(held - venue["position"]) > 1e-9:
        problems.append(f"positions: strategies hold {held}, the venue {venue['position']}")
    return problems
