"""Backtests: one fresh nautilus engine per run, the eleven strategies plus the router actor.

A run loads validated bars, prepends warm-up bars from before `start` (the router makes no
decision before the first bar of `start`, so strategies hold nothing while they warm up), runs
the engine, and returns the equity curve, per-strategy PnL, weights, orders and fills. Several
runs go to separate worker processes (`bot.core.parallel`): nautilus engines leak memory and are
not reusable.

Fills follow `bot.engine.sim` (the next bar's open by default); buy-and-hold decides on the same
first
bar as the router and fills the same way, so every row of a report starts from the same price.
Equity curves are stamped at each bar's close time, the engine's clock.
"""

import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from bot.core.bars import bar_interval
from bot.core.errors import ConfigError, DataError
from bot.core.features import REQUIRED_BARS
from bot.core.fingerprint import out_of_sample_warning
from bot.core.metrics import daily_equity, sharpe, summarize
from bot.core.parallel import Parallel, fan_out
from bot.core.report import write_report
from bot.core.saved_meta import checkpoint_path, trained_bar_warning, trained_on
from bot.core.settings import Settings
from bot.engine.catalog import bar_type_for, to_nautilus_bars
from bot.engine.data import dataset_asset_class, load_bars
from bot.engine.instruments import make_instrument
from bot.engine.journal import Journal, RunRecord
from bot.engine.policy import PolicyLoader, PolicySpec, check_policy
from bot.engine.router import RouterActorConfig, assemble
from bot.engine.sim import market_data, new_engine
from strategies import EXPERTS, STRATEGIES, build_strategies

BUY_AND_HOLD = "buy_and_hold"
VALIDATION_FRACTION = 0.25  # best-expert: validation span before start, as a share of the test span
# A run longer than this streams its bars into the engine in chunks of this many (run(streaming=
# True), clear_data(), add_data(), ...): nautilus Bar objects cost about 1 KB each, so a year of
# minute bars held at once would add hundreds of MB. Shorter runs load in one go, as before.
STREAM_BARS = 20_000
# Mean share of equity that rounding or cash limits kept the strategies from ordering, above
# which a run is flagged: results then depend on the capital, not only on the strategies.
SIZING_WARNING = 0.02


@dataclass(frozen=True)
class BacktestRequest:
    """Everything one run needs; picklable so runs can go to worker processes."""

    symbol: str
    policy: str = "uniform"
    bar: str = "1d"
    start: date | None = None
    end: date | None = None
    years: int = 10
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
    progress: bool = False
    stream_bars: int = STREAM_BARS  # bars per chunk fed to the engine (bounds the data's memory)
    params: dict[str, dict] = field(default_factory=dict)  # strategy config overrides, by name


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


def base_request(settings: Settings) -> BacktestRequest:
    """A request with the settings' costs, router and data options, for callers (evaluation,
    scheduled jobs) that fill in the symbol, window and policy themselves."""
    return BacktestRequest(
        symbol="",
        window=settings.router.window,
        seed=settings.router.seed,
        capital=settings.backtest.capital,
        fee_bps=settings.backtest.fee_bps,
        slippage_bps=settings.backtest.slippage_bps,
        fill=settings.backtest.fill,
        fractional=settings.backtest.fractional,
        fallback=settings.router.fallback,
        timeout_s=settings.router.timeout_s,
        data_policy=settings.data.policy,
        catalog=str(settings.data.catalog),
    )


def backtest_requests(
    settings: Settings, policies: list[str], run_id: str
) -> list[BacktestRequest]:
    """One request per symbol and policy, from the effective settings; each journals under
    its own run id, `<run_id>-<symbol>-<policy>`."""
    run, router = settings.backtest, settings.router
    return [
        BacktestRequest(
            symbol=symbol,
            policy=policy,
            bar=run.bar,
            start=run.start,
            end=run.end,
            years=run.years,
            window=router.window,
            seed=router.seed,
            weights=dict(router.weights),
            fallback=router.fallback,
            timeout_s=router.timeout_s,
            capital=run.capital,
            fee_bps=run.fee_bps,
            slippage_bps=run.slippage_bps,
            fill=run.fill,
            fractional=run.fractional,
            data_policy=settings.data.policy,
            catalog=str(settings.data.catalog),
            journal=str(settings.journal.path),
            run_id=f"{run_id}-{symbol}-{_path_safe(policy)}",
            progress=True,
        )
        for symbol in run.symbols
        for policy in policies
    ]


def write_backtest_report(
    results: list[BacktestResult],
    out_dir: Path,
    references: dict[str, pd.Series] | None = None,
) -> dict[str, dict[str, float | None]]:
    """Write one report for runs on the same symbol (the first run's details, every run's
    equity and metrics, buy-and-hold and any `references` equity curves added) and return the
    metrics rows, in table order."""
    first = results[0]
    request = first.request
    hold, hold_fill = buy_and_hold(first.bars, request)
    references = references or {}
    equity = pd.concat(
        [r.equity.rename(r.request.policy) for r in results]
        + [hold]
        + [curve.rename(name) for name, curve in references.items()],
        axis=1,
    )
    periods = 365 if first.asset_class == "crypto" else 252
    metrics = {r.request.policy: r.metrics for r in results}
    metrics[BUY_AND_HOLD] = summarize(
        hold,
        fills=hold_fill,
        exposure=pd.Series(1.0, index=hold.index),
        periods_per_year=periods,
    )
    for name, curve in references.items():
        metrics[name] = summarize(curve, periods_per_year=periods)
    flags = [flag for r in results for flag in r.flags]
    write_report(
        out_dir,
        title=f"{request.symbol} {request.bar} backtest, {first.bars.index[0]:%Y-%m-%d} .. "
        f"{first.bars.index[-1]:%Y-%m-%d}, details for policy {request.policy}",
        metrics=metrics,
        equity=equity,
        weights=first.weights,
        bars=first.bars,
        fills=first.fills,
        orders=first.orders,
        flags=flags,
        simulation=simulation_notes(request),
    )
    return metrics


def simulation_notes(request: BacktestRequest) -> dict[str, object]:
    """How a run's fills were simulated, for its report and metrics.json."""
    return {
        "fill": {
            "next_open": "next bar's open after the decision bar closes",
            "close": "the decision bar's own close (optimistic)",
        }[request.fill],
        "sizing": "fractional units" if request.fractional else "whole units",
        "fee_bps": request.fee_bps,
        "slippage_bps": request.slippage_bps,
    }


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
    (`bot.engine.policy.build_policy`)."""
    if len(requests) == 1:
        return [run_backtest(requests[0], load_policy)]
    quiet = [replace(r, progress=False) for r in requests]
    jobs = [(request, load_policy) for request in quiet]
    return fan_out(_run_job, jobs, parallel or Parallel(), desc="backtests", progress=True)


def _run_job(job: tuple[BacktestRequest, PolicyLoader | None]) -> BacktestResult:
    # A plain function: Ray's remote() takes functions, not partials.
    return run_backtest(*job)


def resolve_window(
    frame: pd.DataFrame, request: BacktestRequest
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The [start, end] span to trade, checked against the data."""
    first, last = frame.index[0], frame.index[-1]
    end = _ts(request.end) if request.end else last
    start = _ts(request.start) if request.start else end - pd.DateOffset(years=request.years)
    if start < first or end > last + pd.Timedelta(days=1) or start >= end:
        raise DataError(
            f"{request.symbol} {request.bar} has data from {first.date()} to {last.date()}; the "
            f"requested span {start.date()} .. {end.date()} is outside it or empty. Choose dates "
            "inside that range (`bot data list` shows every range)."
        )
    return start, end


def choose_best_expert(frame: pd.DataFrame, request: BacktestRequest, start: pd.Timestamp) -> str:
    """The expert whose strategies had the best Sharpe on the validation span before `start`:
    from `request.validation_start`, else a quarter of the test span long."""
    test_span = (request.end and _ts(request.end) or frame.index[-1]) - start
    val_start = start - test_span * VALIDATION_FRACTION
    if request.validation_start is not None:
        val_start = _ts(request.validation_start)
    if val_start < frame.index[0]:
        raise ConfigError(
            f"best-expert chooses its expert on a validation span before the test start; "
            f"{request.symbol} has data only from {frame.index[0].date()}, but the span needs "
            f"{val_start.date()}. Choose a later --start."
        )
    uniform = replace(request, policy="uniform", progress=False, journal=None)
    validation = _simulate(frame, uniform, val_start, start - pd.Timedelta(seconds=1))
    pnl = daily_equity(validation.pnl.ffill())
    scores = {}
    for expert in EXPERTS:
        members = [s.name for s in STRATEGIES if s.expert == expert]
        returns = pnl[members].sum(axis=1).diff().dropna() / request.capital
        scores[expert] = sharpe(returns.to_numpy())
    return max(scores, key=lambda k: scores[k])


def buy_and_hold(bars: pd.DataFrame, request: BacktestRequest) -> tuple[pd.Series, pd.DataFrame]:
    """Buy all in and hold: decided on the first traded bar, as the router's first decision,
    filled as `request.fill` says with its slippage and fee. The equity curve (stamped at bar
    close times, like the engine's) and its one fill."""
    closes = bars["close"].copy()
    closes.index = bars.index + bar_interval(request.bar)
    entry = 1 if request.fill == "next_open" else 0
    if len(bars) <= entry:
        return pd.Series(request.capital, index=closes.index, name=BUY_AND_HOLD), _fills(None)
    column = "open" if request.fill == "next_open" else "close"
    price = bars[column].iloc[entry] * (1 + request.slippage_bps / 1e4)
    qty = request.capital / (price * (1 + request.fee_bps / 1e4))
    fill = pd.DataFrame(
        {
            "ts": [bars.index[1] if entry else closes.index[0]],  # the open, or the close
            "strategy": [BUY_AND_HOLD],
            "side": ["BUY"],
            "qty": [qty],
            "price": [price],
            "commission": [request.capital - qty * price],
        }
    )
    equity = (closes * qty).where(np.arange(len(closes)) >= entry, request.capital)
    return equity.rename(BUY_AND_HOLD), fill


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
    strategies = build_strategies(
        instrument.id, bar_type, long_only=asset_class == "crypto", params=request.params
    )
    warmup = max(REQUIRED_BARS, *(s.config.warmup_bars for s in strategies))
    history = frame[frame.index < start].tail(warmup)
    traded = frame[(frame.index >= start) & (frame.index <= end)]
    chunks = _chunks(pd.concat([history, traded]), request.stream_bars)
    engine = new_engine(
        instrument,
        to_nautilus_bars(chunks[0], instrument, request.bar),
        capital=request.capital,
        account="cash" if asset_class == "crypto" else "margin",
        fee_bps=request.fee_bps,
        slippage_bps=request.slippage_bps,
        seed=request.seed,
        fill=request.fill,
    )
    if request.journal:
        _start_journal_run(request)
    actor = assemble(
        engine,
        strategies,
        RouterActorConfig(
            instrument_id=instrument.id,
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
            run_id=request.run_id,
            symbol=request.symbol,
            chart_dir=str(Path(request.journal).parent / "charts" / request.run_id)
            if request.journal
            else None,
        ),
        load_policy,
    )
    total = len(history) + len(traded)
    with tqdm(total=total, desc=request.symbol, disable=not request.progress) as bar:
        actor.progress = bar
        _run_chunks(engine, chunks, instrument, request)
    curve, pnl, weights = actor.frames()
    fills = _fills(engine.trader.generate_fills_report())
    orders = engine.trader.generate_orders_report()
    flags = [f"{s.name} failed and was flattened: {s.failure}" for s in strategies if s.failure]
    flags += actor.fallbacks()
    engine.dispose()
    periods = 365 if asset_class == "crypto" else 252
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
        request, equity, pnl, weights, fills, orders, traded, metrics, flags, asset_class
    )


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
            )
        )


def _fills(report: pd.DataFrame | None) -> pd.DataFrame:
    columns = ["ts", "strategy", "side", "qty", "price", "commission"]
    if report is None or report.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(report["ts_event"], utc=True),
            "strategy": report["strategy_id"].str.rsplit("-", n=1).str[0],
            "side": report["order_side"],
            "qty": report["last_qty"].astype(float),
            "price": report["last_px"].astype(float),
            "commission": report["commission"].str.split().str[0].astype(float),
        }
    ).reset_index(drop=True)[columns]


def _path_safe(text: str) -> str:
    # Run ids name chart folders: keep them free of ':' and '/' (model:<path> policies).
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def _ts(day: date) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize("UTC")
