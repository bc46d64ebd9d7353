"""Parameter sweeps: a grid over one strategy's config fields, scored walk-forward.

The span [start, end] is cut into `folds + 1` equal slices of bars. Fold i is fitted on
everything before slice i + 1 (an expanding window) and tested on slice i + 1, with `purge` bars
left out between the two. Every grid point runs the strategy alone (policy single:<strategy>,
costs included) on each fold's fit and test spans; the fold's chosen point is the one with the
best fit Sharpe, and the walk-forward score is its mean test Sharpe. Every backtest is one engine
in one task on the shared fan-out (`bot.core.parallel`).
"""

import itertools
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import msgspec  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from nautilus_trader.model.data import BarType  # noqa: E402
from nautilus_trader.model.identifiers import InstrumentId  # noqa: E402

from bot.core.errors import ConfigError  # noqa: E402
from bot.core.parallel import Parallel  # noqa: E402
from bot.core.report import check_output_folder, text_table  # noqa: E402
from bot.engine.backtest import resolve_window, run_many  # noqa: E402
from bot.engine.backtest_request import BacktestRequest  # noqa: E402
from bot.engine.data import load_bars  # noqa: E402
from strategies import StrategySpec  # noqa: E402
from strategies.plugins import Parameter, parameters, spec_named  # noqa: E402

# Each run sets what to trade itself; checking a grid point's config needs some instrument.
_ANY_INSTRUMENT = InstrumentId.from_str("SWEEP.CHECK")
_ANY_BAR_TYPE = BarType.from_str("SWEEP.CHECK-1-DAY-LAST-EXTERNAL")


@dataclass(frozen=True)
class SweepConfig:
    """What `run_sweep` runs: `grid` maps config fields of `strategy` to the values to try."""

    strategy: str
    grid: dict[str, tuple]
    folds: int = 3
    purge: int = 20  # bars between a fold's fit and test spans

    def __post_init__(self) -> None:
        spec = spec_named(self.strategy)
        sweepable = {p.name: p for p in parameters(spec)}
        unknown = set(self.grid) - set(sweepable)
        if unknown or not self.grid:
            raise ConfigError(
                f"{self.strategy} has no parameter(s) {sorted(unknown)} to sweep; its "
                f"parameters are {sorted(sweepable)} (`bot strategies list` shows their types "
                "and defaults)."
            )
        if self.folds < 1 or self.purge < 0:
            raise ConfigError(f"folds={self.folds} must be >= 1 and purge={self.purge} >= 0.")
        # Held as the config's field types (2 -> 2.0 for a float), so sweep.json shows what ran;
        # checked here, so a bad value stops the sweep before its first backtest, not inside one.
        annotations = {field.name: field.type for field in msgspec.structs.fields(spec.config)}
        typed = {
            name: tuple(self._typed(sweepable[name], annotations[name], v) for v in values)
            for name, values in self.grid.items()
        }
        object.__setattr__(self, "grid", typed)
        for point in self.points():
            _check_point(spec, point)

    def points(self) -> list[dict]:
        """Every grid point, as config overrides."""
        names = list(self.grid)
        return [
            dict(zip(names, values, strict=True))
            for values in itertools.product(*self.grid.values())
        ]

    def _typed(self, parameter: Parameter, annotation: Any, value: Any) -> Any:
        # strict: no bool for an int, no 10.5 (nor 10.0) for one; the annotation's bounds apply.
        try:
            typed = msgspec.convert(value, annotation)
        except msgspec.ValidationError as exc:
            problem = str(exc)
        else:
            if isinstance(typed, float) and not math.isfinite(typed):
                problem = "not a finite number"
            else:
                return typed
        raise ConfigError(
            f"{self.strategy} {parameter.name}={value!r} is not {parameter.type} ({problem}), so "
            f"no {self.strategy} config holds it. Give values such as {parameter.default!r} (its "
            f"default); `bot strategies list {self.strategy}` shows every parameter's type."
        )


def _check_point(spec: StrategySpec, point: dict) -> None:
    # The config's own checks, such as MACross' fast below slow, which no one field's type holds.
    try:
        spec.config(instrument_id=_ANY_INSTRUMENT, bar_type=_ANY_BAR_TYPE, **point)
    except ConfigError as exc:
        raise ConfigError(
            f"The grid point {point} is not a valid {spec.name} config: {exc}"
        ) from exc


def fold_spans(index: pd.DatetimeIndex, folds: int, purge: int) -> list[tuple]:
    """(fit start, fit end, test start, test end) bar times per fold (see the module docstring)."""
    cuts = np.linspace(0, len(index), folds + 2).round().astype(int)
    spans = []
    for i in range(folds):
        fit_end, test_start, test_end = cuts[i + 1] - 1, cuts[i + 1] + purge, cuts[i + 2] - 1
        if test_start >= test_end:
            raise ConfigError(
                f"Fold {i} has no test bars left after a purge of {purge} bars: pass fewer "
                "--folds, a smaller --purge, or a longer span (--start, --end)."
            )
        spans.append((index[0], index[fit_end], index[test_start], index[test_end]))
    return spans


def run_sweep(
    config: SweepConfig, base: BacktestRequest, out_dir: Path, parallel: Parallel
) -> dict:
    """Run the sweep; write sweep.json, table.txt and sweep.png into `out_dir`; return it."""
    check_output_folder(out_dir, "--out")  # before the backtests, which a bad one would waste
    frame = load_bars(base.symbol, base.bar, policy=base.data_policy, catalog_dir=base.catalog)
    start, end = resolve_window(frame, base)
    index = frame.index[(frame.index >= start) & (frame.index <= end)]
    spans = fold_spans(index, config.folds, config.purge)
    points = config.points()
    requests = [
        replace(
            base,
            policy=f"single:{config.strategy}",
            params={config.strategy: point},
            # The fold's bar times, not their days: on intraday bars a day would move the
            # edges to midnight, dropping the purge and sharing bars between fit and test.
            start=a.tz_localize(None).to_pydatetime(),
            end=b.tz_localize(None).to_pydatetime(),
            progress=False,
        )  # fmt: skip
        for point in points
        for span in spans
        for a, b in (span[:2], span[2:])
    ]
    sharpes = [r.metrics["sharpe"] for r in run_many(requests, parallel)]
    scores = np.array(sharpes, dtype=float).reshape(len(points), len(spans), 2)
    chosen = np.nanargmax(np.nan_to_num(scores[:, :, 0], nan=-np.inf), axis=0)
    result = {
        "strategy": config.strategy,
        "symbol": base.symbol,
        "folds": [
            {
                "fit": [str(s[0]), str(s[1])],
                "test": [str(s[2]), str(s[3])],
                "chosen": points[c],
                "test_sharpe": float(scores[c, f, 1]),
            }  # fmt: skip
            for f, (s, c) in enumerate(zip(spans, chosen, strict=True))
        ],
        "points": [
            {
                "params": p,
                "fit_sharpe": scores[i, :, 0].tolist(),
                "test_sharpe": scores[i, :, 1].tolist(),
                "mean_test_sharpe": float(np.nanmean(scores[i, :, 1])),
            }  # fmt: skip
            for i, p in enumerate(points)
        ],
        "walk_forward_sharpe": float(np.nanmean([scores[c, f, 1] for f, c in enumerate(chosen)])),
    }
    _write(result, out_dir)
    return result


def _write(result: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = [json.dumps(p["params"]) for p in result["points"]]
    rows = [
        (label, *(f"{s:+.2f}" for s in p["test_sharpe"]), f"{p['mean_test_sharpe']:+.2f}")
        for label, p in zip(labels, result["points"], strict=True)
    ]
    header = ("params", *(f"fold {i} test SR" for i in range(len(result["folds"]))), "mean")
    table = text_table(header, rows)
    table += (
        f"\nwalk-forward Sharpe (best fit point per fold): {result['walk_forward_sharpe']:+.3f}"
    )
    result["table"] = table
    (out_dir / "sweep.json").write_text(json.dumps(result, indent=2))
    (out_dir / "table.txt").write_text(table + "\n")
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(labels) + 1.5))
    ax.barh(labels, [p["mean_test_sharpe"] for p in result["points"]], color="tab:blue")
    ax.set_xlabel("mean out-of-sample Sharpe over the folds")
    ax.set_title(f"{result['strategy']} on {result['symbol']}: walk-forward sweep")
    fig.tight_layout()
    fig.savefig(out_dir / "sweep.png", dpi=100)
    plt.close(fig)
