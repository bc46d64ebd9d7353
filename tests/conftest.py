import os

import pytest
import structlog

# The machine is shared: keep numeric libraries to one thread in tests.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

try:
    import torch
except ImportError:  # the train extra is optional
    pass
else:
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _reset_structlog():
    # CLI tests configure structlog onto a stream that CliRunner closes afterwards.
    yield
    structlog.reset_defaults()
