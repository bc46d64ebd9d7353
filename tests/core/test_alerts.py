"""Alerts: the webhook notifier against a local HTTP receiver, and its failure modes."""

import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from bot.core.alerts import KILL_SWITCH, LogNotifier, WebhookNotifier, notifier
from bot.core.settings import Secrets
from tests.conftest import free_port
from tests.support.alert_receiver import alert_receiver


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict]]]:
    with alert_receiver() as served:
        yield served


def test_webhook_posts_each_alert_as_json(receiver) -> None:
    # Arrange
    url, received = receiver
    hook = WebhookNotifier(url)

    # Act
    hook.send(KILL_SWITCH, "drawdown 12% reached 10%", {"equity": 88_000.0})
    hook.send("stale_data", "no bar for 6 minutes")
    delivered = hook.flush(10)

    # Assert
    assert delivered
    assert [(r["kind"], r["message"]) for r in received] == [
        (KILL_SWITCH, "drawdown 12% reached 10%"),
        ("stale_data", "no bar for 6 minutes"),
    ]
    assert received[0]["details"] == {"equity": 88_000.0}
    assert received[0]["text"] == "[kill_switch] drawdown 12% reached 10%"
    assert received[0]["type"] == "application/json"


def test_a_dead_receiver_is_logged_without_the_url_and_never_raises() -> None:
    # Arrange
    url = f"http://127.0.0.1:{free_port()}/hook/secret-token-9"
    hook = WebhookNotifier(url, timeout_s=1.0)

    # Act
    with capture_logs() as logs:
        hook.send(KILL_SWITCH, "tripped")
        assert hook.flush(10)

    # Assert
    failures = [entry for entry in logs if entry["event"] == "alert not delivered"]
    assert len(failures) == 1
    assert "secret-token-9" not in json.dumps(logs, default=str)


def test_without_a_webhook_alerts_go_to_the_log() -> None:
    # Act
    chosen = notifier(Secrets())
    with capture_logs() as logs:
        chosen.send(KILL_SWITCH, "tripped", {"equity": 1.0})

    # Assert
    assert isinstance(chosen, LogNotifier)
    assert logs[0]["event"] == "ALERT" and logs[0]["kind"] == KILL_SWITCH


def test_a_configured_webhook_is_used(receiver) -> None:
    # Arrange
    url, received = receiver

    # Act
    chosen = notifier(Secrets(alert_webhook_url=SecretStr(url)))
    chosen.send("job_failed", "retrain failed")
    chosen.flush(10)

    # Assert
    assert isinstance(chosen, WebhookNotifier)
    assert [r["kind"] for r in received] == ["job_failed"]
