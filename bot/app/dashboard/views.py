"""What the dashboard's JSON API answers, built from the readers `bot runs list`, `bot status`
and `bot explain` use: the journal (opened read-only) and the node's state in Redis.

Every function here takes what was read and returns JSON-safe data; none writes anything.
"""

from datetime import datetime
from pathlib import Path

import pandas as pd

from bot.app.explain import pnl_from_fills
from bot.app.runs import Run, list_runs
from bot.app.status import (
    CLOCK_TOLERANCE,
    bar_age_text,
    data_age,
    held_back,
    missing_state,
    position_rows,
)
from bot.core.errors import ConfigError
from bot.engine.journal import DecisionRecord, Journal, RunRecord
from bot.engine.node_state import CacheState, Session
from strategies import EXPERTS, STRATEGIES

REPORT_PAGE = "index.html"
EVENTS_SHOWN = 20


def runs_view(journal: Journal, mode: str | None = None) -> list[dict]:
    """Every run, newest first, as `bot runs list` groups them, with the report pages found in
    its folder and the decisions each journalled run holds."""
    journalled = journal.runs().set_index("run_id")
    return [_run_json(run, journalled) for run in list_runs(journal, mode)]


def report_folder(journal: Journal, run_id: str) -> Path:
    """The report folder of the run `run_id` (as `bot runs list` names it)."""
    for run in list_runs(journal):
        if run.run_id == run_id and run.report_dir:
            return Path(run.report_dir)
    raise ConfigError(f"The run {run_id!r} has no report folder in the journal {journal.path}.")


def decisions_view(journal: Journal, run_id: str) -> dict:
    """The journalled run `run_id` and one line per decision, numbered from 1 in time order."""
    run = journal.run(run_id)
    rows = [
        {
            "n": n,
            "time": record.time.isoformat(),
            "policy": record.policy,
            "fallback": record.fallback,
            "top_expert": max(record.experts.items(), key=lambda item: item[1])[0],
            "regime": _top(record.regime),
        }
        for n, record in enumerate(journal.decision_records(run_id), start=1)
    ]
    return {"run": _record_json(run), "decisions": rows}


def decision_view(journal: Journal, run_id: str, n: int) -> dict:
    """Decision `n` (from 1) of the run: what was decided, on what, and what came of it."""
    run = journal.run(run_id)
    records = journal.decision_records(run_id)
    record = decision_record(records, run_id, n)
    following = records[n] if n < len(records) else None
    return {
        "run": _record_json(run),
        "n": n,
        "of": len(records),
        "time": record.time.isoformat(),
        "policy": record.policy,
        "policy_version": record.policy_version,
        "latency_ms": record.latency_ms,
        "fallback": record.fallback,
        "error": record.error,
        "inputs_hash": record.inputs_hash,
        "close": record.close,
        "weights": dict(record.weights),
        "experts": dict(record.experts),
        "by_expert": _by_expert(record.weights, record.experts),
        "regime": dict(record.regime) if record.regime else None,
        "chart": record.chart_path is not None and Path(record.chart_path).is_file(),
        "outcome": _outcome(journal, record, following),
    }


def decision_record(records: list[DecisionRecord], run_id: str, n: int) -> DecisionRecord:
    """Decision `n` (from 1) of `records`; refused, with the range, when there is none."""
    if not 1 <= n <= len(records):
        raise ConfigError(f"The run {run_id} has decisions 1 to {len(records)}; there is no {n}.")
    return records[n - 1]


def status_view(
    session: Session, cache: CacheState | None, cache_error: str | None, now: datetime
) -> dict:
    """A paper or live node's state as `bot status` reads it; `cache` is None (and
    `cache_error` says why) when Redis could not be read or holds nothing of the session."""
    missing = None if cache is None else missing_state(session, cache)
    if missing:
        cache, cache_error = None, missing
    run = session.run
    view = {
        "run": _record_json(run),
        "venue": session.venue,
        "state": session.state,
        "pid": session.pid,
        "trader_id": session.trader_id,
        "now": now.isoformat(),
        "redis_error": cache_error,
        "router": _router_json(session.decisions),
        "held_back": [
            {"strategy": name, "since": ts.isoformat(), "reason": reason}
            for name, ts, reason in held_back(session)
        ],
        "events": _events_json(session.events),
    }
    if cache is not None:
        view |= {
            "market": _market_json(session, cache, now),
            "kill_switch": _kill_switch_json(cache.guard.get("kill_switch") or {}),
            "positions": position_rows(cache),
        }
    return view


def _run_json(run: Run, journalled: pd.DataFrame) -> dict:
    folder = Path(run.report_dir) if run.report_dir else None
    pages = []
    if folder is not None and folder.is_dir():
        found = [*folder.glob(REPORT_PAGE), *sorted(folder.glob(f"*/{REPORT_PAGE}"))]
        pages = [page.relative_to(folder).as_posix() for page in found]
    return {
        "run_id": run.run_id,
        "mode": run.mode,
        "symbols": list(run.symbols),
        "policies": list(run.policies),
        "started": run.started,
        "report_dir": run.report_dir,
        "reports": pages,
        "journal_runs": [
            {
                "id": journal_id,
                "symbol": journalled.at[journal_id, "symbol"],
                "policy": journalled.at[journal_id, "policy"],
                "decisions": int(journalled.at[journal_id, "decisions"]),
            }
            for journal_id in run.journal_ids
        ],
    }


def _record_json(run: RunRecord) -> dict:
    return {
        "run_id": run.run_id,
        "mode": run.mode,
        "symbol": run.symbol,
        "bar": run.bar,
        "policy": run.policy,
        "started": run.started,
    }


def _by_expert(weights, experts) -> list[dict]:
    """The weights grouped by expert, in the strategy table's order."""
    return [
        {
            "expert": expert,
            "weight": experts.get(expert, 0.0),
            "strategies": [
                {"name": spec.name, "weight": weights.get(spec.name, 0.0)}
                for spec in STRATEGIES
                if spec.expert == expert
            ],
        }
        for expert in EXPERTS
    ]


def _top(probabilities) -> str | None:
    if not probabilities:
        return None
    return max(probabilities.items(), key=lambda item: item[1])[0]


def _outcome(journal: Journal, record: DecisionRecord, following: DecisionRecord | None) -> dict:
    """PnL per strategy until the next decision, from the journalled fills marked at the
    journalled closes (as `bot explain` computes it)."""
    if following is None:
        return {
            "note": "the last decision: the run's end price is not journalled, so its PnL is in "
            "the run's report, not here."
        }
    if record.close is None or following.close is None:
        return {"note": "these decisions carry no close price to mark positions at."}
    pnl = pnl_from_fills(journal.fills(record.run_id), record, following)
    return {"until": following.time.isoformat(), "pnl": pnl, "total": sum(pnl.values())}


def _router_json(decisions: pd.DataFrame) -> dict | None:
    if decisions.empty:
        return None
    last = decisions.iloc[-1]
    return {
        "time": decisions.index[-1].isoformat(),
        "policy": last["policy"],
        "fallback": bool(last["fallback"]),
        "error": last["error"],
        "decisions": len(decisions),
        "fell_back": int(decisions["fallback"].sum()),
        "weights": dict(last["weights"]),
        "experts": dict(last["experts"]),
        "by_expert": _by_expert(last["weights"], last["experts"]),
        "regime": dict(last["regime"]) if last["regime"] else None,
    }


def _market_json(session: Session, cache: CacheState, now: datetime) -> dict | None:
    age = data_age(session, cache, now)
    if age is None:
        return None
    last, (at, age, limit) = cache.guard["last_bar"], age
    return {
        "equity": last["equity"],
        "close": last["close"],
        "last_bar": at.isoformat(),
        "age_s": age.total_seconds(),
        "stale_after_s": limit.total_seconds(),
        "stale": age > limit,
        "clock_problem": age < -CLOCK_TOLERANCE,
        "text": bar_age_text(age, limit),
    }


def _kill_switch_json(state: dict) -> dict:
    return {
        "tripped": bool(state.get("reason")),
        "reason": state.get("reason"),
        "tripped_at": state.get("tripped_at"),
        "peak": state.get("peak"),
    }


def _events_json(events: pd.DataFrame) -> list[dict]:
    if events.empty:
        return []
    return [
        {"time": event.ts.isoformat(), "kind": event.kind, "payload": event.payload}
        for event in events.tail(EVENTS_SHOWN).itertuples()
    ][::-1]  # newest first
