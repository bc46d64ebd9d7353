"""Backtests: one fresh nautilus engine per run, the eleven strategies plus the router actor.

A run loads validated bars, prepends warm-up bars from before `start` (the router makes no
decision before the first bar of `start`, so strategies hold nothing while they warm up), runs
the engine, and returns the equity curve, per-strategy PnL, weights, orders and fills. Several
runs go to separate worker processes (`bot.core.parallel`): nautilus engines leak memory and are
not reusable. `bot.engine.backtest_report` writes the runs on one symbol as one report.

Fills follow `bot.engine.sim` (the next bar's open by default). Equity curves are stamped at each
bar's close time, the engine's clock.
"""

import gc
import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from functools import partial
from pathlib import Path

import pandas as pd
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId
from tqdm import tqdm

from bot.core.bars import bar_interval
from bot.core.errors import ConfigError, DataError
from bot.core.features import REQUIRED_BARS
from bot.core.fingerprint import out_of_sample_warning
from bot.core.metrics import periods_per_year, summarize
from bot.core.parallel import Parallel, fan_out
from bot.core.saved_meta import checkpoint_path, trained_bar_warning, trained_on
from bot.engine.assemble import assemble
from bot.engine.backtest_request import BacktestRequest, request_day
from bot.engine.best_expert import best_expert, validation_span
from bot.engine.catalog import bar_type_for, to_nautilus_bars
from bot.engine.data import dataset_asset_class, load_bars
from bot.engine.fills import fills_frame
from bot.engine.instruments import make_instrument
from bot.engine.journal import Journal, RunRecord
from bot.engine.policy import (
    MODEL_PREFIXES,
    PolicyLoader,
    PolicySpec,
    check_policy,
    policy_plugins,
)
from bot.engine.router import RouterActor
from bot.engine.router_config import RouterActorConfig
from bot.engine.sim import account_for, market_data, new_engine
from bot.engine.stale_opens import stale_opens
from strategies import build_strategies

# Mean share of equity that rounding or cash limits kept the strategies from ordering, above
# which a run is flagged: results then depend on the capital, not only on the strategies.
SIZING_WARNING = 0.02
# Journal writes committed at a time: a backtest that dies is run again, so it need not commit
# each fill (a live node does), and parallel workers still share the file between commits.
JOURNAL_BATCH = 1000


@dataclass
class BacktestResult:
    """What a run produced; the report and the comparison table read it."""

    request: BacktestRequest
    equity: pd.Series
    pnl: pd.DataFrame
    weights: pd.DataFrame
    fills: pd.DataFrame
    orders: pd.DataFrame
    bars: pd.DataFrame
    metrics: dict[str, float]
    flags: list[str]
    asset_class: str
    best_expert: str | None = None
    currency: str = ""  # the account's (the instrument's quote currency)


def run_backtest(
    request: BacktestRequest, load_policy: PolicyLoader | None = None
) -> BacktestResult:
    """Run one backtest in this process."""
    check_policy(PolicySpec(request.policy, request.weights, request.seed))
    frame = load_bars(
        request.symbol, request.bar, policy=request.data_policy, catalog_dir=request.catalog
    )
    start, end = resolve_window(frame, request)
    best = None
    if request.policy == "best-expert":
        best = choose_best_expert(frame, request, start)
    result = _simulate(frame, request, start, end, best, load_policy)
    result.best_expert = best
    result.flags += _model_flags(request, start, result.bars["close"])
    return result


def _model_flags(request: BacktestRequest, start: pd.Timestamp, close: pd.Series) -> list[str]:
    """Warnings for a model policy that trades bars its checkpoint was trained or validated
    on (by symbol and dates, else by the prices' fingerprint, whatever the symbol is called),
    or bars of another size than it was trained on."""
    dataset = trained_on(request.policy)
    flags = []
    if dataset is not None:
        splits = dataset.get("symbols", {}).get(request.symbol)
        path = checkpoint_path(request.policy)
        overlap = out_of_sample_warning(path, request.symbol, splits, start, close)
        flags += [overlap] if overlap else []
    mismatch = trained_bar_warning(request.policy, dataset, request.bar)
    return flags + ([mismatch] if mismatch else [])


def run_many(
    requests: list[BacktestRequest],
    parallel: Parallel | None = None,
    load_policy: PolicyLoader | None = None,
) -> list[BacktestResult]:
    """Run several backtests, one engine each, fanned out as `parallel` says (default: one Ray
    worker per CPU; `bot.core.parallel`), in request order; `load_policy` loads model policies
    (`bot.engine.policy.build_policy`). Every model named is loaded once here first, so one that
    does not load stops them all (CheckpointError) before any runs."""
    if len(requests) == 1:
        return [run_backtest(requests[0], load_policy)]
    for name in dict.fromkeys(r.policy for r in requests if r.policy.startswith(MODEL_PREFIXES)):
        check_policy(PolicySpec(name), load_policy)
    jobs = [(_portable(request), load_policy) for request in requests]
    return fan_out(_run_job, jobs, parallel or Parallel(), desc="backtests", progress=True)


def _portable(request: BacktestRequest) -> BacktestRequest:
    # A worker runs in its own directory (a cluster's in the head's): paths must not be relative
    # to ours. Fanned-out runs show one progress bar for the batch, not one each.
    paths = {
        name: str(Path(value).resolve())
        for name in ("catalog", "journal", "report_dir")
        if (value := getattr(request, name))
    }
    return replace(request, progress=False, **paths)


def _run_job(job: tuple[BacktestRequest, PolicyLoader | None]) -> BacktestResult:
    # A plain function: Ray's remote() takes functions, not partials.
    return run_backtest(*job)


def resolve_window(
    frame: pd.DataFrame, request: BacktestRequest
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The [start, end] span to trade, checked against the data. An end day (not a time: a
    sweep's fold edge) includes all its bars, as `load_bars` reads it."""
    first, last = frame.index[0], frame.index[-1]
    day = request_day(request.end) if request.end else last
    end = _end_of(request.end) if request.end else last
    start = request_day(request.start) if request.start else _default_start(request, first, day)
    if start >= end and not request.start and request.start_floor:
        raise DataError(
            f"{request.symbol} {request.bar} data ends {last.date()}, before "
            f"{request.start_floor}, the first day out of sample for {request.policy} (the default "
            "start): nothing to trade out of sample. Pass --start to backtest the model's "
            "training span (flagged IN-SAMPLE), or choose another symbol or policy."
        )
    if start > end:
        raise DataError(f"The start {start.date()} is after the end {end.date()}: swap them.")
    if start < first or end.normalize() > last.normalize() + pd.Timedelta(days=1):
        raise DataError(
            f"{request.symbol} {request.bar} has data from {first.date()} to {last.date()}; the "
            f"requested span {start.date()} .. {end.date()} is outside it. Choose dates inside "
            "that range (`bot data list` shows every range)."
        )
    bars = int(((frame.index >= start) & (frame.index <= end)).sum())
    if bars < 2:  # one to decide on, the next to fill at
        raise DataError(
            f"{request.symbol} {request.bar} has {bars} bar(s) from {start.date()} to "
            f"{end.date()}: a backtest needs at least two. Choose a longer span."
        )
    return start, end


def _end_of(day: date) -> pd.Timestamp:
    # On intraday bars an end at midnight kept one bar of the day the user named.
    end = request_day(day)
    return end if isinstance(day, datetime) else end + pd.Timedelta(days=1) - pd.Timedelta(1)


def _default_start(
    request: BacktestRequest, first: pd.Timestamp, end: pd.Timestamp
) -> pd.Timestamp:
    # The last `years` of the data, or all of it when it is shorter (an `end` before the data
    # stays outside it, for resolve_window to refuse); never before the floor.
    start = max(end - pd.DateOffset(years=request.years), min(first, end))
    return max(start, request_day(request.start_floor)) if request.start_floor else start


def choose_best_expert(frame: pd.DataFrame, request: BacktestRequest, start: pd.Timestamp) -> str:
    """The expert whose strategies had the best Sharpe on the validation span before `start`
    (`bot.engine.best_expert`), from a uniform run over that span."""
    val_start, val_end = validation_span(frame, request, start)
    uniform = replace(request, policy="uniform", progress=False, journal=None)
    validation = _simulate(frame, uniform, val_start, val_end)
    return best_expert(validation.pnl, request.capital)


def _simulate(
    frame: pd.DataFrame,
    request: BacktestRequest,
    start: pd.Timestamp,
    end: pd.Timestamp,
    best_expert: str | None = None,
    load_policy: PolicyLoader | None = None,
) -> BacktestResult:
    asset_class = dataset_asset_class(request.symbol, request.bar, catalog_dir=request.catalog)
    instrument = make_instrument(
        request.symbol, asset_class, fee_bps=request.fee_bps, fractional=request.fractional
    )
    bar_type = bar_type_for(instrument, request.bar)
    account = account_for(asset_class)
    build = partial(
        build_strategies,
        instrument.id,
        bar_type,
        long_only=account == "cash",
        params=request.params,
        plugins=policy_plugins(request.policy, request.weights),
    )
    strategies = build()
    # From every strategy's warm-up, even in a single-strategy run: its indicators then start
    # on the same first bar, and its path equals its path among the eleven.
    warmup = max(REQUIRED_BARS, *(s.config.warmup_bars for s in strategies))
    if request.policy.startswith("single:"):  # the others would hold nothing: not run at all
        strategies = build(only=request.policy.removeprefix("single:"))
    history = frame[frame.index < start].tail(warmup)
    traded = frame[(frame.index >= start) & (frame.index <= end)]
    chunks = _chunks(pd.concat([history, traded]), request.stream_bars)
    # Built first: it loads the policy, so a named model that does not load stops the run here.
    router = _router_config(request, instrument.id, bar_type, traded, best_expert)
    actor = RouterActor(router, load_policy)
    engine = new_engine(
        instrument,
        to_nautilus_bars(chunks[0], instrument, request.bar),
        capital=request.capital,
        account=account,
        fee_bps=request.fee_bps,
        slippage_bps=request.slippage_bps,
        seed=request.seed,
        fill=request.fill,
    )
    if request.journal:
        _start_journal_run(request)
    assemble(engine, strategies, actor)
    total = len(history) + len(traded)
    with tqdm(total=total, desc=request.symbol, disable=not request.progress) as bar, _gc_frozen():
        actor.progress = bar
        _run_chunks(engine, chunks, instrument, request)
    curve, pnl, weights = actor.recorder.frames()
    orders = engine.trader.generate_orders_report()
    fills = fills_frame(engine.trader.generate_fills_report(), orders)
    flags = [f"{s.name} failed and was flattened: {s.failure}" for s in strategies if s.failure]
    flags += actor.recorder.fallbacks()
    flags += _stopped_early(curve, traded, request.bar)
    stale, _ = stale_opens(traded, asset_class, bar_interval(request.bar))
    flags += [f"{STALE_OPENS}: {stale}"] if stale else []
    engine.dispose()
    periods = periods_per_year(asset_class)
    equity = curve["equity"]
    metrics = summarize(equity, fills=fills, exposure=curve["exposure"], periods_per_year=periods)
    metrics["sizing_error"] = float(curve["sizing_gap"].mean()) if len(curve) else 0.0
    if metrics["sizing_error"] > SIZING_WARNING:
        flags.append(
            f"SIZING: {request.policy} could not order {metrics['sizing_error']:.1%} of equity "
            "on average (rounding to whole units or cash limits), above "
            f"{SIZING_WARNING:.0%}: results depend on the capital. Raise --capital or allow "
            "fractional sizes (backtest.fractional)."
        )
    return BacktestResult(
        request,
        equity,
        pnl,
        weights,
        fills,
        orders,
        traded,
        metrics,
        flags,
        asset_class,
        currency=instrument.quote_currency.code,
    )


STOPPED_EARLY = "STOPPED EARLY"
STALE_OPENS = "STALE OPENS"


def _stopped_early(curve: pd.DataFrame, traded: pd.DataFrame, bar: str) -> list[str]:
    """A flag when the engine stopped before the span's last bar (nautilus stops a backtest, for
    one, when a cash account's balance goes below zero): the figures then cover less than asked."""
    if traded.empty:
        return []
    last_close = traded.index[-1] + bar_interval(bar)  # the actor records at bar closes
    if len(curve) and curve.index[-1] >= last_close:
        return []
    until = f"{curve.index[-1]:%Y-%m-%d %H:%M}" if len(curve) else "its start"
    return [
        f"{STOPPED_EARLY}: the engine stopped this run at {until} UTC, before the span's last bar "
        f"({traded.index[-1]:%Y-%m-%d %H:%M}); every figure covers only the bars up to then. "
        "Its log says why (e.g. AccountBalanceNegative: a cash account spent more than it held)."
    ]


def _router_config(
    request: BacktestRequest,
    instrument_id: InstrumentId,
    bar_type: BarType,
    traded: pd.DataFrame,
    best_expert: str | None,
) -> RouterActorConfig:
    return RouterActorConfig(
        instrument_id=instrument_id,
        bar_type=bar_type,
        policy=request.policy,
        fallback=request.fallback,
        timeout_s=request.timeout_s,
        window=request.window,
        seed=request.seed,
        # Bars are stamped at their close: the first decision falls on the first traded bar.
        start_ns=int((traded.index[0] + bar_interval(request.bar)).value),
        weights_json=json.dumps(request.weights),
        best_expert=best_expert,
        journal_path=request.journal,
        journal_batch=JOURNAL_BATCH,
        run_id=request.run_id,
        symbol=request.symbol,
        chart_dir=str(Path(request.journal).parent / "charts" / request.run_id)
        if request.journal
        else None,
    )


@contextmanager
def _gc_frozen():
    """Keep the objects alive before the run (the modules, the engine, the bars) out of the
    cyclic garbage collector's passes during it: each full pass otherwise walks them all again,
    which cost ~8% of a backtest's CPU. They are handed back to it afterwards."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _chunks(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    if size < 1:
        raise ConfigError(f"stream_bars={size} must be at least 1 bar per chunk.")
    return [frame.iloc[i : i + size] for i in range(0, len(frame), size)]


def _run_chunks(engine, chunks: list[pd.DataFrame], instrument, request: BacktestRequest) -> None:
    """Run the engine over its first chunk (already added), then stream in the rest; the state
    of strategies, actor and venue carries across chunks, so the result equals one plain run."""
    previous = None
    for i in range(1, len(chunks)):
        engine.run(streaming=True)
        engine.clear_data()
        if previous is None:
            previous = to_nautilus_bars(chunks[i - 1].tail(1), instrument, request.bar)[-1]
        bars = to_nautilus_bars(chunks[i], instrument, request.bar)
        engine.add_data(market_data(bars, instrument, request.fill, previous), sort=True)
        previous = bars[-1]
    engine.run()


def _start_journal_run(request: BacktestRequest) -> None:
    settings = {k: v for k, v in asdict(request).items() if k not in ("progress",)}
    with Journal(Path(request.journal)) as journal:
        journal.start_run(
            RunRecord(
                run_id=request.run_id,
                mode="backtest",
                symbol=request.symbol,
                bar=request.bar,
                policy=request.policy,
                settings=json.loads(json.dumps(settings, default=str)),
                report_dir=request.report_dir,
            )
        )
