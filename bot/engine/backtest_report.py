"""The backtest report: runs on one symbol beside buy-and-hold, written as one report folder.

`write_backtest_report` puts the runs of `bot.engine.backtest` next to buy-and-hold
(`bot.engine.buy_and_hold`) and any reference curves, notes how the fills were simulated and
which span a model policy was trained on, and writes them with `bot.core.report`.
"""

from pathlib import Path

import pandas as pd

from bot.core.metrics import periods_per_year, summarize
from bot.core.saved_meta import trained_on
from bot.engine.backtest import BacktestResult
from bot.engine.backtest_request import BacktestRequest
from bot.engine.buy_and_hold import BUY_AND_HOLD, buy_and_hold
from strategies import STRATEGIES

BEST_EXPERT_PICKED = "best-expert picked"  # the report's note of the expert it traded


def write_backtest_report(
    results: list[BacktestResult],
    out_dir: Path,
    references: dict[str, pd.Series] | None = None,
) -> dict[str, dict[str, float | None]]:
    """Write one report for runs on the same symbol (the first run's details, every run's
    equity and metrics, buy-and-hold and any `references` equity curves added, and the expert
    a best-expert run picked) and return the metrics rows, in table order."""
    # Imported here: the report's charts load matplotlib (~0.6 s of CPU), which the backtests
    # that write no report (Ray workers, evaluations, dataset builds) need not pay.
    from bot.core.report import PolicyRun, write_report

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
    periods = periods_per_year(first.asset_class)
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
    picked = next(({BEST_EXPERT_PICKED: r.best_expert} for r in results if r.best_expert), {})
    runs = [
        PolicyRun(r.request.policy, r.weights, r.fills, r.orders, r.pnl, in_sample_span(r.request))
        for r in results
    ]
    write_report(
        out_dir,
        title=f"{request.symbol} {request.bar} backtest, {first.bars.index[0]:%Y-%m-%d} .. "
        f"{first.bars.index[-1]:%Y-%m-%d}, fills and orders of policy {request.policy}",
        metrics=metrics,
        equity=equity,
        runs=runs,
        bars=first.bars,
        flags=flags,
        simulation=simulation_notes(request) | picked,
        experts={spec.name: spec.expert for spec in STRATEGIES},
        currency=first.currency,
        periods_per_year=periods,
    )
    return metrics


def in_sample_span(request: BacktestRequest) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The decisions a model policy's checkpoint was trained and validated on for this symbol
    (first to last, from its meta.json), or None for another policy or symbol."""
    dataset = trained_on(request.policy)
    splits = (dataset or {}).get("symbols", {}).get(request.symbol) or {}
    learned = [splits[name] for name in ("train", "val") if name in splits]
    if not learned:
        return None
    # meta.json holds ISO times; an older or hand-written one may hold naive dates (UTC).
    first, last = (
        pd.Timestamp(learned[0]["first_decision"]),
        pd.Timestamp(learned[-1]["last_decision"]),
    )
    return tuple(
        t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC") for t in (first, last)
    )


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
