"""RouterWeights: packing, validation and serialisation."""

import pytest

from bot.core.errors import ConfigError
from strategies import strategy_names
from strategies.weights import RouterWeights, check_weights, decode, encode


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
    with pytest.raises(ConfigError, match=r"^the decision of policy 'broken' "):
        encode(weights, "broken", 0)


def test_weights_within_tolerance_of_one_pass():
    check_weights({"LongOnly": 0.5, "Cash": 0.5 + 1e-8}, what="router.weights")


def test_check_weights_names_the_setting_it_checks():
    with pytest.raises(ConfigError, match=r"^router\.weights sums to 0\.500000, not 1"):
        check_weights({"Cash": 0.5}, what="router.weights")


def test_unknown_names_are_refused_only_against_a_known_table():
    check_weights({"Foo": 1.0}, what="w")

    with pytest.raises(ConfigError, match=r"unknown strategies \['Foo'\]. Known strategies: MACr"):
        check_weights({"Foo": 1.0}, what="w", known=strategy_names())
