from datetime import UTC, datetime, timedelta

import pytest
from nautilus_trader.model.identifiers import InstrumentId

from bot.core.errors import ConfigError
from bot.core.settings import RiskSettings
from bot.core.settings_loader import load_settings
from bot.engine.risk import risk_engine_config
from bot.engine.risk_rules import KillSwitch, StaleDataWatchdog, notional_breach, reduces_only

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


# -- settings -------------------------------------------------------------------------------


def test_risk_settings_load_from_toml_and_env(tmp_path):
    path = tmp_path / "bot.toml"
    path.write_text("[risk]\nmax_order_notional = 5000.0\nmax_drawdown = 0.1\n")

    loaded = load_settings(path, environ={"BOT__RISK__DAILY_LOSS_LIMIT": "0.03"})

    assert loaded.settings.risk.max_order_notional == 5000.0
    assert loaded.settings.risk.max_drawdown == 0.1
    assert loaded.settings.risk.daily_loss_limit == 0.03
    assert loaded.sources["risk.daily_loss_limit"] == "env:BOT__RISK__DAILY_LOSS_LIMIT"


def test_shipped_default_toml_has_a_valid_risk_section():
    loaded = load_settings(environ={})

    assert loaded.sources["risk.max_orders_per_second"].startswith("file:")
    assert 0 < loaded.settings.risk.max_drawdown < 1
    # The live limits are the operator's to set: the shipped file leaves them out, so a
    # `bot live` from it refuses until they are chosen (paper keeps the 0.25 default).
    for key in ("max_order_notional", "max_instrument_notional", "max_drawdown"):
        assert loaded.sources[f"risk.{key}"] == "default"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[risk]\nmax_drawdown = 1.5\n", "risk.max_drawdown"),
        ("[risk]\nmax_drawdown = 0\n", "risk.max_drawdown"),
        ("[risk]\nmax_order_notional = -1\n", "risk.max_order_notional"),
        ("[risk]\nmax_orders_per_second = 0\n", "risk.max_orders_per_second"),
        ("[risk]\nbackoff_initial_s = 600.0\n", "backoff_initial_s=600.0 exceeds"),
        (
            "[risk]\nmax_order_notional = 10.0\nmax_instrument_notional = 5.0\n",
            "max_order_notional exceeds",
        ),
        ("[risk]\nkill = true\n", "risk.kill"),
    ],
)
def test_invalid_risk_settings_are_refused_with_the_key(tmp_path, text, needle):
    path = tmp_path / "bot.toml"
    path.write_text(text)

    with pytest.raises(ConfigError, match="Invalid configuration") as err:
        load_settings(path, environ={})

    assert needle in str(err.value)


# -- nautilus RiskEngineConfig --------------------------------------------------------------


def test_risk_engine_config_maps_rate_and_notional_per_instrument():
    risk = RiskSettings(max_order_notional=2500.9, max_orders_per_second=7)
    ids = [InstrumentId.from_str("AAPL.SIM"), "BTCUSDT.SIM"]

    config = risk_engine_config(risk, ids)

    assert config.max_order_submit_rate == "7/00:00:01"
    assert config.max_notional_per_order == {"AAPL.SIM": 2500, "BTCUSDT.SIM": 2500}
    assert config.bypass is False


def test_risk_engine_config_without_notional_limit_sets_none():
    config = risk_engine_config(RiskSettings(), [InstrumentId.from_str("AAPL.SIM")])

    assert config.max_notional_per_order == {}


def test_notional_breach_checks_order_then_instrument():
    risk = RiskSettings(max_order_notional=1000.0, max_instrument_notional=3000.0)

    assert notional_breach(risk, 999.0, 2999.0) is None
    assert "max_order_notional" in notional_breach(risk, -1001.0, 0.0)
    assert "max_instrument_notional" in notional_breach(risk, 500.0, -3500.0)
    assert notional_breach(RiskSettings(), 1e12, 1e12) is None


def test_an_order_that_only_reduces_the_position_is_never_refused_by_the_notional_limits():
    risk = RiskSettings(max_order_notional=1000.0, max_instrument_notional=3000.0)

    assert notional_breach(risk, 5000.0, 0.0, reducing=True) is None
    assert notional_breach(risk, 5000.0, 4000.0, reducing=True) is None
    assert "max_order_notional" in notional_breach(risk, 5000.0, 0.0, reducing=False)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (2.0, 0.0, True),  # a close
        (-2.0, -0.5, True),  # a cut
        (1.18317, 1.18317 - 0.59523 - 0.58794, True),  # a close summed in floats: flat
        (2.0, -0.5, False),  # a flip, however small
        (2.0, 2.5, False),  # an add
        (0.0, 1.0, False),  # an open
        (0.0, 0.0, False),  # nothing held
    ],
)
def test_reduces_only_means_toward_flat_and_never_past_it(before, after, expected):
    assert reduces_only(before, after) is expected


# -- kill switch ----------------------------------------------------------------------------


def test_kill_switch_trips_at_max_drawdown_from_the_peak_and_stays_tripped():
    switch = KillSwitch(max_drawdown=0.2)
    switch.update(T0, 100.0)
    switch.update(T0 + timedelta(days=1), 150.0)

    assert switch.update(T0 + timedelta(days=2), 121.0) is False  # 19.3% below 150
    assert switch.update(T0 + timedelta(days=3), 120.0) is True  # exactly 20%
    assert switch.tripped
    assert "max_drawdown" in switch.reason
    assert switch.update(T0 + timedelta(days=4), 500.0) is False  # recovery does not re-arm
    assert switch.tripped


def test_kill_switch_daily_loss_limit_uses_the_utc_days_first_equity():
    switch = KillSwitch(max_drawdown=0.5, daily_loss_limit=0.05)
    switch.update(T0, 100.0)
    switch.update(T0 + timedelta(hours=1), 96.0)  # -4% intraday
    next_day = datetime(2024, 3, 5, 0, 1, tzinfo=UTC)

    assert switch.update(next_day, 92.0) is False  # a new day starts at 92
    assert switch.update(next_day + timedelta(hours=1), 87.5) is False  # -4.9% of 92
    assert switch.update(next_day + timedelta(hours=2), 87.0) is True  # -5.4% of 92
    assert "daily_loss_limit" in switch.reason


def test_kill_switch_reset_needs_an_operator_and_rearms_from_the_next_equity():
    switch = KillSwitch(max_drawdown=0.1)
    switch.update(T0, 100.0)
    switch.update(T0 + timedelta(hours=1), 80.0)

    with pytest.raises(ConfigError, match="operator"):
        switch.reset("  ")
    switch.reset("alice")

    assert not switch.tripped
    assert switch.update(T0 + timedelta(hours=2), 80.0) is False  # new peak: 80
    assert switch.update(T0 + timedelta(hours=3), 71.0) is True


def test_kill_switch_state_round_trips_and_a_trip_survives_a_restart():
    switch = KillSwitch(max_drawdown=0.1)
    switch.update(T0, 100.0)
    switch.update(T0 + timedelta(hours=1), 85.0)
    restarted = KillSwitch(max_drawdown=0.1)

    restarted.restore(switch.state())

    assert restarted.state() == switch.state()
    assert restarted.tripped
    assert restarted.update(T0 + timedelta(hours=2), 200.0) is False
    with pytest.raises(ValueError, match="unknown"):
        restarted.restore({"peek": 1.0})


def test_kill_switch_refuses_naive_times_and_bad_limits():
    with pytest.raises(ConfigError):
        KillSwitch(max_drawdown=1.0)
    with pytest.raises(ValueError, match="timezone"):
        KillSwitch(max_drawdown=0.1).update(datetime(2024, 1, 1), 1.0)  # noqa: DTZ001


# -- stale data watchdog --------------------------------------------------------------------


def test_watchdog_blocks_before_the_first_bar_and_after_stale_after():
    watchdog = StaleDataWatchdog(timedelta(minutes=5))

    assert not watchdog.allows(T0)
    watchdog.on_bar(T0)
    assert watchdog.allows(T0 + timedelta(minutes=5))
    assert not watchdog.allows(T0 + timedelta(minutes=5, seconds=1))
    watchdog.on_bar(T0 - timedelta(minutes=1))  # a late, older bar does not refresh it
    assert not watchdog.allows(T0 + timedelta(minutes=6))
    watchdog.on_bar(T0 + timedelta(minutes=6))
    assert watchdog.allows(T0 + timedelta(minutes=6))
