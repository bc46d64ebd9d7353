"""The journal's records and their rows: `RunRecord` and `DecisionRecord`, and how a decision and
a fill turn into a journal row and a decision row back into its record.

Callers import the records from `bot.engine.journal`, whose `Journal` writes and reads them; the
SQL and the connection stay there.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from numbers import Integral
from typing import Any

import pandas as pd

from bot.engine.policy import complete
from strategies import EXPERTS

DECISION_COLUMNS = (
    "run_id, ts, time, symbol, window_index, inputs_hash, chart_path, weights, experts, regime, "
    "policy, policy_version, latency_ms, fallback, error, close"
)
FILL_COLUMNS = ("ts", "strategy", "side", "qty", "price", "commission")


@dataclass(frozen=True)
class RunRecord:
    """One run (a backtest of one symbol and policy, or a paper/live session).

    `settings` is the effective settings as JSON-safe data (`Settings.model_dump(mode="json")`);
    secrets never appear there, they live apart in `Secrets`.
    """

    run_id: str
    mode: str
    symbol: str
    bar: str
    policy: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    report_dir: str | None = None
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


@dataclass(frozen=True)
class DecisionRecord:
    """One router decision as journalled.

    `weights` holds all eleven strategies in table order, `experts` the four experts; `regime`
    is the model's class probabilities (None for static policies). `close` is the bar close at
    the decision, which marks the strategies' positions when PnL is rebuilt from fills.
    """

    run_id: str
    ts: int
    symbol: str
    window_index: int
    weights: Mapping[str, float]
    experts: Mapping[str, float]
    policy: str
    regime: Mapping[str, float] | None = None
    inputs_hash: str | None = None
    chart_path: str | None = None
    policy_version: str | None = None
    latency_ms: float | None = None
    fallback: bool = False
    error: str | None = None
    close: float | None = None

    @property
    def time(self) -> pd.Timestamp:
        """The decision time as a UTC timestamp."""
        return pd.Timestamp(self.ts, tz="UTC")


def decision_row(decision: DecisionRecord) -> tuple:
    """The decision's values in `DECISION_COLUMNS` order, weights completed to the full table."""
    return (
        decision.run_id,
        int(decision.ts),
        decision.time.isoformat(),
        decision.symbol,
        int(decision.window_index),
        decision.inputs_hash,
        None if decision.chart_path is None else str(decision.chart_path),
        json.dumps(complete(decision.weights)),
        json.dumps({name: float(decision.experts.get(name, 0.0)) for name in EXPERTS}),
        None if decision.regime is None else json.dumps(dict(decision.regime)),
        decision.policy,
        decision.policy_version,
        decision.latency_ms,
        int(decision.fallback),
        decision.error,
        decision.close,
    )


def decision_from_row(row: tuple) -> DecisionRecord:
    """The record of a row selected as `DECISION_COLUMNS`, its JSON columns parsed."""
    (
        run_id,
        ts,
        _time,
        symbol,
        window_index,
        inputs_hash,
        chart_path,
        weights,
        experts,
        regime,
        policy,
        policy_version,
        latency_ms,
        fallback,
        error,
        close,
    ) = row
    return DecisionRecord(
        run_id,
        ts,
        symbol,
        window_index,
        json.loads(weights),
        json.loads(experts),
        policy,
        None if regime is None else json.loads(regime),
        inputs_hash,
        chart_path,
        policy_version,
        latency_ms,
        bool(fallback),
        error,
        close,
    )


def fill_row(run_id, ts, strategy, side, qty, price, commission) -> tuple:
    """A fill's run id and `FILL_COLUMNS` values as the journal stores them."""
    return (
        run_id,
        utc_ns(ts),
        strategy,
        str(side).upper(),
        float(qty),
        float(price),
        float(commission),
    )


def utc_ns(ts: int | pd.Timestamp | datetime) -> int:
    """`ts` as UTC nanoseconds since the epoch; a time without a timezone is refused."""
    if isinstance(ts, Integral):
        return int(ts)
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        raise ValueError(f"fill time {ts!r} has no timezone; journal times are UTC")
    return int(stamp.value)
