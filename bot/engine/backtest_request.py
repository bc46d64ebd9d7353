"""What one backtest run needs (`BacktestRequest`), and requests built from the settings.

A request is picklable, so runs can go to worker processes (`bot.engine.backtest.run_many`).
"""

import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import pandas as pd

from bot.core.fingerprint import out_of_sample_start
from bot.core.saved_meta import trained_on
from bot.core.settings import Settings
from bot.engine.router_config import router_settings

# A run longer than this streams its bars into the engine in chunks of this many (run(streaming=
# True), clear_data(), add_data(), ...): nautilus Bar objects cost about 1 KB each, so a year of
# minute bars held at once would add hundreds of MB. Shorter runs load in one go, as before.
STREAM_BARS = 20_000


@dataclass(frozen=True)
class BacktestRequest:
    """Everything one run needs; picklable so runs can go to worker processes."""

    symbol: str
    policy: str = "uniform"
    bar: str = "1d"
    start: date | None = None
    end: date | None = None
    years: int = 10
    # With no `start`, the run starts `years` before the end but not before this day: the first
    # day out of sample for every model of the run (`out_of_sample_floor`).
    start_floor: date | None = None
    window: int = 20
    seed: int = 0
    weights: dict[str, float] = field(default_factory=dict)
    validation_start: date | None = None  # best-expert: validate on [this, start)
    capital: float = 100_000.0
    fee_bps: float = 10.0
    slippage_bps: float = 1.0
    fill: str = "next_open"  # bot.engine.sim.FILLS
    fractional: bool = True  # equities and indices in fractions of a unit
    fallback: str = "uniform"
    timeout_s: float = 5.0
    data_policy: str = "repair"
    catalog: str | None = None
    journal: str | None = None  # journal decisions and fills here, under `run_id`
    run_id: str = ""
    report_dir: str | None = None  # journalled with the run, so `bot runs list` can show it
    progress: bool = False
    stream_bars: int = STREAM_BARS  # bars per chunk fed to the engine (bounds the data's memory)
    params: dict[str, dict] = field(default_factory=dict)  # strategy config overrides, by name


def base_request(settings: Settings) -> BacktestRequest:
    """A request with the settings' costs, router and data options, for callers (evaluation,
    scheduled jobs) that fill in the symbol, window and policy themselves."""
    return BacktestRequest(
        symbol="",
        **router_settings(settings),
        capital=settings.backtest.capital,
        fee_bps=settings.backtest.fee_bps,
        slippage_bps=settings.backtest.slippage_bps,
        fill=settings.backtest.fill,
        fractional=settings.backtest.fractional,
        data_policy=settings.data.policy,
        catalog=str(settings.data.catalog),
    )


def backtest_requests(
    settings: Settings, policies: list[str], run_id: str, report_dir: Path
) -> list[BacktestRequest]:
    """One request per symbol and policy, from the effective settings; each journals under
    its own run id (`symbol_run_id`) with its report folder: `report_dir`, or its symbol's
    subfolder there when there are several symbols."""
    run = settings.backtest
    base = replace(
        base_request(settings),
        bar=run.bar,
        start=run.start,
        end=run.end,
        years=run.years,
        journal=str(settings.journal.path),
        progress=True,
    )
    many = len(run.symbols) > 1
    return [
        replace(
            base,
            symbol=symbol,
            policy=policy,
            start_floor=out_of_sample_floor(policies, symbol),
            run_id=symbol_run_id(run_id, symbol, policy),
            report_dir=str((report_dir / symbol if many else report_dir).resolve()),
        )
        for symbol in run.symbols
        for policy in policies
    ]


def out_of_sample_floor(policies: list[str], symbol: str) -> date | None:
    """The first day on which every model among `policies` is out of sample on `symbol`: the
    day after the last bar its training and validation read (its meta.json), the latest over
    the models; None when none of them learned from `symbol` by name. Every policy of a compare
    gets it, so they trade the same span."""
    days = []
    for policy in policies:
        splits = (trained_on(policy) or {}).get("symbols", {}).get(symbol)
        day = out_of_sample_start(splits) if splits else None
        days += [day.date()] if day is not None else []
    return max(days, default=None)


def symbol_run_id(run_id: str, symbol: str, policy: str) -> str:
    """The journal's run id for one symbol and policy of the backtest `run_id`."""
    return f"{run_id}-{symbol}-{_path_safe(policy)}"


def backtest_run_id(journal_run_id: str, symbol: str, policy: str) -> str:
    """The id `bot backtest` printed for a journalled run of `symbol` and `policy`: the inverse
    of `symbol_run_id` (the journal's id itself when it was not made by it)."""
    return journal_run_id.removesuffix(symbol_run_id("", symbol, policy))


def request_day(day: date) -> pd.Timestamp:
    """A request's date (`start`, `end`, `validation_start`) as midnight UTC, or its time when
    it is a datetime (a sweep's fold edges on intraday bars)."""
    return pd.Timestamp(day).tz_localize("UTC")


def _path_safe(text: str) -> str:
    # Run ids name chart folders: keep them free of ':' and '/' (model:<path> policies).
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")
