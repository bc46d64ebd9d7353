"""`[persistence]` settings, the Redis cache config, the Redis check at start, and the
comparison of cache snapshots that the reconciliation audit journals."""

import pytest

from bot.core.errors import ConfigError, OperationalError
from bot.core.settings import PersistenceSettings
from bot.core.settings_loader import load_settings
from bot.engine.persistence import CacheSnapshot, cache_config, discrepancies, require_redis
from tests.conftest import RedisServer, free_port


def test_persistence_defaults_to_a_local_redis_and_reads_the_environment(tmp_path, monkeypatch):
    # Arrange
    monkeypatch.chdir(tmp_path)  # no config/default.toml here: built-in defaults only

    # Act
    defaults = load_settings(environ={}).settings.persistence
    moved = load_settings(environ={"BOT__PERSISTENCE__REDIS_PORT": "6380"}).settings.persistence

    # Assert
    assert (defaults.redis_host, defaults.redis_port) == ("localhost", 6379)
    assert defaults.trader_id is None
    assert (defaults.trader_for("paper"), defaults.trader_for("live")) == (
        "MMDREX-PAPER",
        "MMDREX-LIVE",
    )
    assert moved.redis_port == 6380


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("persistence.redis_url", "redis://x", "unknown key"),
        ("persistence.trader_id", "MMDREX", "pattern"),
        ("persistence.redis_port", 0, "greater than 0"),
    ],
)
def test_bad_persistence_settings_are_refused_naming_the_key(key, value, needle):
    # Act
    with pytest.raises(ConfigError) as info:
        load_settings(cli={key: value}, environ={})

    # Assert
    assert key in str(info.value) and needle in str(info.value)


def test_cache_config_keys_the_state_by_trader_id_not_by_process():
    # Act
    config = cache_config(PersistenceSettings(redis_host="db.internal", redis_port=6390))

    # Assert: a restarted process has a new instance id and must find the same keys.
    assert (config.database.type, config.database.host, config.database.port) == (
        "redis",
        "db.internal",
        6390,
    )
    assert config.use_trader_prefix and not config.use_instance_id
    assert not config.flush_on_start


def test_require_redis_refuses_an_unreachable_redis_saying_what_to_do():
    # Arrange
    port = free_port()

    # Act
    with pytest.raises(OperationalError) as info:
        require_redis(PersistenceSettings(redis_host="127.0.0.1", redis_port=port))

    # Assert
    message = str(info.value)
    assert f"127.0.0.1:{port} is not reachable" in message
    assert "redis-server" in message and "persistence.redis_port" in message
    assert info.value.exit_code == 7


def test_require_redis_passes_with_a_running_redis(redis_server: RedisServer):
    # Act / Assert: no error
    require_redis(PersistenceSettings(redis_host=redis_server.host, redis_port=redis_server.port))


def test_discrepancies_name_moved_positions_and_added_or_changed_orders():
    # Arrange
    before = CacheSnapshot(
        positions={"P-LongOnly": 0.2, "P-ShortOnly": -0.2},
        orders={"O-1": ("LongOnly-008", "FILLED", 0.2), "O-2": ("ShortOnly-009", "ACCEPTED", 0.0)},
    )
    after = CacheSnapshot(
        positions={"P-LongOnly": 0.2, "P-ShortOnly": -0.3, "P-EXTERNAL": 0.5},
        orders={
            "O-1": ("LongOnly-008", "FILLED", 0.2),
            "O-2": ("ShortOnly-009", "FILLED", 0.1),
            "fake-3": ("EXTERNAL", "FILLED", 0.5),
        },
    )

    # Act
    found = discrepancies(before, after)

    # Assert
    assert found == [
        {"what": "position", "position_id": "P-ShortOnly", "before": -0.2, "after": -0.3},
        {"what": "position", "position_id": "P-EXTERNAL", "before": 0.0, "after": 0.5},
        {
            "what": "order_changed",
            "client_order_id": "O-2",
            "strategy": "ShortOnly-009",
            "status_before": "ACCEPTED",
            "status_after": "FILLED",
            "filled_before": 0.0,
            "filled_after": 0.1,
        },
        {
            "what": "order_added",
            "client_order_id": "fake-3",
            "strategy": "EXTERNAL",
            "status": "FILLED",
            "filled_qty": 0.5,
        },
    ]
    assert discrepancies(after, after) == []
