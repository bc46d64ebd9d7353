import pandas as pd
import pytest

from bot.data import load_bars
from bot.observation import Observation, build_observation
from training.model import ModelConfig, RouterModel


@pytest.fixture(scope="session")
def spx() -> pd.DataFrame:
    """Real SPX daily bars, 2017-2019."""
    return load_bars("SPX", start="2017-01-01", end="2019-12-31")


@pytest.fixture(scope="session")
def observation(spx) -> Observation:
    return build_observation(spx)


@pytest.fixture(scope="session")
def observations(spx) -> list[Observation]:
    """Three observations at different decision bars."""
    return [build_observation(spx.iloc[:end]) for end in (400, 550, 700)]


@pytest.fixture
def compact_model() -> RouterModel:
    return RouterModel(ModelConfig(text_encoder="hashed")).eval()


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory):
    from tests.training.tiny_qwen import make_tiny_qwen

    return make_tiny_qwen(tmp_path_factory.mktemp("tiny_qwen"))
