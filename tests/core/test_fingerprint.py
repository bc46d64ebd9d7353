"""Price fingerprints recognise the same price moves under any name, and nothing else."""

import numpy as np
import pandas as pd
import pytest

from bot.core.fingerprint import (
    SPAN,
    fingerprint,
    in_sample_warning,
    out_of_sample_start,
    out_of_sample_warning,
    overlap,
)


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


def _split(first: str, last: str) -> dict:
    return {"first_decision": first, "last_decision": last, "last_bar_used": last}


def test_a_symbol_is_out_of_sample_after_what_the_checkpoint_learned_from_it(walk, tmp_path):
    """Calendar cuts can leave a symbol without a test split (it ended before the test date)
    or without train and validation (it began after them): the in-sample span is what the
    train and validation splits read, whichever exist."""
    both = {"train": _split("2001-01-01", "2005-01-01"), "val": _split("2005-06-01", "2007-01-01")}
    ended = {"train": both["train"]}
    late = {"test": _split("2016-05-02", "2020-01-01")}
    day = pd.Timestamp

    assert out_of_sample_start(both | {"test": _split("2008-01-02", "2009-01-01")}) == day(
        "2007-01-02"
    )
    assert out_of_sample_start(both) == day("2007-01-02")
    assert out_of_sample_start(ended) == day("2005-01-02")
    assert out_of_sample_start(late) is None
    warning = out_of_sample_warning(tmp_path, "X", ended, day("2004-06-01"), walk)
    assert warning.startswith("IN-SAMPLE") and "from 2001-01-01 to 2005-01-01" in warning
    assert out_of_sample_warning(tmp_path, "X", ended, day("2005-01-02"), walk) is None
    # Learned nothing from it by name: only the fingerprint can tell.
    np.save(tmp_path / "fingerprint.npy", fingerprint(walk))
    assert "fingerprint" in out_of_sample_warning(tmp_path, "X", late, day("2016-01-01"), walk)
