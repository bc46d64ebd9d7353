"""The Table 1 run: per symbol, route every sample with the LLM, train the experts and the
baselines for each seed, and backtest every prediction series with and without costs, next to
MM-DREX routing and buy-and-hold on the same test window. Readable top to bottom:

1. `load_symbol`: bars, the Table 3 samples, the 80/20 split by time.
2. `route`: the LLM labels of the train and test samples (rationales for the test days).
3. `predict_all`: P(next day up) on the test days, per model and seed.
4. `trading.run_jobs`: one nautilus backtest per model, seed and cost setting.
5. `table.write_report`: the text table, JSON and plot.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from bot.engine.backtest import run_many
from bot.engine.backtest_request import BacktestRequest
from bot.engine.buy_and_hold import buy_and_hold
from bot.engine.data import dataset_asset_class
from bot.engine.journal import Journal, RunRecord
from bot.model.policy import load_policy
from training.llmoe.baselines import LLMOE_BASELINES, Split
from training.llmoe.dataset import DataConfig, SymbolData, load_symbol
from training.llmoe.experts import FitConfig, train_experts
from training.llmoe.features import Standardizer
from training.llmoe.headlines import Coverage, Headlines, load_headlines
from training.llmoe.llm import LLMConfig, LLMRouter, Routing
from training.llmoe.prompt import build_prompts
from training.llmoe.table import BUY_AND_HOLD, LLMOE, MMDREX, RANDOM, write_report
from training.llmoe.trading import TradeJob, run_jobs, targets_of

COSTS = ("with_costs", "without_costs")
CAPITAL = 100_000.0  # TradeJob's default: every curve starts from the same equity


@dataclass(frozen=True)
class EvaluateConfig:
    """Everything `bot evaluate --system llmoe` needs."""

    symbols: tuple[str, ...] = field(default=("MSFT", "AAPL"), metadata={"help": "Symbols."})
    seeds: int = field(default=10, metadata={"help": "Seeds per trained model (mean ± std)."})
    headlines: str = field(default="", metadata={"help": "date,headline file; empty: none."})
    calibrate: bool = field(
        default=True,
        metadata={
            "help": "Compare the label log-likelihoods against their median on the train "
            "samples instead of 0, so that a model biased toward one word still splits them."
        },
    )
    data: DataConfig = DataConfig()
    llm: LLMConfig = LLMConfig()
    fit: FitConfig = FitConfig()
    mmdrex: BacktestRequest | None = field(
        default=None, metadata={"help": "MM-DREX request (policy and costs); None: no row."}
    )
    fee_bps: float = field(default=10.0, metadata={"help": "Fee per side, with costs."})
    slippage_bps: float = field(default=1.0, metadata={"help": "Slippage, with costs."})
    journal: str | None = field(default=None, metadata={"help": "Journal of the routings."})
    run_id: str = field(default="llmoe", metadata={"help": "Journal run id prefix."})


@dataclass
class SymbolRun:
    """One symbol's routings, predictions and equity curves."""

    data: SymbolData
    routes: dict[str, list[Routing]]
    threshold: float
    coverage: Coverage | None
    predictions: dict[str, list[np.ndarray]] = field(default_factory=dict)
    equity: dict[str, dict[str, list[pd.Series]]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)  # warnings for the report (MM-DREX's)


def run_llmoe_evaluation(config: EvaluateConfig, out_dir: Path) -> dict:
    """Run the whole comparison and write the report into `out_dir`; the summary dict."""
    headlines = load_headlines(config.headlines) if config.headlines else None
    router = LLMRouter(config.llm)
    runs = {}
    try:
        for symbol in config.symbols:
            runs[symbol] = _symbol_run(symbol, config, router, headlines)
    finally:
        router.close()
    _backtest(runs, config)
    timing = {"computed": router.computed, "seconds": round(router.seconds, 1)}
    return write_report(runs, config, out_dir, timing)


def _symbol_run(
    symbol: str, config: EvaluateConfig, router: LLMRouter, headlines: Headlines | None
) -> SymbolRun:
    data = load_symbol(symbol, config.data)
    text, coverage = headlines.align(data.bars.index) if headlines else (None, None)
    routes = {
        "train": router.route(
            build_prompts(symbol, data.train, data.bars.index, text), desc=f"{symbol} train"
        ),
        "test": router.route(
            build_prompts(symbol, data.test, data.bars.index, text),
            rationale=True,
            desc=f"{symbol} test",
        ),
    }
    threshold = float(np.median(_log_odds(routes["train"]))) if config.calibrate else 0.0
    run = SymbolRun(data, routes, threshold, coverage)
    run.predictions = predict_all(run, config)
    if config.journal:
        _journal(run, config)
    return run


def optimistic(routes: list[Routing], threshold: float) -> np.ndarray:
    """True where log P(Optimistic) - log P(Pessimistic) is above `threshold`."""
    return _log_odds(routes) > threshold


def predict_all(run: SymbolRun, config: EvaluateConfig) -> dict[str, list[np.ndarray]]:
    """P(next day up) on the test days for every model, one array per seed."""
    scaler = Standardizer.fit(run.data.train.flat())
    split = Split(
        scaler.apply(run.data.train.flat()),
        run.data.train.labels.astype(np.float32),
        scaler.apply(run.data.test.flat()),
        run.data.train.windows.shape[1],
    )
    llm_train = optimistic(run.routes["train"], run.threshold)
    llm_test = optimistic(run.routes["test"], run.threshold)
    predictions: dict[str, list[np.ndarray]] = {name: [] for name, _ in LLMOE_BASELINES}
    predictions |= {LLMOE: [], RANDOM: []}
    for seed in tqdm(range(config.seeds), desc=f"{run.data.symbol} models", leave=False):
        for name, model in LLMOE_BASELINES:
            predictions[name].append(model(split, config.fit, seed))
        predictions[LLMOE].append(_experts(split, llm_train, llm_test, config, seed))
        coin = np.random.default_rng(seed)
        random_train = coin.random(len(split.x_train)) < 0.5
        random_test = coin.random(len(split.x_test)) < 0.5
        predictions[RANDOM].append(_experts(split, random_train, random_test, config, seed))
    return predictions


def _experts(split: Split, train: np.ndarray, test: np.ndarray, config, seed: int) -> np.ndarray:
    experts = train_experts(split.x_train, split.y_train, train, config.fit, seed)
    return experts.predict(split.x_test, test)


def _backtest(runs: dict[str, SymbolRun], config: EvaluateConfig) -> None:
    jobs, slots = [], []
    for symbol, run in runs.items():
        bars = _test_bars(run.data)
        asset_class = dataset_asset_class(symbol, "1d", catalog_dir=config.data.catalog)
        for costs in COSTS:
            fee, slip = _costs(config, costs)
            run.equity[costs] = {name: [] for name in run.predictions}
            for name, series in run.predictions.items():
                for seed, probabilities in enumerate(series):
                    targets = targets_of(run.data.test.days, probabilities)
                    job = TradeJob(f"{name}-{seed}", symbol, bars, targets, fee, slip, asset_class)
                    jobs.append(job)
                    slots.append(run.equity[costs][name])
            terms = BacktestRequest(symbol, capital=CAPITAL, fee_bps=fee, slippage_bps=slip)
            hold, _ = buy_and_hold(bars, terms)  # fills at the next open, like the strategies
            hold.index = bars.index  # on the jobs' open-time index
            run.equity[costs][BUY_AND_HOLD] = [hold]
    for slot, equity in zip(slots, run_jobs(jobs), strict=True):
        slot.append(equity)
    if config.mmdrex is not None:
        _mmdrex(runs, config)


def _mmdrex(runs: dict[str, SymbolRun], config: EvaluateConfig) -> None:
    requests, keys = [], []
    for symbol, run in runs.items():
        for costs in COSTS:
            fee, slip = _costs(config, costs)
            requests.append(
                replace(
                    config.mmdrex,
                    symbol=symbol,
                    start=run.data.test.days[0].date(),
                    end=run.data.bars.index[-1].date(),
                    fee_bps=fee,
                    slippage_bps=slip,
                )
            )
            keys.append((symbol, costs))
    results = run_many(requests, load_policy=load_policy)
    for (symbol, costs), result in zip(keys, results, strict=True):
        runs[symbol].equity[costs][MMDREX] = [result.equity]
        runs[symbol].flags += [f"{MMDREX} ({costs}): {flag}" for flag in result.flags]


def _journal(run: SymbolRun, config: EvaluateConfig) -> None:
    run_id = f"{config.run_id}-{run.data.symbol}"
    chosen = optimistic(run.routes["test"], run.threshold)
    first_seed = run.predictions[LLMOE][0]
    with Journal(Path(config.journal)) as journal:
        journal.start_run(
            RunRecord(run_id, "evaluate", run.data.symbol, "1d", "llmoe", {"seeds": config.seeds})
        )
        test = zip(run.data.test.days, run.routes["test"], strict=True)
        for i, (day, routing) in enumerate(test):
            payload = {
                "label": "Optimistic" if chosen[i] else "Pessimistic",
                "model_label": routing.label,
                "p_optimistic": routing.p_optimistic,
                "threshold": run.threshold,
                "rationale": routing.rationale,
                "prediction_seed0": float(first_seed[i]),
            }
            journal.record_event(run_id, day, "llmoe_route", payload)


def _test_bars(data: SymbolData) -> pd.DataFrame:
    return data.bars[data.bars.index >= data.test.days[0]]


def _costs(config: EvaluateConfig, costs: str) -> tuple[float, float]:
    return (config.fee_bps, config.slippage_bps) if costs == "with_costs" else (0.0, 0.0)


def _log_odds(routes: list[Routing]) -> np.ndarray:
    return np.array([r.log_optimistic - r.log_pessimistic for r in routes])
