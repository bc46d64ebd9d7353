"""The training configs refuse numbers that would train nothing or fail deep inside a run."""

import pytest

from bot.core.errors import ConfigError
from training.dataset_config import DatasetConfig
from training.leaderboard import CUTS, LeaderboardConfig
from training.lgbm import LGBMConfig
from training.ppo import PPOConfig
from training.sft import SFTConfig

LAST_SEED = 2**32 - 1


@pytest.mark.parametrize(
    ("config", "field", "bad", "good"),
    [
        (SFTConfig, "epochs", 0, 1),
        (SFTConfig, "epochs", -3, 1),
        (SFTConfig, "batch_size", -5, 1),
        (SFTConfig, "micro_batch", -2, None),
        (SFTConfig, "micro_batch", 0, 1),
        (SFTConfig, "patience", 0, 1),
        (SFTConfig, "max_steps", 0, None),
        (SFTConfig, "max_steps", -1, 1),
        (SFTConfig, "seed", -1, 0),
        (SFTConfig, "seed", 2**32, LAST_SEED),
        (PPOConfig, "iterations", 0, 1),
        (PPOConfig, "epochs", 0, 1),
        (PPOConfig, "batch_size", -4, 1),
        (PPOConfig, "micro_batch", -1, None),
        (PPOConfig, "max_steps", 0, 1),
        (PPOConfig, "seed", 99999999999, LAST_SEED),
        (LGBMConfig, "seed", -1, LAST_SEED),
    ],
)
def test_a_training_config_refuses_a_value_out_of_range_naming_it(config, field, bad, good):
    # Act
    with pytest.raises(ConfigError) as refused:
        config(**{field: bad})
    accepted = config(**{field: good})

    # Assert: the message names the field and what it may be
    assert f"{config.__name__}.{field} is {bad}, but must be" in str(refused.value)
    assert getattr(accepted, field) == good


def test_leaderboard_folds_zero_is_refused_not_taken_for_all_folds():
    # Act
    with pytest.raises(ConfigError) as refused:
        LeaderboardConfig(folds=0)

    # Assert
    assert f"choose 1 .. {len(CUTS) - 1}" in str(refused.value)
    assert LeaderboardConfig().folds == len(CUTS) - 1  # left out: every fold


def test_dataset_config_refuses_a_repeated_symbol():
    # Act
    with pytest.raises(ConfigError) as refused:
        DatasetConfig(symbols=("GOOG.WIKI", "SPX", "GOOG.WIKI"))

    # Assert: not every GOOG.WIKI sample built and trained on twice
    assert "names GOOG.WIKI more than once" in str(refused.value)
