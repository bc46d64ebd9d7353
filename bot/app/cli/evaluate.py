"""`bot evaluate`: a router checkpoint against the baselines on its dataset's test splits or on
any symbols (`training/evaluate.py`), its recipe retrained on calendar folds (`--leaderboard`,
`training/leaderboard.py`), or the LLMoE Table 1 (`--system llmoe`, `llmoe.py`).

Torch and the training package load only when the command runs.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.app.cli.options import RayAddress, Workers, parallel_of
from bot.app.cli.train import DatasetOption
from bot.core.errors import BotError, ConfigError
from bot.core.report import check_output_folder
from bot.core.settings import Settings
from bot.engine.backtest_request import base_request
from bot.engine.journal import Journal, RunRecord


def _settings(ctx: typer.Context) -> Settings:
    return ctx.find_root().obj.settings().settings


def evaluate(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path | None, typer.Argument(help="The router checkpoint to evaluate (mmdrex).")
    ] = None,
    dataset: DatasetOption = None,
    out: Annotated[Path | None, typer.Option(help="Report folder.")] = None,
    folds: Annotated[
        int | None, typer.Option(help="--leaderboard: run only its last N folds (default all).")
    ] = None,
    leaderboard: Annotated[
        bool,
        typer.Option(
            help="Retrain the checkpoint's recipe walk-forward by calendar date on the bundled "
            "instruments and write router_leaderboard.json and .md to --out "
            "(training/leaderboard.py)."
        ),
    ] = False,
    stride: Annotated[
        int | None,
        typer.Option(help="--leaderboard: bars between decisions (default: the checkpoint's)."),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            help="--leaderboard: a smoke run (SPX and AAPL, the last fold, 56-px charts, two "
            "training steps)."
        ),
    ] = False,
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
    symbols: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated symbols to evaluate on instead of --dataset, seen by the "
            "checkpoint or not (llmoe: daily symbols, default MSFT,AAPL)."
        ),
    ] = None,
    start: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="--symbols: first day.")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="--symbols: last day.")
    ] = None,
    allow_in_sample: Annotated[
        bool,
        typer.Option(
            help="--symbols: evaluate a span the checkpoint was trained on, flagged IN-SAMPLE."
        ),
    ] = False,
    years: Annotated[int, typer.Option(help="llmoe: years of bars, split 80/20.")] = 10,
    train_days: Annotated[
        int, typer.Option(help="llmoe: fit on the last N train days only (0: all).")
    ] = 0,
) -> None:
    """Evaluate a router checkpoint against the baselines on its dataset's test splits, or on
    any --symbols (out of sample spans only, unless --allow-in-sample), or (--leaderboard)
    retrain its recipe walk-forward and rank it against the baselines, or (--system llmoe) run
    the LLMoE paper's Table 1 next to MM-DREX."""
    if leaderboard or stride is not None or quick or folds is not None:
        given = {
            "--dataset": dataset,
            "--symbols": symbols,
            "--start": start,
            "--end": end,
            "--allow-in-sample": allow_in_sample,
            f"--system {system}": system != "mmdrex",
        }
        _check_leaderboard(leaderboard, [name for name, value in given.items() if value])
        _leaderboard(ctx, checkpoint, out, folds, stride, quick, parallel_of(workers, ray_address))
        return
    if system == "llmoe":
        from bot.app.cli.llmoe import evaluate_llmoe

        evaluate_llmoe(
            _settings(ctx),
            out=out,
            symbols=symbols or "MSFT,AAPL",
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
    from bot.model.checkpoint import verify_checkpoint
    from training.eval_windows import test_windows
    from training.evaluate import run_evaluation

    settings = _settings(ctx)
    base = base_request(settings)
    parallel = parallel_of(workers, ray_address)
    folder = out or settings.backtest.report_dir / f"evaluate-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    check_output_folder(folder, "--out")  # before the run is journalled and the work starts
    _check_report_folder(folder, settings.journal.path)
    # The whole checkpoint is checked (digests, config, weights) before anything is journalled
    # or written: a corrupt one is refused here, not after the LightGBM row and backtests start.
    verify_checkpoint(checkpoint)
    if symbols is None:
        if start or end or allow_in_sample:
            raise ConfigError(
                "--start, --end and --allow-in-sample go with --symbols; with a dataset the "
                "span is each instrument's test split."
            )
        data = _dataset_of(checkpoint, dataset or settings.train.dataset)
        windows, horizon = test_windows(data.meta), data.config.horizon
        trained = data
    else:
        if dataset is not None:
            raise ConfigError(
                "--symbols evaluates on instruments instead of a dataset: drop --dataset, or "
                "drop --symbols."
            )
        spans = (start, end, allow_in_sample)
        windows, horizon = _symbol_windows(settings, checkpoint, symbols, *spans)
        trained = _recorded_dataset(checkpoint)
    symbols_bars = [(w.symbol, w.bar) for w in windows]
    _journal_evaluation(ctx, "evaluate", symbols_bars, checkpoint, folder)
    extra = _lgbm_row(trained, folder)
    summary = run_evaluation(
        checkpoint, windows, folder, horizon=horizon, base=base, parallel=parallel, extra=extra
    )
    _echo_summary(summary, folder)


def _check_report_folder(folder: Path, journal: Path) -> None:
    """ConfigError unless `folder` is new, empty or an evaluation report (a rerun rewrites it
    whole), and unless it holds the bot's `journal`, which the report's own would replace."""
    from training.evaluate import REPORT_ENTRIES, REPORT_JOURNAL

    if (folder / REPORT_JOURNAL).resolve() == journal.resolve():
        raise ConfigError(
            f"--out {folder} holds the bot's journal {journal} (journal.path), and an "
            f"evaluation report replaces the {REPORT_JOURNAL} in its folder: every recorded run "
            "would be lost. Choose a new or empty folder, e.g. reports/evaluate."
        )
    held = sorted(entry.name for entry in folder.iterdir()) if folder.is_dir() else []
    if held and not REPORT_ENTRIES & set(held):
        raise ConfigError(
            f"--out {folder} holds {', '.join(held[:5])} but no evaluation report, and an "
            "evaluation writes its report files and a folder per instrument there (replacing "
            "any of the same names): choose a new or empty folder, or an earlier evaluation's."
        )


def _journal_evaluation(
    ctx: typer.Context,
    mode: str,
    symbols_bars: list[tuple[str, str]],
    checkpoint: Path,
    folder: Path,
) -> None:
    """Record the evaluation (or leaderboard) as a run in the journal, so that `bot runs list`
    finds its report (its backtests journal apart, in the report folder's own journal)."""
    record = RunRecord(
        ctx.find_root().obj.run_id,
        mode,
        symbol=",".join(dict.fromkeys(symbol for symbol, _ in symbols_bars)),
        bar=",".join(dict.fromkeys(bar for _, bar in symbols_bars)),
        policy=f"model:{checkpoint}",
        report_dir=str(folder.resolve()),
    )
    with Journal(_settings(ctx).journal.path) as journal:
        journal.start_run(record)


def _check_leaderboard(leaderboard: bool, clashing: list[str]) -> None:
    """Refuse --stride, --quick or --folds without --leaderboard, and options that do not apply
    to it."""
    if not leaderboard:
        raise ConfigError(
            "--stride, --quick and --folds go with --leaderboard: add it, or drop them."
        )
    if clashing:
        raise ConfigError(
            f"--leaderboard retrains the checkpoint's recipe on its own instruments and calendar "
            f"folds, so {', '.join(clashing)} does not apply: drop it, or drop --leaderboard."
        )


def _leaderboard(
    ctx: typer.Context,
    checkpoint: Path | None,
    out: Path | None,
    folds: int | None,
    stride: int | None,
    quick: bool,
    parallel,
) -> None:
    """`bot evaluate CKPT --leaderboard`: training.leaderboard, its dataset under the folder of
    train.dataset and its fold checkpoints under var/leaderboard."""
    from bot.model.checkpoint import read_meta
    from training.leaderboard import (
        LeaderboardConfig,
        leaderboard_dataset_config,
        run_leaderboard,
    )

    if checkpoint is None:
        raise ConfigError(
            "--leaderboard retrains a checkpoint's recipe: name the checkpoint, e.g. "
            "`bot evaluate models/daily-equities --leaderboard`."
        )
    settings = _settings(ctx)
    config = LeaderboardConfig(
        folds=folds,
        stride=stride,
        quick=quick,
        datasets=settings.train.dataset.parent,
        work=settings.train.checkpoints.parent / "leaderboard",
    )
    stamp = f"leaderboard-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    folder = check_output_folder(out or settings.backtest.report_dir / stamp, "--out")
    base = base_request(settings)
    # Its check of the checkpoint's recorded dataset runs before anything is journalled.
    data = leaderboard_dataset_config(read_meta(checkpoint), config, base, frames=None)
    tested = [(symbol, data.bar) for symbol in config.test_instruments]
    _journal_evaluation(ctx, "leaderboard", tested, checkpoint, folder)
    run_leaderboard(checkpoint, config, folder, base, parallel)
    typer.echo((folder / "router_leaderboard.md").read_text())
    typer.echo(f"Report: {(folder / 'router_leaderboard.json').resolve()}")


def _lgbm_row(data, folder: Path) -> tuple[str, ...]:
    """The LightGBM router baseline, fitted on the router's own training data (so it is out of
    sample wherever the router is), as an extra evaluation row; none without that data."""
    if data is None:
        typer.echo(
            "No LightGBM row: the checkpoint records no training dataset on this machine "
            "(`bot train data` rebuilds one; `bot train lgbm` fits the router on it)."
        )
        return ()
    from training.lgbm import train_lgbm

    return (f"lgbm:{train_lgbm(data, folder / 'lgbm')}",)


def _recorded_dataset(checkpoint: Path):
    """The dataset the checkpoint was trained on, when it is still where meta.json says."""
    from bot.model.checkpoint import read_meta

    recorded = read_meta(checkpoint)["extra"].get("dataset", {}).get("path")
    try:
        return _dataset_of(checkpoint, Path(recorded)) if recorded else None
    except BotError:  # moved, rebuilt or deleted since: the row is left out, and said so
        return None


def _dataset_of(checkpoint: Path, path: Path):
    """The dataset at `path`, refused unless `checkpoint` was trained on it."""
    from bot.model.checkpoint import read_meta
    from training.eval_windows import check_trained_on
    from training.router_dataset import RouterDataset

    data = RouterDataset.load(path)
    check_trained_on(read_meta(checkpoint), data.meta, checkpoint)
    return data


def _symbol_windows(
    settings: Settings,
    checkpoint: Path,
    symbols: str,
    start: datetime | None,
    end: datetime | None,
    allow_in_sample: bool,
) -> tuple[list, int]:
    """The --symbols spans, on the bars the checkpoint was trained on (else backtest.bar), and
    the regime label horizon it was trained with (else train.horizon)."""
    from dataclasses import replace

    from bot.model.checkpoint import read_meta
    from training.eval_windows import symbol_windows

    names = [s.strip() for s in symbols.split(",") if s.strip()]
    if not names:
        raise ConfigError("--symbols is empty: name at least one symbol (`bot data list`).")
    trained = read_meta(checkpoint)["extra"].get("dataset", {}).get("config", {})
    base = replace(
        base_request(settings),
        bar=trained.get("bar", settings.backtest.bar),
        start=start.date() if start else None,
        end=end.date() if end else None,
    )
    windows = symbol_windows(checkpoint, names, base, allow_in_sample=allow_in_sample)
    return windows, trained.get("horizon", settings.train.horizon)


def _echo_summary(summary: dict, folder: Path) -> None:
    from bot.engine.backtest import STOPPED_EARLY  # nautilus: not at CLI start-up

    typer.echo(summary["table"])
    diff = summary["sharpe_diff_vs_uniform"]
    typer.echo(
        f"\nRouter - uniform Sharpe: {_num(diff['diff'])} "
        f"(95% block bootstrap {_num(diff['low'])} .. {_num(diff['high'])})"
    )
    typer.echo(
        f"Regime accuracy: {_share(summary['regime_accuracy'])} "
        f"(always guessing the commonest regime: {_share(summary['regime_majority_rate'])})"
    )
    typer.echo("Out of sample:")
    for symbol, inst in summary["instruments"].items():
        typer.echo(f"  {symbol:<8} {inst['test'][0]} .. {inst['test'][1]}: {inst['out_of_sample']}")
    for symbol in summary["in_sample"]:
        typer.echo(f"WARNING {summary['instruments'][symbol]['in_sample']}")
    for symbol, inst in summary["instruments"].items():
        for flag in (f for f in inst["flags"] if STOPPED_EARLY in f):
            typer.echo(f"WARNING {symbol} {flag}")
    typer.echo(f"Report: {(folder / 'evaluation.json').resolve()}")


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
