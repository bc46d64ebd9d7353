"""The leaderboard's numbers and files (`training.leaderboard`): per-row means over the
(instrument, fold) pairs, the pooled bootstrap interval of Sharpe(router) - Sharpe(row), the
regime and weight lines, and the issue's targets, met or missed.

`router_leaderboard.json` holds `instruments`, `folds`, `rows` (row -> mean TR, Sharpe, Sortino,
MDD, turnover and costs), `router_minus` (row -> Sharpe difference and its 95% interval: per
draw, the mean of every pair's moving-block bootstrap draws, `training.eval_stats`), `regime`
(router accuracy, majority-class rate and the trailing-regime rule's accuracy, pooled over the
decisions), `weight_change` (mean share of capital re-allocated between consecutive router
decisions), then `weights_by_regime`, `targets`, `fold_details` and the run's context (config,
cut dates, dataset, timings). `router_leaderboard.md` shows the same as tables.
"""

import json
from pathlib import Path

import numpy as np

from bot.engine.buy_and_hold import BUY_AND_HOLD
from strategies import EXPERTS
from training.eval_stats import ROUTER, interval, mean_or_none

# Leaderboard column -> metric key of `bot.core.metrics.summarize`.
ROW_KEYS = (
    ("tr", "total_return"),
    ("sharpe", "sharpe"),
    ("sortino", "sortino"),
    ("mdd", "max_drawdown"),
    ("turnover", "turnover"),
    ("costs", "costs"),
)
BEAT = ("uniform", "best-expert", "rule", "momentum", "lgbm")  # on mean Sharpe
SIGNIFICANT = ("uniform", "best-expert")  # ... with the interval of the difference above 0
MDD_SHARE = 0.6  # router mean MDD at most this share of buy-and-hold's
REGIME_MARGIN = 0.05  # regime accuracy at least the majority rate plus this
WEIGHT_CHANGE = 0.05  # "weights visibly change": at least 5% of capital moved per decision


def write_leaderboard(folds: list[dict], context: dict, out_dir: Path) -> dict:
    """Average `folds` (each `training.leaderboard._run_fold`'s result), write the JSON and the
    Markdown to `out_dir` and return the JSON."""
    pairs = [report for fold in folds for report in fold["instruments"].values()]
    symbols = [symbol for fold in folds for symbol in fold["instruments"]]
    rows = _rows(pairs)
    minus = _router_minus(folds)
    regime = _regime(pairs)
    change, by_regime = _weights(pairs)
    result = {
        "instruments": list(dict.fromkeys(symbols)),
        "folds": len(folds),
        "rows": rows,
        "router_minus": minus,
        "regime": regime,
        "weight_change": change,
        "weights_by_regime": by_regime,
        "pairs": len(pairs),
        "targets": _targets(rows, minus, regime, change),
        "fold_details": [_fold_detail(fold) for fold in folds],
        **context,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "router_leaderboard.json").write_text(json.dumps(result, indent=2))
    (out_dir / "router_leaderboard.md").write_text(markdown(result))
    return result


def _rows(pairs: list[dict]) -> dict[str, dict]:
    names = dict.fromkeys(name for report in pairs for name in report["metrics"])
    return {
        name: {
            column: mean_or_none([r["metrics"][name][key] for r in pairs if name in r["metrics"]])
            for column, key in ROW_KEYS
        }
        for name in names
    }


def _router_minus(folds: list[dict]) -> dict[str, dict]:
    diffs: dict[str, list] = {}
    draws: dict[str, list] = {}
    for fold in folds:
        for symbol, report in fold["instruments"].items():
            for name, diff in report["sharpe_diff"].items():
                diffs.setdefault(name, []).append(diff["diff"])
                mine = fold["draws"].get(f"{symbol}/{name}", np.empty(0))
                if len(mine):  # a span under two bootstrap blocks has none
                    draws.setdefault(name, []).append(mine)
    result = {}
    for name, points in diffs.items():
        pooled = np.mean(draws[name], axis=0) if name in draws else np.empty(0)
        span = interval(mean_or_none(points), pooled)
        result[name] = {"sharpe_diff": span["diff"], "ci95": [span["low"], span["high"]]}
    return result


def _regime(pairs: list[dict]) -> dict:
    scored = [r["regime"] for r in pairs if r["regime"]["decisions"]]
    total = sum(r["decisions"] for r in scored)

    def pooled(key: str) -> float | None:
        return sum(r[key] * r["decisions"] for r in scored) / total if total else None

    return {
        "accuracy": pooled("accuracy"),
        "majority": pooled("majority_rate"),
        "trailing_rule": pooled("trailing_rule"),
        "decisions": total,
    }


def _weights(pairs: list[dict]) -> tuple[float | None, dict]:
    moves = [r["weights"] for r in pairs if r["weights"]["changes"]]
    changes = sum(m["changes"] for m in moves)
    change = sum(m["change"] * m["changes"] for m in moves) / changes if changes else None
    by_regime: dict[str, dict] = {}
    for report in pairs:
        for regime, means in report["weights"]["by_regime"].items():
            sums = by_regime.setdefault(regime, dict.fromkeys(("decisions", *EXPERTS), 0.0))
            for expert in EXPERTS:
                sums[expert] += means[expert] * means["decisions"]
            sums["decisions"] += means["decisions"]
    for sums in by_regime.values():
        for expert in EXPERTS:
            sums[expert] /= sums["decisions"]
        sums["decisions"] = int(sums["decisions"])
    return change, by_regime


def _targets(rows: dict, minus: dict, regime: dict, change: float | None) -> list[dict]:
    router = rows[ROUTER]
    targets = [
        _target(
            f"router mean Sharpe > {name}'s",
            f"{_num(router['sharpe'])} vs {_num(rows[name]['sharpe'])}",
            _above(router["sharpe"], rows[name]["sharpe"]),
        )
        for name in BEAT
        if name in rows
    ]
    for name in SIGNIFICANT:
        low, high = minus.get(name, {}).get("ci95", (None, None))
        span = f"[{_num(low)}, {_num(high)}]"
        targets.append(_target(f"95% interval of router - {name} Sharpe > 0", span, _above(low, 0)))
    hold = rows.get(BUY_AND_HOLD, {"sharpe": None, "mdd": None})
    limit = None if hold["mdd"] is None else MDD_SHARE * hold["mdd"]
    targets.append(
        _target(
            f"router Sharpe >= buy-and-hold's, MDD <= {MDD_SHARE:.0%} of its MDD",
            f"Sharpe {_num(router['sharpe'])} vs {_num(hold['sharpe'])}; "
            f"MDD {_pct(router['mdd'])} vs limit {_pct(limit)}",
            _at_least(router["sharpe"], hold["sharpe"]) and _at_least(limit, router["mdd"]),
        )
    )
    floor = None if regime["majority"] is None else regime["majority"] + REGIME_MARGIN
    targets.append(
        _target(
            f"regime accuracy >= majority + {REGIME_MARGIN * 100:.0f} points",
            f"{_pct(regime['accuracy'])} vs {_pct(floor)}",
            _at_least(regime["accuracy"], floor),
        )
    )
    targets.append(
        _target(
            f"weights visibly change (>= {WEIGHT_CHANGE:.0%} of capital moved per decision)",
            _pct(change),
            _at_least(change, WEIGHT_CHANGE),
        )
    )
    return targets


def _target(name: str, value: str, met: bool) -> dict:
    return {"target": name, "value": value, "met": bool(met)}


def _above(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and a > b


def _at_least(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and a >= b


def _fold_detail(fold: dict) -> dict:
    detail = {key: value for key, value in fold.items() if key not in ("instruments", "draws")}
    detail["instruments"] = {
        symbol: {
            "test": report["test"],
            "validation": report["validation"],
            "best_expert": report["best_expert"],
            "sharpe": {name: m["sharpe"] for name, m in report["metrics"].items()},
            "regime": report["regime"],
            "weight_change": report["weights"]["change"],
            "flags": report["flags"],
        }
        for symbol, report in fold["instruments"].items()
    }
    return detail


def markdown(result: dict) -> str:
    """The leaderboard as Markdown: the rows table, the router-minus intervals, the regime and
    weight lines and the targets."""
    config = result["dataset"]["config"]
    lines = [
        "# Router leaderboard",
        "",
        f"The recipe of `{result['checkpoint']}` retrained from scratch per fold and tested out "
        f"of sample, walk-forward by calendar date: {_count(result['folds'], 'fold')} (cuts "
        f"{', '.join(result['cuts'])}), {len(result['instruments'])} instruments "
        f"({', '.join(result['instruments'])}), {result['pairs']} (instrument, fold) pairs. "
        f"Means over the pairs; fee {config['fee_bps']:g} bps and slippage "
        f"{config['slippage_bps']:g} bps per fill, rebalanced every "
        f"{config.get('window', config['stride'])} bars. "
        "Turnover: traded notional over mean equity per year; costs: commissions paid. "
        f"Run time {result['timings']['total_s'] / 60:.0f} min.",
        "",
        "| policy | TR % | Sharpe | Sortino | MDD % | turnover | costs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["rows"].items():
        cells = [_pct(row["tr"]), _num(row["sharpe"]), _num(row["sortino"]), _pct(row["mdd"])]
        cells += [_num(row["turnover"]), _num(row["costs"], 0)]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += [
        "",
        "Sharpe(router) - Sharpe(row), pooled 95% moving-block bootstrap interval:",
        "",
        "| row | router - row | 95% interval |",
        "|---|---:|---|",
    ]
    for name, diff in result["router_minus"].items():
        low, high = diff["ci95"]
        lines.append(f"| {name} | {_num(diff['sharpe_diff'])} | [{_num(low)}, {_num(high)}] |")
    regime = result["regime"]
    lines += [
        "",
        f"Regime accuracy: {_pct(regime['accuracy'])} (majority class {_pct(regime['majority'])}, "
        f"trailing-regime rule {_pct(regime['trailing_rule'])}) over {regime['decisions']} "
        "router decisions.",
        "",
        f"Weight change: {_pct(result['weight_change'])} of capital re-allocated per decision "
        "(mean of sum |w_t - w_t-1| / 2 over the 11 strategies).",
        "",
        f"| forward regime | decisions | {' | '.join(EXPERTS)} |",
        f"|---|---:|{'---:|' * len(EXPERTS)}",
    ]
    for name, means in result["weights_by_regime"].items():
        cells = [_pct(means[expert]) for expert in EXPERTS]
        lines.append(f"| {name} | {means['decisions']} | {' | '.join(cells)} |")
    lines += ["", "| target | value | met |", "|---|---|---|"]
    for target in result["targets"]:
        verdict = "met" if target["met"] else "missed"
        lines.append(f"| {target['target']} | {target['value']} | {verdict} |")
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + "s" * (n != 1)


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"
