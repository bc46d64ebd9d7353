"""Fixtures shared by the core, model and training tests: real SPX bars, observations built from
them, small router models and a tiny Qwen2.5-VL folder."""

import pandas as pd
import pytest

from bot.core.bars import from_nautilus_bars
from bot.core.observation import Observation, build_observation
from bot.engine.catalog import to_nautilus_bars
from bot.engine.data import load_bars
from bot.engine.instruments import make_instrument, price_precision_of
from bot.model.router_model import ModelConfig, RouterModel


@pytest.fixture(scope="session")
def spx() -> pd.DataFrame:
    """Real SPX daily bars, 2017-2019 (about 750 bars)."""
    return load_bars("SPX", start="2017-01-01", end="2019-12-31")


@pytest.fixture(scope="session")
def spx_nautilus(spx):
    """The same bars as nautilus bars, and the frame they read back as (instrument precision)."""
    instrument = make_instrument("SPX", "index", price_precision=price_precision_of(spx))
    bars = to_nautilus_bars(spx, instrument, "1d")
    return bars, from_nautilus_bars(bars, "1d")


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
def hashed() -> ModelConfig:
    """A small compact model that needs no MiniLM: fast to train in tests."""
    return ModelConfig(text_encoder="hashed", hidden_size=64)


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory):
    from tests.support.tiny_qwen import make_tiny_qwen

    return make_tiny_qwen(tmp_path_factory.mktemp("tiny_qwen"))
