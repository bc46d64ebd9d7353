"""`bot train data|sft|ppo|init` and `bot evaluate`: the training side of the command line.

Torch and the training package load only when one of these commands runs.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.backtest import base_request
from bot.cli_parallel import RayAddress, Workers, parallel_of
from bot.errors import ConfigError
from bot.settings import Settings

train_app = typer.Typer(
    help="Build datasets and train the router (SFT, PPO).", no_args_is_help=True
)

DatasetOption = Annotated[
    Path | None, typer.Option(help="Dataset folder (default: train.dataset).")
]
OutOption = Annotated[Path | None, typer.Option(help="Checkpoint folder to write.")]
MaxSteps = Annotated[
    int | None, typer.Option(help="Stop after this many optimizer steps (smoke runs).")
]
Seed = Annotated[int, typer.Option(help="Seed of initialisation, shuffling and sampling.")]


def _settings(ctx: typer.Context, **flags) -> Settings:
    return ctx.find_root().obj.settings(**flags).settings


def _stamped(settings: Settings, stage: str) -> Path:
    return settings.train.checkpoints / f"{stage}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


@train_app.command("init")
def train_init(
    out: Annotated[Path, typer.Argument(help="Checkpoint folder to create.")],
    backbone: Annotated[str, typer.Option(help="compact | hf")] = "compact",
    hf_model_dir: Annotated[
        str, typer.Option(help="Local image-text-to-text model folder (hf backbone).")
    ] = "",
) -> None:
    """Write a randomly initialised router checkpoint (an untrained baseline, and for tests)."""
    from training.checkpoint import init_checkpoint
    from training.model import ModelConfig

    path = init_checkpoint(out, ModelConfig(backbone=backbone, hf_model_dir=hf_model_dir))
    typer.echo(f"Wrote an untrained {backbone} checkpoint to {path}.")


@train_app.command("data")
def train_data(
    ctx: typer.Context,
    out: DatasetOption = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols.")] = None,
    horizon: Annotated[int | None, typer.Option(help="Label horizon H in bars.")] = None,
    stride: Annotated[int | None, typer.Option(help="Bars between decisions.")] = None,
    image_size: Annotated[int, typer.Option(help="Chart side in pixels (x28).")] = 224,
) -> None:
    """Build the leak-free training dataset (observations, labels, strategy return paths)."""
    from training.dataset import DatasetConfig, build_dataset

    settings = _settings(
        ctx,
        **{
            "train.dataset": out,
            "train.symbols": symbols.split(",") if symbols else None,
            "train.horizon": horizon,
            "train.stride": stride,
        },
    )
    config = DatasetConfig.from_settings(settings, image_size)
    root = build_dataset(config, settings.train.dataset)
    meta = json.loads((root / "meta.json").read_text())
    typer.echo(f"Dataset {meta['config_hash']}: {meta['samples']} samples in {root}.")
    for symbol, info in meta["symbols"].items():
        counts = " ".join(f"{name}={s['samples']}" for name, s in info["splits"].items())
        typer.echo(f"  {symbol:<8} {counts}  test from {info['splits']['test']['first_decision']}")


@train_app.command("sft")
def train_sft(
    ctx: typer.Context,
    dataset: DatasetOption = None,
    out: OutOption = None,
    init: Annotated[
        Path | None, typer.Option(help="Start from this checkpoint instead of a fresh model.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Most epochs (early stopping).")] = None,
    max_steps: MaxSteps = None,
    seed: Seed = 0,
) -> None:
    """Supervised training of the regime head and the router prior (LoRA for `hf`)."""
    from training.dataset import RouterDataset
    from training.model import ModelConfig
    from training.sft import SFTConfig, train_sft

    settings = _settings(ctx)
    train = settings.train
    data = RouterDataset.load(dataset or train.dataset)
    start = init or ModelConfig(backbone=train.backbone, hf_model_dir=train.hf_model_dir)
    defaults = SFTConfig()
    config = SFTConfig(epochs=epochs or defaults.epochs, max_steps=max_steps, seed=seed)
    path = train_sft(data, start, out or _stamped(settings, "sft"), config)
    _echo_checkpoint(path)


@train_app.command("ppo")
def train_ppo(
    ctx: typer.Context,
    sft: Annotated[Path, typer.Argument(help="The SFT checkpoint to start from.")],
    dataset: DatasetOption = None,
    out: OutOption = None,
    max_steps: MaxSteps = None,
    seed: Seed = 0,
) -> None:
    """PPO on replayed strategy returns, from an SFT checkpoint (LoRA for `hf`)."""
    from training.dataset import RouterDataset
    from training.ppo import PPOConfig, train_ppo

    settings = _settings(ctx)
    data = RouterDataset.load(dataset or settings.train.dataset)
    config = PPOConfig(max_steps=max_steps, seed=seed)
    path = train_ppo(data, sft, out or _stamped(settings, "ppo"), config)
    _echo_checkpoint(path)


def _echo_checkpoint(path: Path) -> None:
    from training.checkpoint import read_meta

    validation = read_meta(path)["extra"].get("validation", {})
    scores = " ".join(f"{k}={v:.4g}" for k, v in validation.items() if isinstance(v, float))
    typer.echo(f"Wrote {path}  validation: {scores or 'n/a'}")


def evaluate(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path | None, typer.Argument(help="The router checkpoint to evaluate (mmdrex).")
    ] = None,
    dataset: DatasetOption = None,
    out: Annotated[Path | None, typer.Option(help="Report folder.")] = None,
    walk_forward: Annotated[
        bool, typer.Option(help="Also retrain on expanding windows and test each next slice.")
    ] = False,
    folds: Annotated[int, typer.Option(help="Walk-forward test slices per instrument.")] = 3,
    workers: Workers = 0,
    ray_address: RayAddress = None,
    system: Annotated[str, typer.Option(help="mmdrex (a checkpoint) or llmoe (Table 1).")] = (
        "mmdrex"
    ),
    headlines: Annotated[Path | None, typer.Option(help="llmoe: date,headline file.")] = None,
    llm: Annotated[
        Path | None, typer.Option(help="llmoe: local causal-LM folder or .gguf (else SmolLM2).")
    ] = None,
    llm_dtype: Annotated[
        str, typer.Option(help="llmoe: float32, or bfloat16 (faster, blurs small models).")
    ] = "float32",
    seeds: Annotated[int, typer.Option(help="llmoe: seeds per trained model.")] = 10,
    symbols: Annotated[str, typer.Option(help="llmoe: comma-separated daily symbols.")] = (
        "MSFT,AAPL"
    ),
    years: Annotated[int, typer.Option(help="llmoe: years of bars, split 80/20.")] = 10,
    train_days: Annotated[
        int, typer.Option(help="llmoe: fit on the last N train days only (0: all).")
    ] = 0,
) -> None:
    """Evaluate a router checkpoint on its dataset's test splits against the baselines, or
    (--system llmoe) run the LLMoE paper's Table 1 next to MM-DREX."""
    if system == "llmoe":
        from bot.cli_llmoe import evaluate_llmoe

        evaluate_llmoe(
            _settings(ctx),
            out=out,
            symbols=symbols,
            seeds=seeds,
            headlines=headlines,
            llm=llm,
            llm_dtype=llm_dtype,
            years=years,
            train_days=train_days,
        )
        return
    if system != "mmdrex" or checkpoint is None:
        raise ConfigError(
            f"--system {system} with checkpoint {checkpoint}: use --system mmdrex CHECKPOINT or "
            "--system llmoe."
        )
    from training.checkpoint import read_meta
    from training.dataset import RouterDataset
    from training.evaluate import check_trained_on, run_evaluation, test_windows

    settings = _settings(ctx)
    data = RouterDataset.load(dataset or settings.train.dataset)
    check_trained_on(read_meta(checkpoint), data.meta, checkpoint)
    base = base_request(settings)
    parallel = parallel_of(workers, ray_address)
    folder = out or settings.backtest.report_dir / f"evaluate-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    summary = run_evaluation(
        checkpoint,
        test_windows(data.meta),
        folder,
        horizon=data.config.horizon,
        base=base,
        parallel=parallel,
    )
    typer.echo(summary["table"])
    diff = summary["sharpe_diff_vs_uniform"]
    typer.echo(
        f"\nRouter - uniform Sharpe: {diff['diff']:+.3f} "
        f"(95% block bootstrap {_num(diff['low'])} .. {_num(diff['high'])})"
    )
    typer.echo(
        f"Regime accuracy: {_share(summary['regime_accuracy'])} "
        f"(always guessing the commonest regime: {_share(summary['regime_majority_rate'])})"
    )
    typer.echo(f"Report: {(folder / 'evaluation.json').resolve()}")
    if walk_forward:
        from training.walk_forward import walk_forward as run_walk_forward

        wf_dir = folder / "walk-forward"
        result = run_walk_forward(checkpoint, data, folds, wf_dir, base, parallel)
        typer.echo(f"\nWalk-forward\n{result['table']}")
        typer.echo(f"Report: {(folder / 'walk-forward' / 'walk_forward.json').resolve()}")


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
