"""RouterWeights: packing, validation and serialisation."""

import pytest

from bot.core.errors import StrategyError
from strategies.weights import RouterWeights, decode, encode


def test_encode_then_decode_round_trips():
    weights = {"MACross": 0.25, "Cash": 0.75}

    data = encode(weights, "uniform", 1_700_000_000_000_000_000)

    assert decode(data) == weights
    assert data.policy == "uniform"
    assert data.ts_event == data.ts_init == 1_700_000_000_000_000_000


def test_router_weights_survive_nautilus_serialisation():
    data = encode({"RSI": 1.0}, "single:RSI", 5)

    restored = RouterWeights.from_bytes(data.to_bytes())

    assert decode(restored) == {"RSI": 1.0} and restored.ts_event == 5


@pytest.mark.parametrize(
    "weights", [{"RSI": 0.5, "Cash": 0.4}, {"RSI": 1.5, "Cash": -0.5}, {"RSI": float("nan")}]
)
def test_encode_refuses_weights_that_are_not_a_capital_split(weights):
    with pytest.raises(StrategyError):
        encode(weights, "broken", 0)
