"""adapters/venues.py: the venue capability table, its look-up and its dispatch targets."""

import importlib
import inspect

import pytest

from adapters.venues import VENUES, venue
from bot.core.errors import ConfigError

DISPATCH = (("preflight_module", "preflight"), ("flatten_module", "flatten"))
DISPATCH += (("history_module", "download"),)


def test_an_unknown_venue_is_a_config_error_naming_the_known_ones():
    with pytest.raises(ConfigError) as caught:
        venue("kraken")

    assert "Unknown venue 'kraken'" in str(caught.value)
    assert all(name in str(caught.value) for name in VENUES)


@pytest.mark.parametrize("name", list(VENUES))
@pytest.mark.parametrize(("field", "function"), DISPATCH)
def test_each_dispatch_target_imports_and_takes_the_settings_first(name, field, function):
    module = getattr(venue(name), field)

    target = getattr(importlib.import_module(module), function)

    assert module.startswith(f"adapters.{name}.")
    assert list(inspect.signature(target).parameters)[:3] == ["settings", "secrets", "symbol"]


@pytest.mark.parametrize("name", list(VENUES))
def test_entries_are_keyed_by_their_name_and_their_modes_are_known(name):
    entry = venue(name)

    assert entry.name == name
    assert set(entry.forced) | set(entry.mode_endpoint) | set(entry.forbidden) <= {"paper", "live"}
    assert (entry.endpoint is None) == (not entry.forbidden and not entry.mode_endpoint)


def test_paper_on_binance_forces_the_testnet_and_alpaca_refuses_the_other_endpoint():
    assert venue("binance").forced["paper"] == {"venues.binance.testnet": True}
    assert venue("alpaca").forbidden["paper"] == "https://api.alpaca.markets"
    assert venue("alpaca").forbidden["live"] == "https://paper-api.alpaca.markets"
    assert (venue("binance").symbol, venue("alpaca").symbol) == ("BTCUSDT", "AAPL")
