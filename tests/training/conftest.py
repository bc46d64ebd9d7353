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


@pytest.fixture(scope="session")
def small_chart_dataset(tmp_path_factory):
    """One synthetic instrument with 28-pixel charts (a valid size, but below the compact
    backbone's minimum): about 30 decisions every 2 bars."""
    from tests.support.series import regime_switching_frame
    from training.dataset import build_dataset
    from training.dataset_config import DatasetConfig

    frame = regime_switching_frame(330, seed=5, segment=30)[0]
    config = DatasetConfig(symbols=("SYN",), horizon=5, window=5, stride=2, image_size=28)
    out = tmp_path_factory.mktemp("small_charts")
    return build_dataset(config, out, frames={"SYN": (frame, "index")}, progress=False)
