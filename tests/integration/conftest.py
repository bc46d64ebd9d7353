"""The live-node fixtures of `tests.integration.binance_node`, for every integration test."""

from tests.integration.binance_node import (  # noqa: F401 (fixtures, found by name)
    binance,
    faults,
    journal_path,
    node,
    overrides,
)
