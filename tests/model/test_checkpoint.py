import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from bot.core.digests import sha256_file
from bot.core.errors import CheckpointError, ConfigError
from bot.core.features import FEATURE_NAMES, LOOKBACK, FeatureStats
from bot.model.checkpoint import (
    init_checkpoint,
    load_checkpoint,
    save_checkpoint,
    verify_checkpoint,
)
from bot.model.router_model import ModelConfig, RouterModel

HASHED = ModelConfig(text_encoder="hashed", hidden_size=64)


@pytest.fixture
def checkpoint(tmp_path):
    return init_checkpoint(tmp_path / "ckpt", HASHED)


def _edit_meta(folder, **changes):
    path = folder / "meta.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_saved_model_reloads_with_identical_outputs(tmp_path, observations):
    model = RouterModel(HASHED).eval()
    stats = FeatureStats(mean=np.arange(17.0), std=np.full(17, 2.0))
    folder = save_checkpoint(model, tmp_path / "c", stats=stats, extra_meta={"val_sharpe": 1.5})

    loaded, meta, loaded_stats = load_checkpoint(folder)

    batch = model.encode_observations(observations)
    torch.testing.assert_close(loaded(batch).strategy_weights, model(batch).strategy_weights)
    assert loaded.config == HASHED
    assert loaded_stats.to_dict() == stats.to_dict()
    assert meta["extra"] == {"val_sharpe": 1.5}


def test_meta_records_table_schema_versions_and_is_small(checkpoint):
    meta = json.loads((checkpoint / "meta.json").read_text())

    assert [row["name"] for row in meta["strategies"]][:3] == ["MACross", "Momentum", "Turtle"]
    assert meta["feature_schema"] == {"names": list(FEATURE_NAMES), "lookback": LOOKBACK}
    assert meta["feature_stats"] is None
    assert set(meta["versions"]) >= {"torch", "transformers", "peft", "nautilus_trader"}
    assert meta["model_config"]["backbone"] == "compact"
    size = sum(path.stat().st_size for path in checkpoint.iterdir())
    assert size < 3 * 2**20


def test_a_checkpoint_from_before_regime_routing_loads_as_a_plain_router(tmp_path, observations):
    plain = RouterModel(replace(HASHED, regime_routing=False)).eval()
    folder = save_checkpoint(plain, tmp_path / "old")
    meta = json.loads((folder / "meta.json").read_text())
    del meta["model_config"]["regime_routing"]  # as written before the option existed
    _edit_meta(folder, model_config=meta["model_config"])

    loaded, _, _ = load_checkpoint(folder)

    assert not loaded.config.regime_routing
    batch = plain.encode_observations(observations)
    torch.testing.assert_close(loaded(batch).strategy_weights, plain(batch).strategy_weights)


def test_missing_meta_is_refused(checkpoint):
    (checkpoint / "meta.json").unlink()

    with pytest.raises(CheckpointError, match="No meta.json"):
        load_checkpoint(checkpoint)


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "nowhere")


def test_corrupt_weights_are_refused(checkpoint):
    weights = checkpoint / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))

    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(checkpoint)


def test_verify_checks_the_weights_without_building_the_model(checkpoint, monkeypatch):
    # Arrange: weights cut short, their digest rewritten to match, and no model may be built
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    _edit_meta(checkpoint, files={"model.safetensors": sha256_file(weights)})
    monkeypatch.setattr("bot.model.checkpoint.RouterModel", None)

    # Act / Assert
    with pytest.raises(CheckpointError, match=f"weights {weights} do not load"):
        verify_checkpoint(checkpoint)


def test_verify_returns_the_meta_of_a_sound_checkpoint(checkpoint):
    assert verify_checkpoint(checkpoint)["model_config"] == HASHED.to_dict()


def test_a_model_config_value_of_the_wrong_type_is_refused_at_load(checkpoint):
    meta = json.loads((checkpoint / "meta.json").read_text())
    _edit_meta(checkpoint, model_config=meta["model_config"] | {"gradient_checkpointing": "big"})

    with pytest.raises(CheckpointError, match="ModelConfig.gradient_checkpointing is 'big'"):
        load_checkpoint(checkpoint)


def test_a_corrupt_fingerprint_is_refused_at_load(checkpoint):
    (checkpoint / "fingerprint.npy").write_text("junk")

    with pytest.raises(CheckpointError, match="fingerprint.npy is corrupt"):
        load_checkpoint(checkpoint)


def test_truncated_meta_is_refused(checkpoint):
    path = checkpoint / "meta.json"
    path.write_text(path.read_text()[:50])

    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(checkpoint)


def test_another_strategy_table_is_refused(checkpoint):
    meta = json.loads((checkpoint / "meta.json").read_text())
    _edit_meta(checkpoint, strategies=list(reversed(meta["strategies"])))

    with pytest.raises(CheckpointError, match="strategies"):
        load_checkpoint(checkpoint)


def test_another_feature_schema_is_refused(checkpoint):
    _edit_meta(checkpoint, feature_schema={"names": list(FEATURE_NAMES[:-1]), "lookback": 100})

    with pytest.raises(CheckpointError, match="features"):
        load_checkpoint(checkpoint)


def test_checkpoint_error_is_a_config_error():
    assert issubclass(CheckpointError, ConfigError)
    assert CheckpointError.exit_code == 2


def test_a_save_that_fails_leaves_the_earlier_checkpoint_loadable(checkpoint, monkeypatch):
    # Arrange: the disk fills while the new weights are written over a good checkpoint
    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bot.model.checkpoint.save_file", disk_full)

    # Act
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(RouterModel(HASHED), checkpoint)

    # Assert
    model, meta, _ = load_checkpoint(checkpoint)
    assert meta["model_config"]["hidden_size"] == 64
    assert [p.name for p in checkpoint.parent.iterdir()] == [checkpoint.name]


def test_a_save_into_a_folder_of_other_files_is_refused_and_deletes_none(tmp_path):
    # A save replaces the whole folder: a mistyped --out must not take a user's files with it.
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")

    with pytest.raises(ConfigError, match="notes.txt"):
        save_checkpoint(RouterModel(HASHED), folder)

    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
