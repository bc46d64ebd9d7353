"""Out-of-sample evaluation of a router checkpoint against the baselines (the paper's Table 3).

On the test split of every instrument of the checkpoint's dataset, with costs, it runs the
dynamic router, uniform, best-expert (its expert chosen on the validation split) and random
routing and each single strategy in nautilus, plus buy-and-hold and the simple indicator
baselines; then it reports TR, Sharpe and MDD per instrument and on average, the router's regime
accuracy against the forward labels (next to the majority-class rate, the accuracy of always
guessing the commonest regime), and a moving-block bootstrap interval for the Sharpe difference
router - uniform.

The report folder holds `evaluation.json`, `table.txt`, `summary.png` and one backtest report
per instrument (equity of every method, the router's weights, candles and fills).
"""

import json
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import structlog

from bot.backtest import BacktestRequest, BacktestResult, run_many, write_backtest_report
from bot.baselines import BASELINES, baseline_equity
from bot.data import load_bars
from bot.errors import CheckpointError, DataError
from bot.journal import Journal
from bot.metrics import daily_equity, returns_of, sharpe
from bot.parallel import Parallel
from bot.report import plot_method_bars
from bot.validation import bar_interval
from strategies import strategy_names
from training.labels import NO_LABEL, regime_labels
from training.model import REGIMES

log = structlog.get_logger(__name__)

ROUTER = "router"
TABLE_KEYS = ("total_return", "sharpe", "max_drawdown")
BOOTSTRAP_BLOCK = 20  # days per block: keeps a month of autocorrelation in each resample
BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class EvalWindow:
    """One instrument's out-of-sample span and the validation span before it."""

    symbol: str
    bar: str
    validation_start: date
    test_start: date
    test_end: date


def test_windows(dataset_meta: dict) -> list[EvalWindow]:
    """Each symbol's test span (its first test decision to the end of its last test window)
    and the start of its validation split."""
    bar = dataset_meta["config"]["bar"]
    return [
        EvalWindow(
            symbol=symbol,
            bar=bar,
            validation_start=_day(info["splits"]["val"]["first_decision"]),
            test_start=_day(info["splits"]["test"]["first_decision"]),
            test_end=_day(info["splits"]["test"]["window_end"]),
        )
        for symbol, info in dataset_meta["symbols"].items()
    ]


def check_trained_on(checkpoint_meta: dict, dataset_meta: dict, checkpoint: Path) -> None:
    """Refuse to evaluate a checkpoint on a dataset it was not trained on: that dataset's test
    split could overlap the checkpoint's training data."""
    trained = checkpoint_meta["extra"].get("dataset", {}).get("config_hash")
    if trained != dataset_meta["config_hash"]:
        raise CheckpointError(
            f"{checkpoint} was trained on dataset {trained or '(unknown)'}, not on "
            f"{dataset_meta['config_hash']}: its test split could overlap the checkpoint's "
            "training data. Evaluate on the dataset it was trained on (`--dataset`)."
        )


def run_evaluation(
    checkpoint: Path,
    windows: list[EvalWindow],
    out_dir: Path,
    *,
    horizon: int,
    base: BacktestRequest,
    parallel: Parallel | None = None,
) -> dict:
    """Run every method on every window, write the report folder and return the result.

    `base` carries the shared settings (capital, costs, router window, seed, catalog); the
    backtests fan out as `parallel` says (`bot.parallel`), with the same results either way.
    """
    if not windows:
        raise DataError("Nothing to evaluate: the dataset has no instruments.")
    out_dir.mkdir(parents=True, exist_ok=True)
    journal = out_dir / "journal.sqlite"
    for stale in (journal, *out_dir.glob("journal.sqlite-*")):
        stale.unlink(missing_ok=True)  # a rerun into the same folder rewrites the whole report
    methods = [f"model:{checkpoint}", "uniform", "best-expert", "random"]
    methods += [f"single:{name}" for name in strategy_names()]
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
    results = run_many(requests, parallel)
    instruments = {}
    draws = []
    for w in windows:
        mine = [r for r in results if r.request.symbol == w.symbol]
        report, diffs = _instrument_report(mine, w, journal, horizon, out_dir / w.symbol)
        instruments[w.symbol] = report
        draws.append(diffs)
    summary = _summary(instruments, draws)
    (out_dir / "evaluation.json").write_text(json.dumps(summary, indent=2))
    (out_dir / "table.txt").write_text(summary["table"] + "\n")
    plot_method_bars(summary["average"], ROUTER, out_dir / "summary.png")
    log.info("evaluation written", out_dir=str(out_dir), instruments=len(windows))
    return summary


def _instrument_report(
    runs: list[BacktestResult], window: EvalWindow, journal: Path, horizon: int, folder: Path
) -> tuple[dict, np.ndarray]:
    router, uniform = runs[0], runs[1]
    request = router.request
    frame = load_bars(
        window.symbol, window.bar, policy=request.data_policy, catalog_dir=request.catalog
    )
    traded = frame.index.isin(router.bars.index)
    references = {
        name: baseline_equity(
            router.bars, position(frame)[traded], request.capital, request.fee_bps
        )
        for name, position in BASELINES.items()
    }
    metrics = write_backtest_report(runs, folder, references)
    metrics = {_label(name): row for name, row in metrics.items()}
    diff, diffs = _bootstrap_sharpe_diff(router.equity, uniform.equity)
    report = {
        "test": [str(window.test_start), str(window.test_end)],
        "metrics": metrics,
        "regime": _regime_accuracy(journal, request.run_id, frame, window.bar, horizon),
        "sharpe_diff_vs_uniform": diff,
        "best_expert": runs[2].best_expert,
        "flags": router.flags,
        "report": str(folder / "index.html"),
    }
    return report, diffs


def _label(policy: str) -> str:
    return ROUTER if policy.startswith("model:") else policy


def _regime_accuracy(
    journal: Path, run_id: str, frame: pd.DataFrame, bar: str, horizon: int
) -> dict:
    """The router's most likely regime at each decision against the label of the next
    `horizon` bars; labels come from the whole history so their indicators are warm."""
    with Journal(journal) as j:
        decisions = j.decision_records(run_id)
    labels = pd.Series(regime_labels(frame, horizon), index=frame.index)
    step = bar_interval(bar)
    predicted, actual = [], []
    for d in decisions:
        # A decision is stamped at its bar's close; the frame is indexed by bar open.
        label = labels.get(pd.Timestamp(d.ts, tz="UTC") - step, NO_LABEL)
        if d.regime and label != NO_LABEL:
            predicted.append(REGIMES.index(max(d.regime, key=d.regime.get)))
            actual.append(int(label))
    if not actual:
        return {"accuracy": None, "majority_rate": None, "decisions": 0}
    counts = np.bincount(actual, minlength=len(REGIMES))
    return {
        "accuracy": float(np.mean(np.equal(predicted, actual))),
        "majority_rate": float(counts.max() / counts.sum()),
        "decisions": len(actual),
    }


def _bootstrap_sharpe_diff(router: pd.Series, uniform: pd.Series, seed: int = 0):
    """Sharpe(router) - Sharpe(uniform) on paired daily returns, and its moving-block
    bootstrap draws (empty when the span is shorter than two blocks)."""
    paired = pd.concat([daily_equity(router), daily_equity(uniform)], axis=1).dropna()
    a, b = returns_of(paired.iloc[:, 0]), returns_of(paired.iloc[:, 1])
    n = len(a)
    diff = sharpe(a) - sharpe(b)
    if n < 2 * BOOTSTRAP_BLOCK:
        return diff, np.empty(0)
    rng = np.random.default_rng(seed)
    blocks = -(-n // BOOTSTRAP_BLOCK)
    starts = rng.integers(0, n - BOOTSTRAP_BLOCK + 1, size=(BOOTSTRAP_SAMPLES, blocks))
    index = (starts[:, :, None] + np.arange(BOOTSTRAP_BLOCK)).reshape(BOOTSTRAP_SAMPLES, -1)[:, :n]
    return diff, np.array([sharpe(a[i]) - sharpe(b[i]) for i in index])


def _interval(point: float, draws: np.ndarray) -> dict:
    if not len(draws):
        return {"diff": point, "low": None, "high": None}
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"diff": point, "low": float(low), "high": float(high)}


def _summary(instruments: dict[str, dict], draws: list[np.ndarray]) -> dict:
    average = average_metrics([i["metrics"] for i in instruments.values()])
    for inst, mine in zip(instruments.values(), draws, strict=True):
        inst["sharpe_diff_vs_uniform"] = _interval(inst["sharpe_diff_vs_uniform"], mine)
    # The average difference's interval: per draw, the mean over instruments of their draws.
    usable = [d for d in draws if len(d)]
    pooled = np.mean(usable, axis=0) if len(usable) == len(draws) else np.empty(0)
    point = _mean([i["sharpe_diff_vs_uniform"]["diff"] for i in instruments.values()])
    regimes = [i["regime"] for i in instruments.values() if i["regime"]["decisions"]]
    total = sum(r["decisions"] for r in regimes)
    return {
        "instruments": instruments,
        "average": average,
        "sharpe_diff_vs_uniform": _interval(point, pooled),
        "regime_accuracy": _weighted(regimes, "accuracy", total),
        "regime_majority_rate": _weighted(regimes, "majority_rate", total),
        "table": table3(average, f"method (mean of {len(instruments)} instruments)"),
    }


def average_metrics(rows: list[dict[str, dict]]) -> dict[str, dict[str, float | None]]:
    """Each method's mean TR, Sharpe and MDD over `rows` (method -> metrics), skipping the
    unmeasured (None) values."""
    return {
        method: {key: _mean([row[method][key] for row in rows]) for key in TABLE_KEYS}
        for method in rows[0]
    }


def _mean(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.mean(finite)) if finite else None


def _weighted(regimes: list[dict], key: str, total: int) -> float | None:
    return sum(r[key] * r["decisions"] for r in regimes) / total if total else None


def table3(average: dict[str, dict[str, float | None]], title: str) -> str:
    """The paper's Table 3 layout on averages: TR%, SR and MDD% per method, under `title`
    (e.g. "method (mean of 10 instruments)")."""
    width = max(36, len(title) + 2)
    lines = [f"{title:<{width}}{'TR%':>9}{'SR':>8}{'MDD%':>9}"]
    for method, m in average.items():
        cells = [
            _cell(m["total_return"], 100, 9),
            _cell(m["sharpe"], 1, 8),
            _cell(m["max_drawdown"], 100, 9),
        ]
        lines.append(f"{method:<{width}}{''.join(cells)}")
    return "\n".join(lines)


def _cell(value: float | None, scale: float, width: int) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value * scale:>{width}.2f}"


def _day(iso: str) -> date:
    return pd.Timestamp(iso).date()
