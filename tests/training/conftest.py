import pandas as pd
import pytest

from bot.core.observation import Observation, build_observation
from bot.engine.data import load_bars
from bot.model.router_model import ModelConfig, RouterModel


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


@pytest.fixture(scope="session")
def regime_dataset(tmp_path_factory):
    """A synthetic regime-switching dataset: two instruments of 1,500 daily bars in regimes of
    120 bars, labels over 10 bars, a decision every 5 bars, 56-pixel charts."""
    from tests.training.synthetic import regime_switching_frame
    from training.dataset import build_dataset
    from training.dataset_config import DatasetConfig
    from training.router_dataset import RouterDataset

    frames = {
        name: (regime_switching_frame(1500, seed=seed)[0], "index")
        for name, seed in (("SYNA", 1), ("SYNB", 2))
    }
    config = DatasetConfig(symbols=tuple(frames), horizon=10, stride=5, image_size=56, workers=2)
    out = tmp_path_factory.mktemp("regime_dataset")
    build_dataset(config, out, frames=frames, progress=False)
    return RouterDataset.load(out)


@pytest.fixture(scope="session")
def hashed() -> ModelConfig:
    """A small compact model that needs no MiniLM: fast to train in tests."""
    return ModelConfig(text_encoder="hashed", hidden_size=64)
