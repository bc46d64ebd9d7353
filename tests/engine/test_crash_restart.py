"""Crash and restart: `bot live` against the fake Binance USDT-M futures API with its cache in a
private Redis is killed with SIGKILL mid-session and started again. The fake (in this process)
keeps its orders, fills and positions meanwhile, as the venue would.

The restarted node must reload the per-strategy positions and the router's window phase and
weights from Redis, reconcile with the venue without duplicating an order or losing a fill, and
journal whatever reconciliation had to change."""

import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from nautilus_trader.model.events import OrderFilled

from bot.core.settings import PersistenceSettings
from bot.engine.journal import Journal
from bot.engine.node_state import read_cache
from bot.engine.persistence import RECONCILIATION_EVENT
from strategies import name_of
from tests.conftest import RedisServer, free_port
from tests.fakes.binance import FakeBinance
from tests.fakes.binance_trading import num
from tests.fakes.faults import FaultPlan, HttpFault, PartialFill
from tests.fakes.waiting import kline_around, wait_for
from tests.support.cli import KLINES, LIVE, ROOT, bot_env, run_bot, serve_binance

pytestmark = pytest.mark.integration

MINUTE_NS = 60 * 10**9
CLOSES = [42_000.0, 42_010.0, 42_020.0, 42_030.0, 42_040.0]
# What reconciliation warns when a fill report repeats one: never for the fills already booked.
REPEATED_FILL = ("overfill", "Duplicate TradeId")


@dataclass(frozen=True)
class Saved:
    """What the node left in Redis: signed position per strategy name, every fill as (client
    order id, trade id, side, quantity, price), the strategy name of every order, and the
    router actor's saved state."""

    positions: dict[str, float]
    fills: set[tuple[str, str, str, float, float]]
    owners: dict[str, str]
    router: dict | None


def _saved(server: RedisServer) -> Saved:
    persistence = PersistenceSettings(redis_host=server.host, redis_port=server.port)
    state = read_cache(persistence, persistence.trader_for("live"))
    positions, orders = state.positions, state.orders
    router = state.router.get("router")
    return Saved(
        positions={name_of(p.strategy_id): p.signed_qty for p in positions},
        fills={
            (
                o.client_order_id.value,
                e.trade_id.value,
                e.order_side.name,
                e.last_qty.as_double(),
                e.last_px.as_double(),
            )
            for o in orders
            for e in o.events
            if isinstance(e, OrderFilled)
        },  # fmt: skip
        owners={o.client_order_id.value: name_of(o.strategy_id) for o in orders},
        router=router,
    )


@dataclass
class Session:
    """A `bot live` process; its output goes to files (a full pipe would block it)."""

    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        """Everything the process wrote so far."""
        return self.log.read_text(errors="replace")


@pytest.fixture
def binance(faults: FaultPlan) -> Iterator[FakeBinance]:
    with serve_binance(faults) as served:
        yield served


@pytest.fixture
def env(binance: FakeBinance, persistence_env: dict[str, str]) -> dict[str, str]:
    return bot_env(binance) | persistence_env


@pytest.fixture
def start(binance: FakeBinance, env: dict[str, str], tmp_path: Path) -> Iterator:
    """Starts `bot live` and waits for its kline subscription; kills what is left at the end."""
    sessions: list[Session] = []

    def started() -> Session:
        log = tmp_path / f"live-{len(sessions)}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", *LIVE, "--confirm-live"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        session = Session(process, log)
        sessions.append(session)
        what = f"the kline subscription of session {len(sessions)}"
        wait_for(lambda: binance.hub.listening(KLINES) > 0 or process.poll() is not None, 40, what)
        assert process.poll() is None, session.output()[-3000:]
        return session

    yield started
    for session in sessions:
        if session.process.poll() is None:
            session.process.kill()
            session.process.wait(timeout=10)


def _push(binance: FakeBinance, first: datetime, bars: range) -> None:
    for n in bars:
        binance.push_kline("BTCUSDT", first + timedelta(minutes=n), kline_around(CLOSES[n]))


def _crash(binance: FakeBinance, session: Session) -> None:
    session.process.send_signal(signal.SIGKILL)
    session.process.wait(timeout=10)
    wait_for(lambda: binance.hub.listening(KLINES) == 0, 10, "the dead node's streams to close")


def _stop(session: Session) -> None:
    session.process.send_signal(signal.SIGINT)
    session.process.wait(timeout=20)


def _submits(binance: FakeBinance) -> int:
    return len([r for r in binance.requests_to("/fapi/v1/order") if r.method == "POST"])


def _venue_fills(binance: FakeBinance) -> set[tuple[str, str, str, float, float]]:
    trades = binance.hub.call(lambda: list(binance.futures.trades))
    # As the venue reports them: decimal strings.
    return {
        (t.order.client_id, str(t.trade_id), t.order.side.upper(), float(num(t.qty)), t.price)
        for t in trades
    }


def _positions_from(fills: set, owners: dict[str, str]) -> dict[str, float]:
    """Signed position per strategy from (client order id, trade id, side, qty, price) fills."""
    held: dict[str, float] = {}
    for client_id, _, side, qty, _ in fills:
        held[owners[client_id]] = held.get(owners[client_id], 0.0) + (
            qty if side == "BUY" else -qty
        )
    return held


def _journal(env: dict[str, str]) -> Journal:
    return Journal(Path(env["BOT__JOURNAL__PATH"]))


def _run_ids(env: dict[str, str]) -> list[str]:
    with _journal(env) as journal:
        return journal.runs()["run_id"].tolist()


def _since_decision(server: RedisServer) -> int | None:
    return (_saved(server).router or {}).get("since_decision")


def _holding(server: RedisServer) -> bool:
    held = _saved(server).positions
    return held.get("LongOnly", 0) > 0 and held.get("ShortOnly", 0) < 0


@pytest.mark.slow
def test_a_killed_node_restarts_with_its_positions_and_router_state_without_duplicates(
    binance: FakeBinance, redis_server: RedisServer, env: dict[str, str], start
) -> None:
    # Arrange: three bars (router decisions on the first and third) fill LongOnly and ShortOnly.
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    session = start()
    _push(binance, first, range(3))
    wait_for(lambda: _holding(redis_server), 20, "both positions in Redis")
    wait_for(lambda: _since_decision(redis_server) == 1, 10, "bar 3")
    before = _saved(redis_server)
    submits = _submits(binance)

    # Act: crash, restart, then one bar inside the window and one that starts the next.
    _crash(binance, session)
    session = start()
    _push(binance, first, range(3, 4))
    wait_for(lambda: _since_decision(redis_server) == 2, 10, "bar 4")
    after_bar_4 = _submits(binance)
    _push(binance, first, range(4, 5))
    wait_for(lambda: _since_decision(redis_server) == 1, 10, "bar 5")
    _stop(session)
    after = _saved(redis_server)

    # Assert: the same positions; no order after the crash, none twice; no fill lost.
    assert session.process.returncode == 0, session.output()[-3000:]
    assert before.positions["LongOnly"] > 0 and before.positions["ShortOnly"] < 0
    assert after.positions == before.positions
    assert submits == after_bar_4 == _submits(binance) == 2
    client_ids = binance.hub.call(
        lambda: [o.client_id for o in binance.futures.book.orders.values()]
    )
    assert len(set(client_ids)) == len(client_ids) == 2
    assert before.fills == after.fills == _venue_fills(binance)
    first_run, second_run = _run_ids(env)
    with _journal(env) as journal:
        decisions = [journal.decisions(run) for run in (first_run, second_run)]
        fills = [journal.fills(run) for run in (first_run, second_run)]
        events = journal.events(second_run, RECONCILIATION_EVENT)
    # The window phase survived: decisions on bars 1 and 3, none on bar 4, the next on bar 5.
    times = [*decisions[0]["ts"], *decisions[1]["ts"]]
    assert [later - earlier for earlier, later in pairwise(times)] == [2 * MINUTE_NS] * 2
    assert decisions[1]["window_index"].tolist() == [0]
    assert before.router["weights_json"] == after.router["weights_json"]
    journalled = sorted(zip(fills[0]["side"], fills[0]["qty"], strict=True))
    assert journalled == sorted((side, qty) for _, _, side, qty, _ in _venue_fills(binance))
    assert fills[1].empty
    assert events.empty  # the venue did not change while the node was down
    assert _repeated_fills(session) == []


@pytest.mark.slow
def test_a_venue_change_while_the_node_is_down_is_reconciled_and_journalled(
    binance: FakeBinance, redis_server: RedisServer, env: dict[str, str], start
) -> None:
    # Arrange
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    session = start()
    _push(binance, first, range(2))
    wait_for(lambda: _holding(redis_server), 20, "both positions in Redis")
    before = _saved(redis_server)
    _crash(binance, session)

    # Act: someone buys 0.5 BTC on the account while the node is down, then it restarts.
    manual = binance.hub.call(lambda: binance.futures.book.submit("BTCUSDT", "buy", 0.5))
    session = start()
    wait_for(lambda: len(_run_ids(env)) == 2 and _reconciliations(env), 20, "the audit")
    _stop(session)
    after = _saved(redis_server)

    # Assert: our strategies' positions are untouched; the difference is booked apart.
    assert session.process.returncode == 0, session.output()[-3000:]
    ours = {name: qty for name, qty in after.positions.items() if name in before.positions}
    assert ours == before.positions
    venue = binance.hub.call(lambda: binance.futures.book.position("BTCUSDT").qty)
    assert sum(after.positions.values()) == pytest.approx(venue)
    payloads = _reconciliations(env)
    added = [p for p in payloads if p["what"] == "order_added"]
    assert [(p["strategy"], p["filled_qty"]) for p in added] == [("EXTERNAL", 0.5)]
    assert added[0]["client_order_id"] == manual.client_id
    moved = [p for p in payloads if p["what"] == "position"]
    assert [(p["before"], p["after"]) for p in moved] == [(0.0, 0.5)]
    assert "reconciliation changed the cached state" in session.output()
    assert _submits(binance) == 2  # reconciling placed no order


@pytest.mark.slow
@pytest.mark.parametrize("faults", [FaultPlan(partial_fills=[PartialFill(fraction=0.6)])])
def test_a_fill_made_while_the_node_is_down_reaches_its_strategy_and_the_journal(
    binance: FakeBinance, redis_server: RedisServer, env: dict[str, str], start
) -> None:
    # Arrange: the first order fills 60% at once; the rest waits for the next price move.
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    session = start()
    _push(binance, first, range(1))
    wait_for(lambda: len(_saved(redis_server).fills) == 2, 20, "a partial and a whole fill")
    before = _saved(redis_server)
    _crash(binance, session)

    # Act: the price moves while the node is down, and the venue fills the rest.
    binance.set_price("BTCUSDT", CLOSES[0] + 5.0)
    session = start()
    wait_for(lambda: len(_run_ids(env)) == 2 and _reconciliations(env), 20, "the audit")
    _stop(session)
    after = _saved(redis_server)

    # Assert: the missed fill is in the cache, in its strategy's position and in the journal.
    assert session.process.returncode == 0, session.output()[-3000:]
    venue_fills = _venue_fills(binance)
    assert len(venue_fills) == 3 and after.fills == venue_fills
    assert after.positions == pytest.approx(_positions_from(venue_fills, after.owners))
    assert after.positions != before.positions
    (missed,) = venue_fills - before.fills
    changed = [p for p in _reconciliations(env) if p["what"] == "order_changed"]
    assert [(p["client_order_id"], p["status_before"], p["status_after"]) for p in changed] == [
        (missed[0], "PARTIALLY_FILLED", "FILLED")
    ]
    first_run, second_run = _run_ids(env)
    with _journal(env) as journal:
        journalled = [journal.fills(run) for run in (first_run, second_run)]
    assert len(journalled[0]) == 2
    assert journalled[1][["strategy", "side", "qty"]].values.tolist() == [
        [after.owners[missed[0]], missed[2], missed[3]]
    ]
    assert _submits(binance) == 2
    assert _repeated_fills(session) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "faults"),
    [  # a plan each: the fake counts a fault's hits on it
        (path, FaultPlan(partial_fills=[PartialFill(fraction=0.6)]))
        for path in ("/fapi/v1/allOrders", "/fapi/v1/userTrades", "/fapi/v3/positionRisk")
    ],
)
def test_a_report_the_venue_fails_at_restart_is_asked_again_not_guessed(
    binance: FakeBinance, redis_server: RedisServer, env: dict[str, str], start, path: str
) -> None:
    # Arrange: as above, a fill made while the node is down. Then the restart's last request to
    # `path` before it trades, one of reconciliation's (connecting asks for positions too), gets
    # a 503: the first start made as many, or none when the cache held no order.
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    session = start()
    last_of_a_start = max(len(binance.requests_to(path)), 1)
    _push(binance, first, range(1))
    wait_for(lambda: len(_saved(redis_server).fills) == 2, 20, "a partial and a whole fill")
    _crash(binance, session)
    binance.set_price("BTCUSDT", CLOSES[0] + 5.0)
    binance.hub.call(binance.faults.http.append, HttpFault(503, path=path, nth=last_of_a_start))

    # Act
    session = start()
    wait_for(lambda: len(_run_ids(env)) == 2 and _reconciliations(env), 20, "the audit")
    _stop(session)
    after = _saved(redis_server)

    # Assert: the missed fill is booked to its order; reconciliation made up no position of its
    # own for the difference (nautilus' INTERNAL-DIFF) from the partial picture.
    assert session.process.returncode == 0, session.output()[-3000:]
    assert [r.status for r in binance.requests_to(path)].count(503) == 1
    assert after.fills == _venue_fills(binance)
    added = [p for p in _reconciliations(env) if p["what"] == "order_added"]
    assert added == []
    assert after.positions == pytest.approx(_positions_from(after.fills, after.owners))


@pytest.mark.slow
def test_a_fill_the_cache_kept_but_the_journal_missed_is_journalled_at_the_restart(
    binance: FakeBinance, redis_server: RedisServer, env: dict[str, str], start
) -> None:
    # Arrange: two fills in Redis and in the journal; then the state a kill -9 between the
    # cache's write and the journal's leaves (or a start-up attempt that booked a fill but never
    # ran the trader): the journal lacks one of them.
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    session = start()
    _push(binance, first, range(1))
    wait_for(lambda: len(_journalled(env)) == 2, 20, "both fills journalled")
    _crash(binance, session)
    lost = _journalled(env)[0]
    with sqlite3.connect(env["BOT__JOURNAL__PATH"]) as journal:
        query = "SELECT reason FROM fills WHERE order_id = ? AND trade_id = ?"
        (reason,) = journal.execute(query, lost).fetchone()
        journal.execute("DELETE FROM fills WHERE order_id = ? AND trade_id = ?", lost)

    # Act
    session = start()
    wait_for(lambda: len(_journalled(env)) == 2, 20, "the missing fill journalled")
    _stop(session)

    # Assert: each venue fill once in the journal, the lost one under the new run.
    assert session.process.returncode == 0, session.output()[-3000:]
    venue = sorted((client_id, trade_id) for client_id, trade_id, *_ in _venue_fills(binance))
    assert sorted(_journalled(env)) == venue
    with _journal(env) as journal:
        again = journal.fills(_run_ids(env)[-1])
    assert len(again) == 1
    assert reason and again["reason"].tolist() == [reason]  # the rule that sent its order


def _repeated_fills(session: Session) -> list[str]:
    return [line for line in session.output().splitlines() if any(w in line for w in REPEATED_FILL)]


def _journalled(env: dict[str, str]) -> list[tuple[str, str]]:
    """(order id, trade id) of every fill in the journal, in every run."""
    with sqlite3.connect(env["BOT__JOURNAL__PATH"]) as journal:
        return journal.execute("SELECT order_id, trade_id FROM fills ORDER BY ts").fetchall()


def _reconciliations(env: dict[str, str]) -> list[dict]:
    run_id = _run_ids(env)[-1]
    with _journal(env) as journal:
        return journal.events(run_id, RECONCILIATION_EVENT)["payload"].tolist()


def test_live_with_redis_down_refuses_with_exit_7_and_says_what_to_do(
    binance: FakeBinance, env: dict[str, str]
) -> None:
    # Arrange: a port nothing listens on.
    env = env | {"BOT__PERSISTENCE__REDIS_PORT": str(free_port())}

    # Act
    result = run_bot([*LIVE, "--confirm-live", "--duration-s", "5"], env)

    # Assert
    assert result.returncode == 7, result.stderr[-3000:]
    assert "is not reachable" in result.stderr and "redis-server" in result.stderr
    assert "persistence.redis_port" in result.stderr
    assert "Starting the live node" not in result.stdout
    assert "Traceback" not in result.stderr
    assert not binance.requests_to("/fapi/v1/order")
