import pytest


@pytest.fixture(scope="session")
def regime_dataset(tmp_path_factory):
    """A synthetic regime-switching dataset: two instruments of 1,500 daily bars in regimes of
    120 bars, labels over 10 bars, a decision every 5 bars, 56-pixel charts."""
    from tests.support.series import regime_switching_frame
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
