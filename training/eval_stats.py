"""The numbers of the evaluation table: means over instruments, the moving-block bootstrap of
Sharpe differences against the router, the router's regime accuracy and weight moves, and the
paper's Table 3 layout as text.

The bootstrap resamples paired daily returns in blocks of `BOOTSTRAP_BLOCK` days (keeping a
month of autocorrelation), `BOOTSTRAP_SAMPLES` times, with the same resampled days for every
row, so one instrument's draws can be pooled with another's (mean per draw).
"""

import numpy as np
import pandas as pd

from bot.core.metrics import daily_equity, returns_of, sharpe
from bot.core.regime import REGIMES
from strategies import EXPERTS

ROUTER = "router"
TABLE_KEYS = ("total_return", "sharpe", "max_drawdown")
BOOTSTRAP_BLOCK = 20  # days per block: keeps a month of autocorrelation in each resample
BOOTSTRAP_SAMPLES = 2000


def bootstrap_sharpe_diffs(
    router: pd.Series,
    others: dict[str, pd.Series],
    periods_per_year: int = 252,
    seed: int = 0,
    cut: set[str] = frozenset(),
) -> dict[str, tuple[float | None, np.ndarray]]:
    """Sharpe(router) - Sharpe(other) on paired daily returns for each curve of `others`, and
    its moving-block bootstrap draws: the same resampled days for every curve, so draws can be
    compared and pooled (empty when the common span is shorter than two blocks).

    The curves named in `cut` (runs the engine stopped early; ROUTER for the router's) get
    (None, no draws) and stay out of the pairing, which would otherwise shrink to their days."""
    kept = {} if ROUTER in cut else {k: v for k, v in others.items() if k not in cut}
    boot = _bootstrap({ROUTER: router, **kept}, periods_per_year, seed) if kept else {}
    return {name: boot.get(name, (None, np.empty(0))) for name in others}


def _bootstrap(
    curves: dict[str, pd.Series], periods_per_year: int, seed: int
) -> dict[str, tuple[float, np.ndarray]]:
    paired = pd.concat([daily_equity(c).rename(n) for n, c in curves.items()], axis=1).dropna()
    returns = {name: returns_of(paired[name]) for name in curves}
    mine = returns.pop(ROUTER)
    n = len(mine)
    points = {
        k: sharpe(mine, periods_per_year) - sharpe(r, periods_per_year) for k, r in returns.items()
    }
    if n < 2 * BOOTSTRAP_BLOCK:
        return {name: (point, np.empty(0)) for name, point in points.items()}
    rng = np.random.default_rng(seed)
    blocks = -(-n // BOOTSTRAP_BLOCK)
    starts = rng.integers(0, n - BOOTSTRAP_BLOCK + 1, size=(BOOTSTRAP_SAMPLES, blocks))
    index = (starts[:, :, None] + np.arange(BOOTSTRAP_BLOCK)).reshape(BOOTSTRAP_SAMPLES, -1)[:, :n]
    base = np.array([sharpe(mine[i], periods_per_year) for i in index])
    return {
        name: (points[name], base - np.array([sharpe(r[i], periods_per_year) for i in index]))
        for name, r in returns.items()
    }


def interval(point: float, draws: np.ndarray) -> dict:
    """{"diff": point, "low", "high"}: the 2.5 and 97.5 percentiles of `draws` (None without
    draws)."""
    if not len(draws):
        return {"diff": point, "low": None, "high": None}
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"diff": point, "low": float(low), "high": float(high)}


def average_metrics(rows: list[dict[str, dict]]) -> dict[str, dict[str, float | None]]:
    """Each method's mean TR, Sharpe and MDD over `rows` (method -> metrics), skipping the
    unmeasured (None) values."""
    return {
        method: {key: mean_or_none([row[method][key] for row in rows]) for key in TABLE_KEYS}
        for method in rows[0]
    }


def mean_or_none(values: list[float | None]) -> float | None:
    """The mean of the values that are not None; None when all are."""
    finite = [v for v in values if v is not None]
    return float(np.mean(finite)) if finite else None


def table3(
    average: dict[str, dict[str, float | None]],
    title: str,
    diffs: dict[str, dict] | None = None,
    flag: str = "",
) -> str:
    """The paper's Table 3 layout: TR%, SR and MDD% per method, under `title` (e.g. "method
    (mean of 10 instruments)"); with `diffs` (method -> `interval`), a column of
    Sharpe(router) - Sharpe(method) and its 95% bootstrap interval; `flag` ends every row."""
    width = max(36, len(title) + 2)
    header = f"{title:<{width}}{'TR%':>9}{'SR':>8}{'MDD%':>9}"
    lines = [header + ("   router SR - row SR [95% CI]" if diffs is not None else "")]
    for method, m in average.items():
        cells = [
            _cell(m["total_return"], 100, 9),
            _cell(m["sharpe"], 1, 8),
            _cell(m["max_drawdown"], 100, 9),
        ]
        if diffs is not None:
            cells.append(_diff_cell(diffs.get(method)))
        lines.append(f"{method:<{width}}{''.join(cells)}  {flag}".rstrip())
    return "\n".join(lines)


def _cell(value: float | None, scale: float, width: int) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value * scale:>{width}.2f}"


def _diff_cell(diff: dict | None) -> str:
    if diff is None:  # the router's own row
        return f"{'':<29}"
    if diff["diff"] is None:  # a run the engine stopped early
        return f"   {'n/a: stopped early':<26}"
    span = "n/a: < 2 blocks" if diff["low"] is None else f"{diff['low']:+.2f}, {diff['high']:+.2f}"
    return f"   {diff['diff']:+8.2f} [{span}]".ljust(29)


def regime_scores(predicted, actual, trailing) -> dict:
    """Regime accuracy over decisions with a forward label (codes in `REGIMES` order): the
    router's (`predicted`), the majority-class rate (always guessing the commonest label of
    `actual`) and the trailing rule's (`trailing`: the regime of the bars up to the decision;
    `NO_LABEL` counts as a miss). None each without decisions."""
    actual = np.asarray(actual, dtype=np.int64)
    if not len(actual):
        return {"accuracy": None, "majority_rate": None, "trailing_rule": None, "decisions": 0}
    counts = np.bincount(actual, minlength=len(REGIMES))
    return {
        "accuracy": float(np.mean(np.equal(predicted, actual))),
        "majority_rate": float(counts.max() / counts.sum()),
        "trailing_rule": float(np.mean(np.equal(trailing, actual))),
        "decisions": len(actual),
    }


def weight_moves(weights: np.ndarray, experts: np.ndarray, labels: np.ndarray) -> dict:
    """How a router's allocations moved over its decisions (rows in time order): `change`, the
    mean over consecutive decisions of sum |w_t - w_t-1| / 2 over the strategy `weights` (the
    share of capital re-allocated, 0 .. 1; None under two decisions), and `by_regime`, the mean
    `experts` weights (`EXPERTS` order) of the decisions of each forward regime label, with their
    count (`NO_LABEL` decisions left out)."""
    weights, experts, labels = np.asarray(weights), np.asarray(experts), np.asarray(labels)
    moves = np.abs(np.diff(weights, axis=0)).sum(axis=1) / 2 if len(weights) > 1 else []
    by_regime = {}
    for code, regime in enumerate(REGIMES):
        mine = experts[labels == code]
        if len(mine):
            means = dict(zip(EXPERTS, mine.mean(axis=0).tolist(), strict=True))
            by_regime[regime] = {"decisions": len(mine), **means}
    return {
        "change": float(np.mean(moves)) if len(moves) else None,
        "changes": len(moves),
        "by_regime": by_regime,
    }
