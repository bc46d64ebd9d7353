"""The runs in the journal as a person names them: `bot runs list` and the run ids `bot explain`
accepts.

A backtest journals one run per symbol and policy (`<id>-<symbol>-<policy>`), but prints only
`<id>`; here those runs are grouped back under the id it printed.
"""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bot.core.errors import ConfigError
from bot.engine.backtest_request import backtest_run_id
from bot.engine.journal import Journal, RunRecord

MODES = ("backtest", "evaluate", "leaderboard", "paper", "live", "schedule", "operator")
DECIDED_MODES = ("backtest", "paper", "live")  # the runs whose router decisions are journalled


@dataclass(frozen=True)
class Run:
    """One run as `bot runs list` shows it: a backtest with all its symbols and policies, an
    evaluation, a paper or live session, a scheduled job or an operator command."""

    run_id: str
    mode: str
    symbols: tuple[str, ...]
    policies: tuple[str, ...]
    started: str
    report_dir: str | None
    journal_ids: tuple[str, ...]  # the journal's own ids, one per symbol and policy


def list_runs(journal: Journal, mode: str | None = None) -> list[Run]:
    """Every run in the journal (of `mode` only, when given; a mode no run can have is
    refused), newest first."""
    check_mode(mode)
    frame = journal.runs()
    if mode is not None:
        frame = frame[frame["mode"] == mode]
    frame = frame.assign(printed=[_printed_id(row) for row in frame.itertuples()])
    runs = [_run(printed, group) for printed, group in frame.groupby("printed", sort=False)]
    return sorted(runs, key=lambda run: run.started, reverse=True)


def check_mode(mode: str | None) -> None:
    """ConfigError for a mode no run can have (None: any)."""
    if mode is not None and mode not in MODES:
        raise ConfigError(f"mode {mode!r} is not a run mode: pass one of {', '.join(MODES)}.")


def latest_decided_run(journal: Journal) -> RunRecord | None:
    """The run `bot explain` takes when none is named: the newest backtest, paper or live run
    (evaluations, schedules and operator commands journal no decisions here) and, of a backtest
    of several policies, a model's, whichever of them started first; None when there is none."""
    for run in list_runs(journal):
        if run.mode in DECIDED_MODES:
            records = [journal.run(journal_id) for journal_id in run.journal_ids]
            models = [r for r in records if r.policy.startswith(("model:", "lgbm:"))]
            return (models or records)[0]
    return None


def resolve_run(journal: Journal, run_id: str) -> RunRecord:
    """The journalled run `run_id`: a journal id, or the id `bot backtest` printed when it
    covers one symbol and policy; refused, naming the ids to pass, when it covers several."""
    matches = [run for run in list_runs(journal) if run.run_id == run_id]
    if not matches or run_id in matches[0].journal_ids:
        return journal.run(run_id)  # an unknown id is refused there, with the recent ids
    ids = matches[0].journal_ids
    if len(ids) == 1:
        return journal.run(ids[0])
    raise ConfigError(
        f"The backtest {run_id} ran {len(ids)} symbol and policy pairs, and a run is explained "
        f"one pair at a time: pass one of {', '.join(ids)}."
    )


def _printed_id(row) -> str:
    if row.mode != "backtest":
        return row.run_id
    return backtest_run_id(row.run_id, row.symbol, row.policy)


def _run(printed: str, group: pd.DataFrame) -> Run:
    folders = group["report_dir"].dropna()
    symbols = tuple(dict.fromkeys(group["symbol"]))
    # A backtest of several symbols writes one folder per symbol under the folder it printed.
    folder = None if folders.empty else folders.iloc[0]
    if folder is not None and len(symbols) > 1:
        folder = str(Path(folder).parent)
    return Run(
        run_id=printed,
        mode=group["mode"].iloc[0],
        symbols=symbols,
        policies=tuple(dict.fromkeys(group["policy"])),
        started=group["started"].min(),
        report_dir=folder,
        journal_ids=tuple(group["run_id"]),
    )
