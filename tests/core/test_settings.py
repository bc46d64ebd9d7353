from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.core.settings_loader import effective_items, load_settings, parse_assignment


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(text)
    return path


def test_defaults_apply_without_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    loaded = load_settings(environ={})

    assert loaded.settings.router.window == 20
    assert loaded.settings.backtest.fee_bps == 10.0
    assert loaded.sources["router.window"] == "default"


def test_precedence_cli_over_env_over_file_over_default(tmp_path):
    path = _write(tmp_path, "[router]\nwindow = 30\nseed = 7\n[backtest]\ncapital = 5e4\n")
    env = {"BOT__ROUTER__WINDOW": "40", "BOT__ROUTER__SEED": "8"}

    loaded = load_settings(path, cli={"router.window": 50}, environ=env)

    assert loaded.settings.router.window == 50
    assert loaded.sources["router.window"] == "cli"
    assert loaded.settings.router.seed == 8
    assert loaded.sources["router.seed"] == "env:BOT__ROUTER__SEED"
    assert loaded.settings.backtest.capital == 50_000.0
    assert loaded.sources["backtest.capital"] == f"file:{path}"
    assert loaded.settings.backtest.years == 10
    assert loaded.sources["backtest.years"] == "default"


def test_env_lists_parse_as_json(tmp_path):
    loaded = load_settings(environ={"BOT__BACKTEST__SYMBOLS": '["SPX", "IXIC"]'})

    assert loaded.settings.backtest.symbols == ("SPX", "IXIC")


def test_settings_are_frozen():
    loaded = load_settings(environ={})

    with pytest.raises(Exception, match="frozen"):
        loaded.settings.router.window = 3


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[router]\nwindoww = 3\n", ["router.windoww", "unknown key", "bot.toml"]),
        ('[router]\nwindow = "soon"\n', ["router.window", "valid integer", "soon", "bot.toml"]),
        ("[router\nwindow = 3\n", ["not valid TOML", "bot.toml"]),
        ("[nonsense]\nx = 1\n", ["nonsense", "unknown key"]),
        ('[router]\npolicy = "fixed"\n', ["router.weights"]),
    ],
)
def test_malformed_file_names_file_key_and_reason(tmp_path, text, needles):
    path = _write(tmp_path, text)

    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})

    for needle in needles:
        assert needle in str(info.value)


def test_a_directory_or_binary_config_file_is_a_config_error(tmp_path):
    binary = tmp_path / "bot.toml"
    binary.write_bytes(bytes([0xBA, 0xFF, 0x00, 0x81]))

    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path, environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(binary, environ={})


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("backtest.capital", "inf", "finite number"),
        ("backtest.capital", "1e14", "less than or equal to 1000000000000"),
        ("backtest.slippage_bps", "1e9", "less than or equal to 1000"),
        ("backtest.fee_bps", "nan", "finite number"),
        ("router.seed", "-1", "greater than or equal to 0"),
    ],
)
def test_values_no_run_could_use_are_refused_at_load(key, value, needle):
    with pytest.raises(ConfigError) as info:
        load_settings(environ={f"BOT__{key.upper().replace('.', '__')}": value})

    assert key in str(info.value) and needle in str(info.value)


@pytest.mark.parametrize(
    ("cli", "environ", "needles"),
    [
        ({}, {"BOT__SECRETS__BINANCE_API_KEY": "abc"}, ["BOT__ variables", "BINANCE_API_KEY"]),
        ({"secrets.binance_api_key": "abc"}, {}, ["flags or --set", "BINANCE_API_KEY"]),
        ({"foo.bar": 1}, {}, ["`foo` from cli: unknown key"]),
        ({}, {"BOT__NOSUCH__X": "3"}, ["`nosuch` from env:BOT__NOSUCH__X: unknown key"]),
    ],
    ids=["secret-env", "secret-flag", "unknown-section-flag", "unknown-section-env"],
)
def test_overrides_name_their_source_and_secrets_stay_in_their_variables(cli, environ, needles):
    with pytest.raises(ConfigError) as info:
        load_settings(cli=cli, environ=environ)

    for needle in needles:
        assert needle in str(info.value)
    assert "abc" not in str(info.value)


def test_a_check_across_keys_does_not_print_the_whole_section():
    with pytest.raises(ConfigError) as info:
        load_settings(cli={"router.policy": "fixed"}, environ={})

    assert "needs router.weights" in str(info.value) and "(got {" not in str(info.value)


def test_missing_file_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_secret_in_file_is_refused(tmp_path):
    path = _write(tmp_path, '[venues.alpaca]\napi_key = "abc"\n')

    with pytest.raises(ConfigError, match="looks like a secret"):
        load_settings(path, environ={})


def test_secrets_come_from_env_and_are_redacted():
    env = {"APCA_API_KEY_ID": "AKXYZ-supersecret", "BINANCE_API_SECRET": "b1n-secret"}

    loaded = load_settings(environ=env)
    shown = "\n".join(f"{k} {v} {s}" for k, v, s in effective_items(loaded))

    assert loaded.secrets.require("alpaca_api_key") == "AKXYZ-supersecret"
    assert "supersecret" not in shown and "b1n-secret" not in shown
    assert "secrets.alpaca_api_key **********" in shown
    assert "secrets.alpaca_secret_key (not set)" in shown
    assert "supersecret" not in repr(loaded.secrets)


def test_a_blank_secret_is_not_set_and_blanks_around_one_are_dropped():
    loaded = load_settings(environ={"BINANCE_API_KEY": "  \n", "BINANCE_API_SECRET": " s3cret\n"})

    with pytest.raises(ConfigError, match="BINANCE_API_KEY"):
        loaded.secrets.require("binance_api_key")
    assert loaded.secrets.require("binance_api_secret") == "s3cret"


def test_missing_secret_names_the_variable():
    loaded = load_settings(environ={})

    with pytest.raises(ConfigError, match="BINANCE_API_KEY"):
        loaded.secrets.require("binance_api_key")


def test_set_assignment_parses_json_values():
    assert parse_assignment("router.window=30") == ("router.window", 30)
    assert parse_assignment("router.policy=single:LongOnly") == ("router.policy", "single:LongOnly")
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignment("router.window")
