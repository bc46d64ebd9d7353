"""Chaos soak: `bot paper` against each fake venue (Binance USDT-M futures BTCUSDT, Alpaca
crypto BTC/USD; its cache in a private Redis) for `CHAOS_SOAK_S` seconds (default 90) while a
seeded random stream of faults hits it: 5xx and 429 on every endpoint the node has called,
websocket connections cut without a close frame, fills reported late or twice on the user
stream, and one kill -9 and restart halfway. A bar arrives every second, and the router's window
is 2 bars, so it trades all the time. What differs by venue is in `tests/support/soak_venues`.

Afterwards no order is at the venue twice, every venue fill is in the ledger (Redis cache and
journal) exactly once, the per-strategy positions add up to the venue's, the journal is intact,
and the node either stopped cleanly on SIGINT or exited non-zero with an alert. The counts go to
`benchmarks/results/chaos_soak.json` (Binance) and `chaos_soak-alpaca.json`. `CHAOS_SEED`
replays a failure (the seed is printed); `-k binance` or `-k alpaca` soaks one venue."""

import faulthandler
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RedisServer
from tests.fakes.faults import DelayedFill, DuplicatedFill, HttpFault
from tests.fakes.waiting import wait_for
from tests.support import soak_ledger
from tests.support.alert_receiver import alert_receiver
from tests.support.cli import ROOT
from tests.support.series import SyntheticHistory
from tests.support.soak_venues import VENUES, SoakVenue

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOAK_S = float(os.environ.get("CHAOS_SOAK_S", "90"))
SEED = int(os.environ.get("CHAOS_SEED", str(random.SystemRandom().randrange(2**32))))
FAULT_KINDS = ("http_5xx", "http_429", "ws_drop", "delayed_fill", "duplicated_fill")
HTTP_FAULT_S = 3.0  # an injected 5xx or 429 not hit by then is withdrawn (an outage ends)
SETTLE_S = 12.0  # fault-free bars at the end: late fills land, in-flight checks finish
START_S = 60.0  # the first start, without faults
STARTUP_TIMEOUT_S = 25  # the start-up watchdog's, per attempt (3 attempts)
STARTS_S = 3 * STARTUP_TIMEOUT_S + 30  # a restart under faults: every attempt and backoff


class Node:
    """The `bot paper` process of the soak, restarted as needed; output goes to files."""

    def __init__(self, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.args, self.env, self.logs = args, env, logs
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        log = self.logs / f"paper-{self.starts}.log"
        self.starts += 1
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@pytest.fixture
def first_bar() -> datetime:
    """The open of the first bar the soak pushes: far enough back that the last one is not in
    the future."""
    bars = int(SOAK_S + SETTLE_S + STARTS_S) + 10
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=bars + 5)


@pytest.fixture(params=VENUES, ids=lambda venue: venue.name)
def venue(request: pytest.FixtureRequest) -> SoakVenue:
    return request.param


@pytest.fixture
def fake(venue: SoakVenue, first_bar: datetime) -> Iterator[Any]:
    # A day of history up to the first pushed bar: the strategies warm up from it at each start.
    with venue.serve(SyntheticHistory(first_bar - timedelta(days=1), first_bar)) as served:
        yield served


@pytest.fixture
def alerts() -> Iterator[tuple[str, list[dict]]]:
    with alert_receiver() as received:
        yield received


@pytest.fixture
def node(
    venue: SoakVenue, fake: Any, persistence_env: dict[str, str], alerts, tmp_path: Path
) -> Iterator[Node]:
    env = venue.env(fake) | persistence_env
    env |= {
        "BOT_ALERT_WEBHOOK_URL": alerts[0],
        # Bars come a minute of venue time per second of wall time, stamped in the past.
        "BOT__RISK__STALE_AFTER_BARS": "100000",
        "BOT__RISK__BACKOFF_MAX_S": "5",
        "BOT__RISK__BAN_DEFAULT_S": "5",
        "BOT__RISK__STARTUP_TIMEOUT_S": str(STARTUP_TIMEOUT_S),
    }
    soak = Node(venue.paper, env, tmp_path)
    yield soak
    if soak.alive():
        soak.process.kill()
        soak.process.wait(timeout=10)


def test_a_paper_node_under_random_faults_keeps_its_ledger_and_positions_exact(
    venue: SoakVenue,
    fake: Any,
    node: Node,
    redis_server: RedisServer,
    alerts,
    first_bar: datetime,
) -> None:
    # Arrange: a hard stop for the whole test (no pytest-timeout here), and the seed to replay.
    faulthandler.dump_traceback_later(SOAK_S + SETTLE_S + START_S + STARTS_S + 120, exit=True)
    print(f"chaos soak {venue.name}: seed {SEED} (CHAOS_SEED={SEED} replays it), {SOAK_S:.0f} s")
    rng = random.Random(SEED)
    injected: Counter[str] = Counter()
    base = venue.price(fake)
    armed: list[tuple[float, int]] = []  # (expiry, index in faults.http) of live 5xx/429
    node.start()
    _wait_started(venue, fake, node)
    # Its strategies drop a warm-up that lands after the first live bar (older bars), so
    # the first bar waits for the warm-ups of the router and of the strategies (one for all 11).
    warmed = lambda: node.output().count("Received <Bar[") >= 2 or not node.alive()  # noqa: E731
    wait_for(warmed, START_S, "the warm-up bars")

    # Act: a bar a second; a random fault most seconds; kill -9 and restart halfway. Then bars
    # without faults until the node has been subscribed for SETTLE_S (or has given up).
    started = time.monotonic()
    killed = False
    calm_since = None
    minute = 0
    while (elapsed := time.monotonic() - started) < SOAK_S + SETTLE_S + STARTS_S:
        # Swings of about 2% over 16 bars: the strategies' signals turn often.
        wave = 0.02 * math.sin(2 * math.pi * minute / 16) + rng.gauss(0, 0.002)
        price = round(base * (1 + wave), 2)
        _expire(fake, armed, time.monotonic())
        at = first_bar + timedelta(minutes=minute)
        venue.push(fake, at, (price * 0.999, price * 1.002, price * 0.997, price, 3.0))
        minute += 1
        if elapsed < SOAK_S and rng.random() < 0.7:
            _inject(venue, fake, rng, injected, armed)
        if not killed and elapsed > SOAK_S / 2:
            killed = True
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(timeout=10)
            wait_for(lambda: fake.hub.listening(venue.bars) == 0, 10, "the dead node's streams")
            node.start()
        if not node.alive():
            break  # it gave up: checked below
        subscribed = fake.hub.listening(venue.bars) > 0
        if elapsed >= SOAK_S and subscribed:
            calm_since = calm_since if calm_since is not None else elapsed
            if elapsed - calm_since >= SETTLE_S:
                break
        time.sleep(1.0)
    # Stopped while it trades: the fills of orders still in flight must reach the ledger too.
    if node.alive():
        node.process.send_signal(signal.SIGINT)
        node.process.wait(timeout=30)
    faulthandler.cancel_dump_traceback_later()

    # Assert: gather both sides, write the counts, then check them.
    ledger = venue.ledger(fake)
    cache = soak_ledger.cached(redis_server)
    journal, intact = soak_ledger.journalled(Path(node.env["BOT__JOURNAL__PATH"]))
    mismatches = soak_ledger.mismatches(ledger, cache, journal, intact)
    clean = node.process.returncode == 0
    result = {
        "seed": SEED,
        "duration_s": SOAK_S,
        "faults": _injected(fake, injected),
        "restarts": node.starts - 1,
        "orders": len(ledger["orders"]),
        "fills": len(ledger["fills"]),
        "exit_code": node.process.returncode,
        "inferred_trade_ids": soak_ledger.inferred(ledger, cache),
        "mismatches": len(mismatches),
        "refused_fill_warnings": soak_ledger.refused_fill_warnings(node.logs),
    }
    results = ROOT / "benchmarks" / "results" / venue.results
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    assert clean or any(a.get("kind") == "start_failed" for a in alerts[1]), node.output()[-3000:]
    assert clean or node.process.returncode != 0
    assert mismatches == [], f"seed {SEED}: {mismatches}"
    assert result["orders"] > 0 and result["fills"] > 0, "the node never traded"
    # A fill reported late or twice, and a restart's trade list, are not warned about as
    # refused fills: they are recognised as booked before nautilus sees them.
    assert result["refused_fill_warnings"] == 0
    assert all(injected[f"planned_{kind}"] > 0 for kind in FAULT_KINDS), injected


def _wait_started(venue: SoakVenue, fake: Any, node: Node) -> None:
    subscribed = lambda: fake.hub.listening(venue.bars) > 0 or not node.alive()  # noqa: E731
    wait_for(subscribed, START_S, "a subscription")


def _inject(
    venue: SoakVenue, fake: Any, rng: random.Random, injected: Counter, armed: list
) -> None:
    kind = rng.choice(FAULT_KINDS)
    faults = fake.faults
    if kind in ("http_5xx", "http_429"):
        # Every endpoint the node has called so far, the order endpoint included.
        paths = sorted({r.path for r in fake.requests} | {venue.order_path})
        path = rng.choice(paths)
        status = rng.choice((500, 503)) if kind == "http_5xx" else 429
        retry = 1.0 if status == 429 else None
        fault = HttpFault(status, path=path, retry_after=retry, times=rng.randint(1, 2))
        fake.hub.call(faults.http.append, fault)
        armed.append((time.monotonic() + HTTP_FAULT_S, len(faults.http) - 1))
    elif kind == "ws_drop":
        fake.hub.call(fake.hub.cut, rng.randrange(1000))
    elif kind == "delayed_fill":
        fake.hub.call(faults.delayed_fills.append, DelayedFill(delay_s=rng.uniform(0.5, 3.0)))
    else:
        fake.hub.call(faults.duplicated_fills.append, DuplicatedFill())
    injected[f"planned_{kind}"] += 1


def _expire(fake: Any, armed: list, now: float) -> None:
    # Replaced by a rule that matches nothing: the plan counts its rules by index.
    spent = HttpFault(500, path="/expired", times=0)
    for entry in [entry for entry in armed if entry[0] <= now]:
        armed.remove(entry)
        fake.hub.call(fake.faults.http.__setitem__, entry[1], spent)


def _injected(fake: Any, injected: Counter) -> dict[str, int]:
    statuses = Counter(r.status for r in fake.requests)
    injected["ws_drop"] = fake.hub.dropped
    injected["delayed_fill"] = fake.hub.delayed
    injected["duplicated_fill"] = fake.hub.duplicated
    injected["http_5xx"] = sum(n for status, n in statuses.items() if status >= 500)
    injected["http_429"] = statuses[429]
    return {kind: injected[kind] for kind in FAULT_KINDS}
