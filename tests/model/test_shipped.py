"""The routers shipped in models/ match this version of the code and are reproducible."""

import pytest

from bot.core.features import FEATURE_NAMES, LOOKBACK
from bot.core.saved_meta import PROJECT_ROOT, checkpoint_path
from bot.core.settings import Settings
from bot.model.checkpoint import feature_schema, load_checkpoint, strategy_table
from training.dataset_config import DatasetConfig

SHIPPED = sorted(path.parent for path in (PROJECT_ROOT / "models").glob("*/meta.json"))


def test_the_default_backtest_policy_is_the_shipped_daily_router():
    policy = Settings().router.policy

    assert policy == "model:models/daily-equities"
    assert checkpoint_path(policy).resolve() == PROJECT_ROOT / "models" / "daily-equities"
    assert checkpoint_path(policy).resolve() in SHIPPED


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda path: path.name)
def test_shipped_checkpoint_matches_the_code(folder):
    model, meta, stats = load_checkpoint(folder)  # also checks every file's sha-256

    assert meta["strategies"] == strategy_table()
    assert meta["feature_schema"] == feature_schema()
    assert feature_schema() == {"names": list(FEATURE_NAMES), "lookback": LOOKBACK}
    assert stats is not None and stats.mean.shape == (len(FEATURE_NAMES),)
    assert model.config.backbone == "compact"
    assert meta["extra"]["stage"] == "ppo"
    assert sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) < 5 * 2**20


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda path: path.name)
def test_shipped_checkpoint_records_a_dataset_this_code_rebuilds(folder):
    _, meta, _ = load_checkpoint(folder)
    dataset = meta["extra"]["dataset"]

    config = DatasetConfig.from_dict(dataset["config"])

    assert config.digest() == dataset["config_hash"]
    # One calendar for every instrument: nothing learned reaches another's test span.
    validation, test = config.cuts
    for symbol in config.symbols:
        splits = dataset["symbols"][symbol]
        assert "train" not in splits or splits["train"]["last_bar_used"] < validation
        assert "val" not in splits or splits["val"]["last_bar_used"] < test
        assert "test" not in splits or splits["test"]["first_decision"] >= test


def test_make_router_rebuilds_the_default_routers_dataset():
    _, meta, _ = load_checkpoint(PROJECT_ROOT / "models" / "daily-equities")

    assert (
        meta["extra"]["dataset"]["config_hash"] == DatasetConfig.from_settings(Settings()).digest()
    )
