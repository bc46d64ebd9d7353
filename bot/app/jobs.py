"""Operator jobs for `bot schedule`, run outside the trading node.

- `refresh_data`: download the job's symbols again from `start` (`bot data fetch`, needs
  network) and replace their catalog entries.
- `retrain`: build a dataset on the newest data (`[train]`), run SFT then PPO, and register the
  result as a candidate `candidate-<UTC stamp>` (not active).
- `evaluate`: backtest the newest unevaluated candidate and the active router on the
  candidate's test splits (out of sample for the candidate; the active router may have trained
  on part of them, which flatters it and so errs toward keeping it). Writes `comparison.json`.
- `promote`: promote the newest compared candidate only if its mean Sharpe beats the active
  router's by `[schedule] margin` and its mean max drawdown is no deeper than the active one's
  plus `drawdown_tolerance`; else keep the active router. Either way the verdict is journalled.
- `daily_report`: a markdown report of the last day's runs, decisions, fills and events.

A job writes its results only once it has finished (folders are built aside and moved in), so
a failed job changes nothing; it is journalled (`job_ok` / `job_failed`) and a failure alerts.
"""

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import structlog

from bot.core.alerts import JOB_FAILED, Notifier
from bot.core.settings import JobSettings, Settings
from bot.engine.backtest import run_many
from bot.engine.backtest_request import base_request
from bot.engine.journal import Journal
from bot.engine.registry import Registry
from bot.engine.router_journal import ACCOUNT_EVENT
from bot.model.policy import load_policy

log = structlog.get_logger(__name__)

COMPARISON = "comparison.json"
CANDIDATE_PREFIX = "candidate-"
JOB_OK, JOB_FAILED_EVENT = "job_ok", "job_failed"
PROMOTED, KEPT = "model_promoted", "promotion_refused"


@dataclass(frozen=True)
class JobContext:
    """What every job may use: settings, the journal (under `run_id`), registry and alerts.
    `bot_args` are the global options (`--config`, `--set`) for `bot` subprocesses."""

    settings: Settings
    journal: Journal
    run_id: str
    registry: Registry
    notifier: Notifier
    bot_args: tuple[str, ...] = ()

    def event(self, kind: str, payload: dict[str, Any]) -> None:
        """Journal one event of this scheduler run, stamped now."""
        self.journal.record_event(self.run_id, pd.Timestamp.now(tz="UTC"), kind, payload)


def run_job(job: JobSettings, context: JobContext) -> bool:
    """Run `job` once; journal the outcome, alert on failure. True when it succeeded."""
    began = time.monotonic()
    log.info("job started", job=job.name, kind=job.kind)
    try:
        summary = JOBS[job.kind](job, context)
    except Exception as error:  # a failed job must never take the scheduler down
        reason = f"{type(error).__name__}: {error}"
        log.error("job failed", job=job.name, error=reason)
        context.event(JOB_FAILED_EVENT, {"job": job.name, "kind": job.kind, "error": reason})
        context.notifier.send(JOB_FAILED, f"job {job.name} failed: {reason}", {"job": job.name})
        return False
    seconds = round(time.monotonic() - began, 1)
    context.event(JOB_OK, {"job": job.name, "kind": job.kind, "seconds": seconds, **summary})
    log.info("job finished", job=job.name, seconds=seconds, **summary)
    return True


def refresh_data(job: JobSettings, context: JobContext) -> dict[str, Any]:
    """`bot data fetch` for each symbol, from `job.start` to now."""
    end = datetime.now(UTC).replace(microsecond=0)
    for symbol in job.symbols:
        command = [sys.executable, "-m", "bot", *context.bot_args, "data", "fetch"]
        command += ["--venue", job.venue, "--symbol", symbol, "--bar", job.bar]
        command += ["--start", job.start.isoformat(), "--end", end.strftime("%Y-%m-%dT%H:%M:%S")]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"fetching {symbol} failed: {done.stderr.strip()[-500:]}")
    return {"symbols": list(job.symbols)}


def retrain(job: JobSettings, context: JobContext) -> dict[str, Any]:
    """Dataset, SFT and PPO on the newest data; registers a candidate."""
    from bot.model.router_model import ModelConfig
    from training.dataset import build_dataset
    from training.dataset_config import DatasetConfig
    from training.ppo import PPOConfig, train_ppo
    from training.router_dataset import RouterDataset
    from training.sft import SFTConfig, train_sft

    settings = context.settings
    name = f"{CANDIDATE_PREFIX}{datetime.now(UTC):%Y%m%d-%H%M%S}"
    work = settings.train.checkpoints / name
    config = DatasetConfig.from_settings(settings, job.image_size)
    data = RouterDataset.load(build_dataset(config, work / "dataset"))
    start = ModelConfig(backbone=settings.train.backbone, hf_model_dir=settings.train.hf_model_dir)
    sft = train_sft(data, start, work / "sft", SFTConfig(max_steps=job.max_steps))
    ppo = train_ppo(data, sft, work / "ppo", PPOConfig(max_steps=job.max_steps))
    context.registry.add(ppo, name)
    return {"candidate": name, "samples": len(data)}


def evaluate(job: JobSettings, context: JobContext) -> dict[str, Any]:
    """Candidate against the active router on the candidate's test splits."""
    candidate = _newest_candidate(
        context.registry, lambda folder: not (folder / COMPARISON).exists()
    )
    active = context.registry.active()
    if active is None:
        raise RuntimeError("no active router to compare with: `bot models promote NAME` first")
    meta = json.loads((candidate / "meta.json").read_text())["extra"]["dataset"]
    base = replace(base_request(context.settings), progress=False)
    comparison = {
        "candidate": candidate.name,
        "active": active,
        "candidate_scores": _mean_scores(base, meta, candidate),
        "active_scores": _mean_scores(base, meta, context.registry.root / active),
    }
    _write_json(candidate / COMPARISON, comparison)
    return comparison


def promote(job: JobSettings, context: JobContext) -> dict[str, Any]:
    """Promote the newest compared candidate if it clears the margin without a deeper drawdown."""
    candidate = _newest_candidate(context.registry, _undecided)
    comparison = json.loads((candidate / COMPARISON).read_text())
    verdict = promotion_verdict(comparison, context.settings.schedule)
    if context.registry.active() != comparison["active"]:
        verdict = f"the active router changed since the comparison (was {comparison['active']})"
    promoted = verdict is None
    if promoted:
        context.registry.promote(candidate.name)
    kind = PROMOTED if promoted else KEPT
    payload = {"active": candidate.name if promoted else comparison["active"]}
    payload |= {"candidate": candidate.name, "previous": comparison["active"], "why": verdict}
    context.event(kind, payload)
    _write_json(candidate / COMPARISON, comparison | {"decision": kind, "why": verdict})
    return {"candidate": candidate.name, "promoted": promoted, "why": verdict}


def promotion_verdict(comparison: dict[str, Any], schedule) -> str | None:
    """None when the candidate may be promoted, else why not."""
    new, old = comparison["candidate_scores"], comparison["active_scores"]
    if new["sharpe"] < old["sharpe"] + schedule.margin:
        return (
            f"Sharpe {new['sharpe']:.3f} does not beat the active {old['sharpe']:.3f} by the "
            f"margin {schedule.margin:.3f}"
        )
    if new["max_drawdown"] > old["max_drawdown"] + schedule.drawdown_tolerance:
        return (
            f"max drawdown {new['max_drawdown']:.2%} is deeper than the active "
            f"{old['max_drawdown']:.2%} (tolerance {schedule.drawdown_tolerance:.2%})"
        )
    return None


def daily_report(job: JobSettings, context: JobContext) -> dict[str, Any]:
    """The last 24 hours of the journal, as `<report_dir>/<date>.md`."""
    since = pd.Timestamp.now(tz="UTC") - timedelta(days=1)
    runs = context.journal.runs()
    runs = runs[pd.to_datetime(runs["started"], utc=True, format="ISO8601") >= since]
    lines = [f"# Daily report {since:%Y-%m-%d %H:%M} to now (UTC)", ""]
    lines += [f"Active router: {context.registry.active() or 'none'}", "", "## Runs", ""]
    for run in runs.itertuples():
        fills = context.journal.fills(run.run_id)
        kinds = context.journal.events(run.run_id)["kind"]
        kinds = kinds[kinds != ACCOUNT_EVENT]  # one per model decision: bookkeeping, not news
        lines.append(
            f"- {run.run_id} {run.mode} {run.symbol} {run.policy}: {run.decisions} decisions, "
            f"{len(fills)} fills, events: {', '.join(kinds) or 'none'}"
        )
    path = context.settings.schedule.report_dir / f"{datetime.now(UTC):%Y-%m-%d}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return {"report": str(path), "runs": len(runs)}


JOBS: dict[str, Callable[[JobSettings, JobContext], dict[str, Any]]] = {
    "refresh_data": refresh_data,
    "retrain": retrain,
    "evaluate": evaluate,
    "promote": promote,
    "daily_report": daily_report,
}


def _undecided(folder: Path) -> bool:
    path = folder / COMPARISON
    return path.exists() and "decision" not in json.loads(path.read_text())


def _newest_candidate(registry: Registry, wanted: Callable[[Path], bool]) -> Path:
    folders = [
        entry.path
        for entry in registry.entries()
        if entry.name.startswith(CANDIDATE_PREFIX) and wanted(entry.path)
    ]
    if not folders:
        raise RuntimeError(f"no candidate in {registry.root} is waiting for this step")
    return max(folders, key=lambda folder: folder.name)


def _mean_scores(base, dataset_meta: dict, checkpoint: Path) -> dict[str, float]:
    from training.eval_windows import test_windows

    windows = test_windows(
        {
            "config": dataset_meta["config"],
            "symbols": {s: {"splits": v} for s, v in dataset_meta["symbols"].items()},
        }
    )
    requests = [
        replace(base, symbol=w.symbol, bar=w.bar, start=w.test_start, end=w.test_end,
                policy=f"model:{checkpoint}")
        for w in windows
    ]  # fmt: skip
    results = run_many(requests, load_policy=load_policy)
    return {
        key: float(np.mean([r.metrics[key] for r in results]))
        for key in ("total_return", "sharpe", "max_drawdown")
    }


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    aside = path.with_suffix(".tmp")
    aside.write_text(json.dumps(payload, indent=1, default=str))
    shutil.move(aside, path)
