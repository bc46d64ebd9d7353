"""`bot evaluate --system llmoe`: the LLMoE Table 1 comparison (`training/llmoe/evaluate.py`).

Torch, transformers and lightgbm load only when this runs.
"""

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import typer

from bot.core.errors import ConfigError
from bot.core.report import check_output_folder
from bot.core.settings import Settings
from bot.engine.backtest_request import base_request

MMDREX_POLICY = "model:models/daily-equities"


def evaluate_llmoe(
    settings: Settings,
    *,
    out: Path | None,
    symbols: str,
    seeds: int,
    headlines: Path | None,
    llm: Path | None,
    llm_dtype: str,
    years: int,
    train_days: int,
) -> None:
    """Run the comparison with these options and print the table."""
    import torch

    from training.llmoe.dataset import DataConfig
    from training.llmoe.evaluate import EvaluateConfig, run_llmoe_evaluation
    from training.llmoe.llm import LLMConfig

    if seeds < 1 or years < 1 or train_days < 0:
        raise ConfigError("--seeds and --years must be at least 1, and --train-days at least 0.")
    names = tuple(s.strip() for s in symbols.split(",") if s.strip())
    if not names:
        raise ConfigError("--symbols is empty: name at least one daily symbol, e.g. MSFT,AAPL.")
    folder = out or settings.backtest.report_dir / f"llmoe-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    check_output_folder(folder, "--out")  # before the models train, not after
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    base = base_request(settings)
    var = Path(settings.data.catalog).parent
    config = EvaluateConfig(
        symbols=names,
        seeds=seeds,
        headlines=str(headlines) if headlines else "",
        data=DataConfig(
            years=years,
            train_days=train_days,
            data_policy=settings.data.policy,
            catalog=str(settings.data.catalog),
        ),
        llm=LLMConfig(
            model=str(llm) if llm else "", dtype=llm_dtype, cache_dir=str(var / "llmoe-cache")
        ),
        mmdrex=replace(base, policy=MMDREX_POLICY, window=settings.router.window),
        fee_bps=base.fee_bps,
        slippage_bps=base.slippage_bps,
        journal=str(settings.journal.path),
        run_id=f"llmoe-{datetime.now(UTC):%Y%m%d-%H%M%S}",
    )
    summary = run_llmoe_evaluation(config, folder)
    typer.echo(summary["table"])
    typer.echo(f"\nReport: {(folder / 'table1.txt').resolve()}")
