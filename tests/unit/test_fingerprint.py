"""Price fingerprints recognise the same price moves under any name, and nothing else."""

import numpy as np
import pandas as pd
import pytest

from bot.fingerprint import SPAN, fingerprint, in_sample_warning, overlap


@pytest.fixture(scope="module")
def walk() -> pd.Series:
    steps = np.random.default_rng(3).normal(0.0, 0.01, 600)
    return pd.Series(100.0 * np.exp(np.cumsum(steps)))


def test_the_same_moves_match_whatever_the_price_level(walk):
    trained = fingerprint(walk)

    assert overlap(walk, trained) == 1.0
    assert overlap(walk * 3.7, trained) == 1.0  # another unit, or an adjusted copy


def test_other_moves_do_not_match(walk):
    other = pd.Series(100.0 * np.exp(np.cumsum(np.random.default_rng(4).normal(0, 0.01, 600))))

    assert overlap(other, fingerprint(walk)) == 0.0


def test_the_share_counts_only_the_overlapping_part(walk):
    trained = fingerprint(walk[:300])

    share = overlap(walk[200:], trained)

    # Runs of SPAN returns wholly inside bars 200..299 match; those reaching past do not.
    assert share == pytest.approx((100 - SPAN) / (400 - SPAN), abs=0.01)


def test_flat_stretches_never_match():
    flat = pd.Series(np.full(50, 10.0))

    assert len(fingerprint(flat)) == 0
    assert overlap(flat, fingerprint(flat)) == 0.0


def test_a_checkpoint_flags_runs_on_its_training_prices(walk, tmp_path):
    np.save(tmp_path / "fingerprint.npy", fingerprint(walk[:400]))

    warning = in_sample_warning(tmp_path, walk[300:])

    assert warning is not None and warning.startswith("IN-SAMPLE") and "fingerprint" in warning
    assert in_sample_warning(tmp_path, walk[400:]) is None
    assert in_sample_warning(tmp_path / "elsewhere", walk) is None  # no fingerprint: no claim
