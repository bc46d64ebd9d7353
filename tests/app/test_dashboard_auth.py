"""`bot dashboard` refuses to listen beyond loopback without a token from the environment."""

import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.app.dashboard.auth import TOKEN_ENV


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
