"""`bot dashboard` refuses to listen beyond loopback without a token from the environment, and
says what to do when it cannot listen at all."""

import socket

import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.app.dashboard.auth import TOKEN_ENV
from bot.core.errors import ConfigError


@pytest.mark.parametrize("token", [None, "short"])
def test_a_wide_bind_is_refused_without_a_long_enough_token(monkeypatch, token):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    if token:
        monkeypatch.setenv(TOKEN_ENV, token)

    result = CliRunner().invoke(app, ["dashboard", "--host", "0.0.0.0"])

    assert result.exit_code != 0
    assert f"set {TOKEN_ENV} to a secret of at least 16 characters" in result.output
    assert "Dashboard on" not in result.output
    if token:
        assert token not in result.output


def test_a_port_in_use_is_refused_with_what_to_do(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = CliRunner().invoke(
            app,
            ["--set", f"journal.path={tmp_path / 'j.sqlite'}", "dashboard", "--port", str(port)],
        )

    assert result.exit_code == ConfigError.exit_code, result.output
    assert f"The dashboard cannot listen on 127.0.0.1:{port}" in result.output
    assert "Pass another --port" in result.output
    assert "Dashboard on" not in result.output  # it never listened
