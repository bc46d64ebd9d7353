"""Out-of-sample evaluation of a router checkpoint against the baselines (the paper's Table 3).

The spans (one `EvalWindow` per instrument) come from `training.eval_windows`: the test splits
of the checkpoint's dataset, or any symbols, out of sample unless an overlap was allowed.

On each span, with costs, it runs the dynamic router, uniform, best-expert, random, the router
baselines of `ROUTER_BASELINES` that this version knows, any `extra` policies (a LightGBM
router `lgbm:<dir>` is the row `lgbm`) and each single strategy (unless `singles` is off) in
nautilus, plus buy-and-hold and the paper's rule baselines (`training.rule_baselines`); then it
reports TR,
Sharpe and MDD per instrument and on average, the router's regime accuracy against the forward
labels (next to the majority-class rate, the accuracy of always guessing the commonest regime,
and the trailing-regime rule's, "the last H bars' regime persists"), how much its weights moved
between decisions and its mean expert weights per forward regime, and a moving-block bootstrap
95% interval for Sharpe(router) - Sharpe(row) for every other row.

The report folder holds `evaluation.json`, `table.txt`, `summary.png`, `bootstrap.npz` (each
instrument's bootstrap draws, `<symbol>/<row>`, for pooling across evaluations) and one backtest
report per instrument (equity of every method, the router's weights, candles and fills).
"""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import structlog

from bot.core.bars import bar_interval
from bot.core.errors import ConfigError, DataError
from bot.core.metrics import periods_per_year
from bot.core.parallel import Parallel
from bot.core.regime import trailing_regimes
from bot.core.report import plot_method_bars
from bot.engine.backtest import STOPPED_EARLY, BacktestRequest, BacktestResult, run_many
from bot.engine.backtest_report import write_backtest_report
from bot.engine.buy_and_hold import BUY_AND_HOLD, buy_and_hold
from bot.engine.data import load_bars
from bot.engine.journal import Journal
from bot.engine.policy import PolicySpec, check_policy
from bot.engine.sim import account_for
from bot.model.policy import load_policy
from bot.model.router_model import REGIMES
from strategies import EXPERTS, STRATEGIES, strategy_names
from training.eval_stats import (
    ROUTER,
    average_metrics,
    bootstrap_sharpe_diffs,
    interval,
    mean_or_none,
    regime_scores,
    table3,
    weight_moves,
)
from training.eval_windows import IN_SAMPLE, EvalWindow
from training.labels import NO_LABEL, regime_labels
from training.rule_baselines import baseline_equity, rule_positions

log = structlog.get_logger(__name__)

# Other router policies (`bot.engine.policy`) compared with the router as baselines; a name this
# version's `build_policy` does not know yet is skipped.
ROUTER_BASELINES = ("rule", "momentum")
LGBM = "lgbm"  # the row of an `lgbm:<dir>` policy
REPORT_JOURNAL = "journal.sqlite"  # the report's own backtest journal, replaced by a rerun
SUMMARY = "evaluation.json"
REPORT_ENTRIES = frozenset({REPORT_JOURNAL, SUMMARY})  # either marks an evaluation's folder


def router_baselines() -> list[str]:
    """The names of `ROUTER_BASELINES` that this version's `bot.engine.policy` can build."""
    known = []
    for name in ROUTER_BASELINES:
        try:
            check_policy(PolicySpec(name))
        except ConfigError as error:
            log.info("router baseline not available", policy=name, reason=str(error)[:80])
            continue
        known.append(name)
    return known


def run_evaluation(
    checkpoint: Path,
    windows: list[EvalWindow],
    out_dir: Path,
    *,
    horizon: int,
    base: BacktestRequest,
    parallel: Parallel | None = None,
    extra: tuple[str, ...] = (),
    singles: bool = True,
) -> dict:
    """Run every method on every window, write the report folder and return the result.

    `base` carries the shared settings (capital, costs, router window, seed, catalog); the
    backtests fan out as `parallel` says (`bot.core.parallel`), with the same results either way.
    `extra` adds policies (e.g. `lgbm:<dir>`); `singles` False leaves out the single strategies.
    """
    if not windows:
        raise DataError("Nothing to evaluate: no instruments were given.")
    out_dir.mkdir(parents=True, exist_ok=True)
    journal = out_dir / REPORT_JOURNAL
    for stale in (journal, *out_dir.glob(f"{REPORT_JOURNAL}-*")):
        stale.unlink(missing_ok=True)  # a rerun into the same folder rewrites the whole report
    methods = [f"model:{checkpoint}", "uniform", "best-expert", "random", *router_baselines()]
    methods += [*extra, *(f"single:{name}" for name in strategy_names() if singles)]
    requests = [
        replace(
            base,
            symbol=w.symbol,
            bar=w.bar,
            start=w.test_start,
            end=w.test_end,
            validation_start=w.validation_start,
            policy=method,
            journal=str(journal) if method.startswith("model:") else None,
            run_id=f"eval-{w.symbol}",
            progress=False,
        )
        for w in windows
        for method in methods
    ]
    results = run_many(requests, parallel, load_policy)
    instruments, draws = {}, {}
    for w in windows:
        mine = [r for r in results if r.request.symbol == w.symbol]
        report, draws[w.symbol] = _instrument_report(mine, w, journal, horizon, out_dir / w.symbol)
        instruments[w.symbol] = report
    summary = _summary(instruments, draws)
    (out_dir / SUMMARY).write_text(json.dumps(summary, indent=2))
    flat = {f"{s}/{row}": d for s, rows in draws.items() for row, d in rows.items()}
    np.savez_compressed(out_dir / "bootstrap.npz", **flat)
    (out_dir / "table.txt").write_text(summary["table"] + "\n")
    plot_method_bars(summary["average"], ROUTER, out_dir / "summary.png")
    log.info("evaluation written", out_dir=str(out_dir), instruments=len(windows))
    return summary


def _instrument_report(
    runs: list[BacktestResult], window: EvalWindow, journal: Path, horizon: int, folder: Path
) -> tuple[dict, dict[str, np.ndarray]]:
    by_label = {_label(r.request.policy): r for r in runs}
    router = by_label[ROUTER]
    request = router.request
    frame = load_bars(
        window.symbol, window.bar, policy=request.data_policy, catalog_dir=request.catalog
    )
    # The rule baselines decide at the close of the same bars as the router (its equity is
    # stamped at bar closes, the frame at bar opens), with indicators warm from all history.
    at_close = bar_interval(window.bar)
    decided = (frame.index + at_close).isin(router.equity.index)
    positions = rule_positions(frame, long_only=account_for(router.asset_class) == "cash")
    references = {
        name: baseline_equity(
            frame[decided],
            position[decided],
            request.capital,
            request.fee_bps,
            request.slippage_bps,
        ).shift(freq=at_close)
        for name, position in positions.items()
    }
    metrics = write_backtest_report(runs, folder, references)
    metrics = {_label(name): row for name, row in metrics.items()}
    hold, _ = buy_and_hold(router.bars, request)
    others = {label: r.equity for label, r in by_label.items() if label != ROUTER}
    others |= {BUY_AND_HOLD: hold, **references}
    periods = periods_per_year(router.asset_class)
    # A run the engine stopped early covers fewer days than the others: its figures are not
    # comparable, and pairing it would cut every row's bootstrap to its days. It gets none.
    cut = {label for label, run in by_label.items() if _stopped(run)}
    boot = bootstrap_sharpe_diffs(router.equity, others, periods, cut=cut)
    for label in cut:
        metrics[label] = dict.fromkeys(metrics[label])
    flagged = window.in_sample and not any(f.startswith(IN_SAMPLE) for f in router.flags)
    flags = [window.in_sample] * bool(flagged) + router.flags
    flags += [
        f"{label}: {flag.rstrip('.')}; its row is n/a and has no Sharpe difference"
        for label, run in by_label.items()
        if label != ROUTER
        for flag in run.flags
        if flag.startswith(STOPPED_EARLY)
    ]
    regime, weights = _decision_stats(journal, request.run_id, frame, window.bar, horizon)
    report = {
        "test": [str(window.test_start), str(window.test_end)],
        "validation": [str(window.validation_start), str(window.test_start)],
        "out_of_sample": window.out_of_sample,
        "in_sample": window.in_sample,
        "metrics": metrics,
        "regime": regime,
        "weights": weights,
        "sharpe_diff": {name: interval(*boot[name]) for name in metrics if name in boot},
        "best_expert": by_label["best-expert"].best_expert,
        "flags": flags,
        "report": str(folder / "index.html"),
    }
    report["sharpe_diff_vs_uniform"] = report["sharpe_diff"]["uniform"]
    return report, {name: draws for name, (_, draws) in boot.items()}


def _stopped(run: BacktestResult) -> bool:
    return any(flag.startswith(STOPPED_EARLY) for flag in run.flags)


def _label(policy: str) -> str:
    if policy.startswith("model:"):
        return ROUTER
    return LGBM if policy.startswith("lgbm:") else policy


def _decision_stats(
    journal: Path, run_id: str, frame: pd.DataFrame, bar: str, horizon: int
) -> tuple[dict, dict]:
    """The router's most likely regime at each decision against the label of the next
    `horizon` bars, next to the trailing rule's regime of the `horizon` bars up to it
    (`eval_stats.regime_scores`), and how its weights moved (`eval_stats.weight_moves`);
    labels come from the whole history so their indicators are warm."""
    with Journal(journal) as j:
        decisions = j.decision_records(run_id)
    labels = pd.Series(regime_labels(frame, horizon), index=frame.index)
    trailing = pd.Series(trailing_regimes(frame, horizon), index=frame.index)
    # A decision is stamped at its bar's close; the frame is indexed by bar open.
    bars = [pd.Timestamp(d.ts, tz="UTC") - bar_interval(bar) for d in decisions]
    actual = np.array([labels.get(b, NO_LABEL) for b in bars], dtype=np.int64)
    scored = [i for i, d in enumerate(decisions) if d.regime and actual[i] != NO_LABEL]
    regime = regime_scores(
        [REGIMES.index(max(decisions[i].regime, key=decisions[i].regime.get)) for i in scored],
        actual[scored],
        [trailing.get(bars[i], NO_LABEL) for i in scored],
    )
    weights = np.array([[d.weights[s.name] for s in STRATEGIES] for d in decisions])
    experts = np.array([[d.experts[e] for e in EXPERTS] for d in decisions])
    return regime, weight_moves(weights, experts, actual)


def _summary(instruments: dict[str, dict], draws: dict[str, dict[str, np.ndarray]]) -> dict:
    average = average_metrics([i["metrics"] for i in instruments.values()])
    # A pooled difference's interval: per draw, the mean over instruments of their draws.
    pooled = {}
    for method in instruments[next(iter(instruments))]["sharpe_diff"]:
        mine = [d[method] for d in draws.values()]
        stacked = np.mean(mine, axis=0) if all(len(m) for m in mine) else np.empty(0)
        point = mean_or_none([i["sharpe_diff"][method]["diff"] for i in instruments.values()])
        pooled[method] = interval(point, stacked)
    in_sample = [s for s, i in instruments.items() if i["in_sample"]]
    regimes = [i["regime"] for i in instruments.values() if i["regime"]["decisions"]]
    total = sum(r["decisions"] for r in regimes)
    flag = f"{IN_SAMPLE} ({', '.join(in_sample)})" if in_sample else ""
    tables = [table3(average, f"method (mean of {len(instruments)} instruments)", pooled, flag)]
    tables += [
        table3(
            i["metrics"],
            f"{symbol} {i['test'][0]} .. {i['test'][1]}",
            i["sharpe_diff"],
            IN_SAMPLE if i["in_sample"] else "",
        )
        for symbol, i in instruments.items()
    ]
    return {
        "instruments": instruments,
        "average": average,
        "sharpe_diff": pooled,
        "sharpe_diff_vs_uniform": pooled["uniform"],
        "in_sample": in_sample,
        "regime_accuracy": _weighted(regimes, "accuracy", total),
        "regime_majority_rate": _weighted(regimes, "majority_rate", total),
        "regime_trailing_rule": _weighted(regimes, "trailing_rule", total),
        "table": "\n\n".join(tables),
    }


def _weighted(regimes: list[dict], key: str, total: int) -> float | None:
    return sum(r[key] * r["decisions"] for r in regimes) / total if total else None
