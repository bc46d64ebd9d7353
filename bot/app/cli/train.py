"""`bot train data|sft|ppo|lgbm|init`: building datasets and training the router (`bot
evaluate` is in `evaluate.py`).

Torch and the training package load only when one of these commands runs.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.core.errors import ConfigError
from bot.core.report import check_output_folder
from bot.core.saved_meta import saved_kind
from bot.core.settings import Settings
from bot.core.staging import check_replaceable

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
Backbone = Annotated[str | None, typer.Option(help="compact | hf (default: train.backbone).")]
HFModelDir = Annotated[
    str | None,
    typer.Option(help="Local Qwen2.5-VL (image-text-to-text) folder for --backbone hf."),
]
BatchSize = Annotated[int | None, typer.Option(help="Samples per optimizer step.")]
MicroBatch = Annotated[
    int | None,
    typer.Option(help="Samples per forward/backward, accumulated to --batch-size (GPU memory)."),
]


def _settings(ctx: typer.Context, **flags) -> Settings:
    return ctx.find_root().obj.settings(**flags).settings


def _stamped(settings: Settings, stage: str) -> Path:
    return settings.train.checkpoints / f"{stage}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


def _given(**options):
    """The options given on the command line: one left out keeps its config default, while 0 or
    a negative number reaches the config's check instead of standing for the default."""
    return {name: value for name, value in options.items() if value is not None}


def _output(
    path: Path,
    kind: str,
    owns: frozenset[str],
    start: Path | None = None,
    option: str = "--out",
) -> Path:
    """`path`, refused (ConfigError) before any work when no folder can be written there, when it
    holds a saved folder of another kind, or other files than the `owns` entries of a save
    that replaces the whole folder (`bot.core.staging`), or files of those names but no saved
    `kind` (a user's own model.txt), or when it is `start`, the checkpoint the run starts from.
    Overwriting the same kind is allowed."""
    check_output_folder(path, option, replaces=kind)
    check_replaceable(path, kind, owns)
    held = sorted(entry.name for entry in path.iterdir()) if path.is_dir() else []
    if held and saved_kind(path) != kind:
        raise ConfigError(
            f"{option} {path} holds {', '.join(held[:5])} but no {kind} (no readable meta.json "
            f"of one), and writing a {kind} replaces the whole folder: choose a new or empty "
            f"folder, or delete {path} first if it is a damaged {kind} you mean to replace."
        )
    if start is not None and path.resolve() == start.resolve():
        raise ConfigError(
            f"{option} {path} is the checkpoint this run starts from; writing there would replace "
            "it with the result. Name another folder."
        )
    return path


@train_app.command("init")
def train_init(
    out: Annotated[Path, typer.Argument(help="Checkpoint folder to create.")],
    backbone: Annotated[str, typer.Option(help="compact | hf")] = "compact",
    hf_model_dir: Annotated[
        str, typer.Option(help="Local image-text-to-text model folder (hf backbone).")
    ] = "",
) -> None:
    """Write a randomly initialised router checkpoint (an untrained baseline, and for tests)."""
    from bot.model.checkpoint import CHECKPOINT_ENTRIES, init_checkpoint
    from bot.model.router_model import ModelConfig

    _output(out, "checkpoint", CHECKPOINT_ENTRIES, option="OUT")
    path = init_checkpoint(out, ModelConfig(backbone=backbone, hf_model_dir=hf_model_dir))
    typer.echo(f"Wrote an untrained {backbone} checkpoint to {path}.")


@train_app.command("data")
def train_data(
    ctx: typer.Context,
    out: DatasetOption = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols.")] = None,
    horizon: Annotated[int | None, typer.Option(help="Label horizon H in bars.")] = None,
    stride: Annotated[int | None, typer.Option(help="Bars between decisions.")] = None,
    cuts: Annotated[
        str | None,
        typer.Option(help="Validation and test start dates for every symbol: VAL,TEST (ISO)."),
    ] = None,
    image_size: Annotated[
        int,
        typer.Option(help="Chart side in pixels: a multiple of 28, and 56 or more for compact."),
    ] = 224,
) -> None:
    """Build the leak-free training dataset (observations, labels, strategy return paths)."""
    from bot.model.backbones import COMPACT_MIN_IMAGE_SIZE
    from training.dataset import DATASET_ENTRIES, build_dataset
    from training.dataset_config import DatasetConfig

    settings = _settings(
        ctx,
        **{
            "train.dataset": out,
            "train.symbols": symbols.split(",") if symbols else None,
            "train.horizon": horizon,
            "train.stride": stride,
            "train.cuts": cuts.split(",") if cuts else None,
        },
    )
    config = DatasetConfig.from_settings(settings, image_size)
    root = build_dataset(config, _output(settings.train.dataset, "dataset", DATASET_ENTRIES))
    meta = json.loads((root / "meta.json").read_text())
    typer.echo(f"Dataset {meta['config_hash']}: {meta['samples']} samples in {root}.")
    for symbol, info in meta["symbols"].items():
        counts = " ".join(f"{name}={s['samples']}" for name, s in info["splits"].items())
        test = info["splits"].get("test", {}).get("first_decision", "(none)")
        typer.echo(f"  {symbol:<8} {counts}  test from {test}")
    if config.image_size < COMPACT_MIN_IMAGE_SIZE:
        typer.echo(
            f"Note: {config.image_size}-px charts train only the hf backbone; the compact one "
            f"needs --image-size {COMPACT_MIN_IMAGE_SIZE} or more."
        )


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
    backbone: Backbone = None,
    hf_model_dir: HFModelDir = None,
    adapters: Annotated[
        str, typer.Option(help="hf: per_role (router + one per expert) | shared.")
    ] = "per_role",
    batch_size: BatchSize = None,
    micro_batch: MicroBatch = None,
) -> None:
    """Supervised training of the regime head and the router prior (LoRA for `hf`)."""
    from bot.model.checkpoint import CHECKPOINT_ENTRIES, read_meta
    from bot.model.router_model import ModelConfig
    from training.router_dataset import RouterDataset
    from training.sft import SFTConfig, train_sft

    config = SFTConfig(
        **_given(
            epochs=epochs,
            batch_size=batch_size,
            micro_batch=micro_batch,
            max_steps=max_steps,
            seed=seed,
        )
    )
    settings = _settings(ctx, **{"train.backbone": backbone, "train.hf_model_dir": hf_model_dir})
    train = settings.train
    folder = _output(out or _stamped(settings, "sft"), "checkpoint", CHECKPOINT_ENTRIES, init)
    data = RouterDataset.load(dataset or train.dataset)
    start = init or ModelConfig(
        backbone=train.backbone, hf_model_dir=train.hf_model_dir, adapters=adapters
    )
    path = train_sft(data, start, folder, config, hf_model_dir=hf_model_dir)
    _echo_checkpoint(path, read_meta(path))


@train_app.command("ppo")
def train_ppo(
    ctx: typer.Context,
    sft: Annotated[Path, typer.Argument(help="The SFT checkpoint to start from.")],
    dataset: DatasetOption = None,
    out: OutOption = None,
    max_steps: MaxSteps = None,
    seed: Seed = 0,
    backbone: Backbone = None,
    hf_model_dir: HFModelDir = None,
    batch_size: BatchSize = None,
    micro_batch: MicroBatch = None,
) -> None:
    """PPO on replayed strategy returns, from an SFT checkpoint (LoRA for `hf`). The backbone
    is the checkpoint's; --hf-model-dir says where its base model is on this machine."""
    from bot.model.checkpoint import CHECKPOINT_ENTRIES, read_meta
    from bot.model.router_model import ModelConfig
    from training.ppo import PPOConfig, train_ppo
    from training.router_dataset import RouterDataset

    config = PPOConfig(
        **_given(batch_size=batch_size, micro_batch=micro_batch, max_steps=max_steps, seed=seed)
    )
    # A config without a backbone is a compact one, as ModelConfig.from_dict reads it.
    trained = read_meta(sft)["model_config"].get("backbone", ModelConfig.backbone)
    if backbone is not None and backbone != trained:
        raise ConfigError(
            f"{sft} is a {trained} checkpoint, so PPO continues it as {trained}, not {backbone}; "
            f"drop --backbone or start from an SFT checkpoint of the {backbone} backbone."
        )
    settings = _settings(ctx)
    folder = _output(out or _stamped(settings, "ppo"), "checkpoint", CHECKPOINT_ENTRIES, sft)
    data = RouterDataset.load(dataset or settings.train.dataset)
    path = train_ppo(data, sft, folder, config, hf_model_dir=hf_model_dir)
    _echo_checkpoint(path, read_meta(path))


@train_app.command("lgbm")
def train_lgbm(
    ctx: typer.Context,
    dataset: DatasetOption = None,
    out: OutOption = None,
    seed: Seed = 0,
) -> None:
    """Fit the LightGBM router baseline (`--policy lgbm:DIR`) on a dataset's train split."""
    from bot.model.lgbm import read_meta
    from training.lgbm import LGBM_ENTRIES, LGBMConfig, train_lgbm
    from training.router_dataset import RouterDataset

    config = LGBMConfig(seed=seed)
    settings = _settings(ctx)
    folder = _output(out or _stamped(settings, "lgbm"), "LightGBM router", LGBM_ENTRIES)
    data = RouterDataset.load(dataset or settings.train.dataset)
    path = train_lgbm(data, folder, config)
    _echo_checkpoint(path, read_meta(path))


def _echo_checkpoint(path: Path, meta: dict) -> None:
    validation = meta["extra"].get("validation", {})
    scores = " ".join(f"{k}={v:.4g}" for k, v in validation.items() if isinstance(v, float))
    typer.echo(f"Wrote {path}  validation: {scores or 'n/a'}")
