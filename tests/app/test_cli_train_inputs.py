"""`bot train` and `bot evaluate` refuse bad numbers, `--out` folders and hand-edited checkpoint
meta before any work: no dataset loaded, nothing trained, built or journalled."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.core.saved_meta import PROJECT_ROOT
from bot.engine.journal import Journal, RunRecord

SHIPPED = PROJECT_ROOT / "models" / "daily-equities"
runner = CliRunner()
# Where each command's work starts; a refusal must come before all of them.
WORK = (
    "training.router_dataset.RouterDataset.load",
    "training.dataset.build_dataset",
    "training.sft.train_sft",
    "training.ppo.train_ppo",
    "training.lgbm.train_lgbm",
    "training.leaderboard.run_leaderboard",
    "training.llmoe.evaluate.run_llmoe_evaluation",
    "bot.model.checkpoint.init_checkpoint",
)


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    for target in WORK:

        def started(*args, target=target, **kwargs):
            raise AssertionError(f"{target} ran")

        monkeypatch.setattr(target, started)
    return {
        "BOT__JOURNAL__PATH": str(tmp_path / "journal.sqlite"),
        "BOT__TRAIN__DATASET": str(tmp_path / "dataset"),
        "BOT__TRAIN__CHECKPOINTS": str(tmp_path / "checkpoints"),
        "BOT__BACKTEST__REPORT_DIR": str(tmp_path / "reports"),
    }


def _bot(env: dict[str, str], *args: str):
    return runner.invoke(app, [str(arg) for arg in args], env=env)


def _saved(folder: Path, meta: dict) -> Path:
    folder.mkdir()
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    """A checkpoint's meta.json (the shipped router's): all these commands read of it."""
    return _saved(tmp_path / "ckpt", json.loads((SHIPPED / "meta.json").read_text()))


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["train", "sft", "--epochs", "-3"], "SFTConfig.epochs is -3"),
        (["train", "sft", "--epochs", "0"], "SFTConfig.epochs is 0"),  # was: the default 30
        (["train", "sft", "--batch-size", "0"], "SFTConfig.batch_size is 0"),
        (["train", "sft", "--batch-size", "-5"], "SFTConfig.batch_size is -5"),
        (["train", "sft", "--micro-batch", "-2"], "SFTConfig.micro_batch is -2"),
        (["train", "sft", "--max-steps", "0"], "SFTConfig.max_steps is 0"),  # was: no limit
        (["train", "sft", "--max-steps", "-1"], "SFTConfig.max_steps is -1"),
        (["train", "sft", "--seed", "-1"], "SFTConfig.seed is -1"),
        (["train", "sft", "--seed", "99999999999"], "must be 0 .. 4294967295"),
        (["train", "ppo", SHIPPED, "--batch-size", "-4"], "PPOConfig.batch_size is -4"),
        (["train", "ppo", SHIPPED, "--micro-batch", "-1"], "PPOConfig.micro_batch is -1"),
        (["train", "ppo", SHIPPED, "--max-steps", "0"], "PPOConfig.max_steps is 0"),
        (["train", "ppo", SHIPPED, "--seed", "-1"], "PPOConfig.seed is -1"),
        (["train", "lgbm", "--seed", "-1"], "LGBMConfig.seed is -1"),
        (["evaluate", SHIPPED, "--leaderboard", "--folds", "0"], "--folds 0"),  # was: all folds
        (["train", "data", "--symbols", "SPX,SPX"], "names SPX more than once"),
    ],
)
def test_bad_training_input_is_refused_before_any_work(env, args, named):
    # Act
    result = _bot(env, *args)

    # Assert
    assert result.exit_code == 2, result.output
    assert named in " ".join(result.output.split())


@pytest.mark.parametrize(
    "command",
    [
        ["train", "data", "--symbols", "SPX", "--out"],
        ["train", "sft", "--out"],
        ["train", "ppo", SHIPPED, "--out"],
        ["train", "lgbm", "--out"],
        ["train", "init"],
        ["evaluate", SHIPPED, "--dataset", "ds", "--out"],
        ["evaluate", SHIPPED, "--leaderboard", "--out"],
        ["evaluate", "--system", "llmoe", "--out"],
    ],
)
def test_an_out_through_a_file_is_refused_before_any_work(env, tmp_path, command):
    # Arrange
    (tmp_path / "taken").write_text("a file, not a folder")

    # Act
    result = _bot(env, *command, tmp_path / "taken" / "out")

    # Assert
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'taken'} is a file" in " ".join(result.output.split())
    if (tmp_path / "journal.sqlite").exists():
        with Journal(tmp_path / "journal.sqlite") as journal:
            assert journal.runs().empty  # the evaluation is not journalled


@pytest.mark.parametrize(
    ("command", "holds"),
    [
        (["train", "data", "--symbols", "SPX", "--out", "{checkpoint}"], "holds a checkpoint"),
        (["train", "lgbm", "--out", "{checkpoint}"], "holds a checkpoint"),
        (["train", "sft", "--out", "{dataset}"], "holds a dataset"),
        (["train", "ppo", "{checkpoint}", "--out", "{dataset}"], "holds a dataset"),
        (["train", "sft", "--out", "{lgbm}"], "holds a LightGBM router"),
        (["train", "ppo", "{checkpoint}", "--out", "{checkpoint}"], "the checkpoint this run"),
        (["train", "sft", "--init", "{checkpoint}", "--out", "{checkpoint}/"], "this run starts"),
    ],
)
def test_an_out_holding_another_output_or_the_input_is_refused(
    env, tmp_path, checkpoint, command, holds
):
    # Arrange: the meta.json of a dataset and of a LightGBM router, as they begin
    folders = {
        "checkpoint": checkpoint,
        "dataset": _saved(tmp_path / "ds", {"config": {}, "config_hash": "ab12", "samples": 9}),
        "lgbm": _saved(tmp_path / "lgbm", {"format": 1, "kind": "lgbm", "extra": {}}),
    }
    before = {name: (f / "meta.json").read_text() for name, f in folders.items()}

    # Act
    result = _bot(env, *(arg.format(**folders) for arg in command))

    # Assert
    assert result.exit_code == 2, result.output
    assert holds in " ".join(result.output.split())
    assert {name: (f / "meta.json").read_text() for name, f in folders.items()} == before


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "{checkpoint}", "--dataset", "ds", "--out", "{checkpoint}"],
        ["evaluate", "{checkpoint}", "--leaderboard", "--out", "{checkpoint}"],
        ["evaluate", "--system", "llmoe", "--out", "{checkpoint}"],
    ],
)
def test_a_report_out_holding_a_saved_model_is_refused_and_left_alone(env, checkpoint, command):
    # Arrange: `bot evaluate models/daily-equities --out models/daily-equities`, mistyped
    before = {p.name: p.read_bytes() for p in checkpoint.iterdir()}

    # Act
    result = _bot(env, *(arg.format(checkpoint=checkpoint) for arg in command))

    # Assert: named, and not one report file written into the model
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"--out {checkpoint} holds a checkpoint" in message
    assert "Choose a new or empty folder" in message
    assert {p.name: p.read_bytes() for p in checkpoint.iterdir()} == before


@pytest.mark.parametrize(
    "command",
    [
        ["train", "init", "{folder}"],
        ["train", "data", "--symbols", "SPX", "--out", "{folder}"],
        ["train", "sft", "--out", "{folder}"],
        ["train", "ppo", "{checkpoint}", "--out", "{folder}"],
        ["train", "lgbm", "--out", "{folder}"],  # was: its model.txt written over the user's
    ],
)
def test_an_out_holding_other_files_is_refused_before_the_run(env, tmp_path, checkpoint, command):
    # A save replaces its whole folder: a mistyped --out must not take a user's files with it,
    # and a long run must not be refused only when it saves.
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")

    result = _bot(env, *(arg.format(folder=folder, checkpoint=checkpoint) for arg in command))

    assert result.exit_code == 2, result.output
    assert "holds notes.txt" in " ".join(result.output.split())
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (["train", "lgbm", "--out", "{folder}"], "model.txt"),
        (["train", "sft", "--out", "{folder}"], "model.safetensors"),
        (["train", "init", "{folder}"], "model.safetensors"),
    ],
)
def test_an_out_holding_a_file_of_an_outputs_name_but_no_output_is_refused(
    env, tmp_path, command, named
):
    # A user's own model.txt is not a LightGBM router: only a folder with the meta.json of the
    # kind is replaced whole.
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / named).write_text("precious")

    result = _bot(env, *(arg.format(folder=folder) for arg in command))

    assert result.exit_code == 2, result.output
    assert f"holds {named} but no" in " ".join(result.output.split())
    assert (folder / named).read_text() == "precious"


def test_ppo_overwrites_an_earlier_checkpoint_but_not_its_own_start(
    env, checkpoint, tmp_path, monkeypatch
):
    # Arrange: `make router` rewrites models/daily-equities with `bot train ppo ... --out` it
    earlier = tmp_path / "earlier"
    shutil.copytree(checkpoint, earlier)
    monkeypatch.setattr("training.router_dataset.RouterDataset.load", lambda path: path)
    monkeypatch.setattr("training.ppo.train_ppo", lambda data, sft, out, *a, **k: out)

    # Act
    itself = _bot(env, "train", "ppo", checkpoint, "--out", checkpoint)
    again = _bot(env, "train", "ppo", checkpoint, "--out", earlier)

    # Assert
    assert itself.exit_code == 2 and "the checkpoint this run starts from" in itself.output
    assert again.exit_code == 0, again.output
    assert f"Wrote {earlier}" in again.output


def test_a_checkpoint_meta_without_model_config_is_a_checkpoint_error(env, checkpoint):
    # Arrange
    meta = json.loads((checkpoint / "meta.json").read_text())
    (checkpoint / "meta.json").write_text(json.dumps(meta | {"model_config": None}))

    # Act
    result = _bot(env, "train", "ppo", checkpoint)

    # Assert: no TypeError traceback; the file and the key are named
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"{checkpoint / 'meta.json'} has no 'model_config' object (found None)" in message


def test_a_checkpoint_meta_without_extra_is_a_checkpoint_error(env, checkpoint):
    # Arrange
    meta = json.loads((checkpoint / "meta.json").read_text())
    del meta["extra"]
    (checkpoint / "meta.json").write_text(json.dumps(meta))

    # Act
    result = _bot(env, "evaluate", checkpoint, "--symbols", "SPX")

    # Assert: no KeyError traceback; the file and the key are named
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"{checkpoint / 'meta.json'} has no 'extra' object" in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("dataset", "data/datasets/spx"),
        ("dataset.config", ["SPX"]),
        ("dataset.symbols", None),
    ],
)
def test_a_checkpoint_meta_with_a_dataset_not_an_object_is_a_checkpoint_error(
    env, checkpoint, key, value
):
    # Arrange: callers read meta["extra"].get("dataset", {}).get("config", {}) and the like
    meta = json.loads((checkpoint / "meta.json").read_text())
    *inner, last = key.split(".")
    edited = meta["extra"]
    for name in inner:
        edited = edited[name]
    edited[last] = value
    (checkpoint / "meta.json").write_text(json.dumps(meta))

    # Act
    result = _bot(env, "evaluate", checkpoint, "--symbols", "SPX")

    # Assert: no AttributeError traceback; the file, the key and what it holds are named
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"{checkpoint / 'meta.json'} has no 'extra.{key}' object (found {value!r})" in message


def test_an_evaluation_out_holding_the_bots_journal_is_refused(env, tmp_path, checkpoint):
    # Arrange: `bot evaluate ... --out var`, where journal.path is var/journal.sqlite; the report
    # replaces its folder's journal.sqlite, which would delete every recorded run.
    journal = Path(env["BOT__JOURNAL__PATH"])
    with Journal(journal) as opened:
        opened.start_run(RunRecord("live-1", "live", "SPX", "1d", "uniform"))

    # Act
    result = _bot(env, "evaluate", checkpoint, "--dataset", "ds", "--out", journal.parent)

    # Assert
    assert result.exit_code == 2, result.output
    assert f"holds the bot's journal {journal}" in " ".join(result.output.split())
    with Journal(journal) as opened:
        assert list(opened.runs()["run_id"]) == ["live-1"]


def test_an_evaluation_out_holding_other_files_is_refused(env, tmp_path, checkpoint):
    # Arrange: a folder of the user's files.
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")

    # Act
    result = _bot(env, "evaluate", checkpoint, "--dataset", "ds", "--out", folder)

    # Assert
    assert result.exit_code == 2, result.output
    assert "holds notes.txt but no evaluation report" in " ".join(result.output.split())
    assert [entry.name for entry in folder.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(("key", "value"), [("feature_stats", "stats"), ("versions", [1])])
@pytest.mark.parametrize(
    "command",
    [
        ["models", "add", "{ckpt}"],
        ["train", "ppo", "{ckpt}"],
        ["evaluate", "{ckpt}", "--symbols", "SPX"],
    ],
)
def test_a_checkpoint_meta_field_of_the_wrong_type_is_a_checkpoint_error(
    env, tmp_path, key, value, command
):
    # Arrange: a whole checkpoint (weights too), its meta.json hand-edited
    checkpoint = Path(shutil.copytree(SHIPPED, tmp_path / "edited"))
    meta = json.loads((checkpoint / "meta.json").read_text())
    (checkpoint / "meta.json").write_text(json.dumps(meta | {key: value}))

    # Act
    result = _bot(env, *(arg.format(ckpt=checkpoint) for arg in command))

    # Assert: no AttributeError traceback; the file and the key are named
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"{checkpoint / 'meta.json'} has no {key!r} object (found {value!r})" in message
    assert not (tmp_path / "var" / "registry").exists()


@pytest.mark.parametrize("where", [["--dataset", "ds"], ["--symbols", "SPX"]])
def test_evaluate_refuses_corrupt_weights_before_anything_is_journalled_or_written(
    env, tmp_path, where
):
    # Arrange: a whole checkpoint whose weights changed after it was saved
    checkpoint = Path(shutil.copytree(SHIPPED, tmp_path / "damaged"))
    weights = checkpoint / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    out = tmp_path / "report"

    # Act
    result = _bot(env, "evaluate", checkpoint, *where, "--out", out)

    # Assert: named, with what to do; no run journalled, no report folder, no LightGBM row
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"Checkpoint file {weights} is corrupt" in message
    assert "copy it again or re-create the checkpoint" in message
    assert "--policy" not in message
    assert not out.exists()
    assert not (tmp_path / "journal.sqlite").exists()
