"""Layers: the virtual position state of the paper's algorithms."""

import pytest

from strategies.layers import Layers, first_rule


@pytest.mark.parametrize(("side", "beyond"), [(1, 97.9), (-1, 102.1)])
def test_placed_stop_stays_until_placed_again(side, beyond):
    layers = Layers(max_layers=3)
    layers.open(side, 100.0, bar=0, layers=2)

    layers.place_stop(2.0)

    assert layers.stop == 100.0 - side * 2.0
    assert not layers.stopped(100.0 - side * 1.9)
    assert layers.stopped(beyond)
    layers.add(100.0 + side * 3.0, bar=1)  # the average entry moves, the stop does not
    assert layers.stop == 100.0 - side * 2.0
    layers.place_stop(2.0)
    assert layers.stop == pytest.approx(100.0 - side * 1.0)  # average 100 + side, less 2


def test_no_stop_before_one_is_placed_or_after_the_close():
    layers = Layers(max_layers=3)
    layers.open(1, 100.0, bar=0)

    assert not layers.stopped(1.0)
    layers.place_stop(1.0)
    layers.close()
    assert not layers.stopped(1.0)


def test_each_change_records_its_rule_and_a_no_op_keeps_the_last():
    layers = Layers(max_layers=2)

    layers.open(1, 100.0, bar=0, reason="golden cross")
    assert layers.reason == "golden cross"
    layers.add(101.0, bar=1, reason="MA divergence")
    layers.add(102.0, bar=2, reason="never added")  # at max_layers: nothing changes
    assert layers.reason == "MA divergence"
    layers.close(reason="ATR stop")
    assert (layers.side, layers.reason) == (0, "ATR stop")


def test_first_rule_names_the_first_condition_that_holds():
    assert first_rule(("stop", False), ("exit band", True), ("late", True)) == "exit band"
    assert first_rule(("stop", False)) is None
