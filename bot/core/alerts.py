"""Alerts for an operator: kill switch trips, fallback storms, refused models, stale data,
failed jobs, a venue's rate limit opening the circuit breaker, nodes that did not start.

A notifier takes `send(kind, message, details)` and never raises nor blocks its caller: the
trading node calls it from its event loop. `WebhookNotifier` POSTs one JSON object per alert
from a background thread, to a URL read from the environment only (`BOT_ALERT_WEBHOOK_URL`: such
URLs embed tokens, so they are secrets). Every alert is logged too, sent or not.

The JSON body: `{"kind", "message", "text", "details", "time"}`; `text` repeats the kind and
message in one line for chat webhooks (Slack, Mattermost) that read only that field.
"""

import json
import queue
import threading
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from bot.core.settings import Secrets

log = structlog.get_logger(__name__)

KILL_SWITCH = "kill_switch"
FALLBACK_STORM = "fallback_storm"
MODEL_REFUSED = "model_refused"  # a newly promoted registry model that does not load
STALE_DATA = "stale_data"
JOB_FAILED = "job_failed"
RATE_LIMIT = "rate_limit"  # a 429/418 opened the circuit breaker: orders stop for a while
START_FAILED = "start_failed"  # a paper or live node that did not start, after its retries


class Notifier(Protocol):
    def send(self, kind: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        """Queue one alert; returns at once and never raises."""
        ...


class LogNotifier:
    """Alerts as log lines only (no webhook configured)."""

    def send(self, kind: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        log.warning("ALERT", kind=kind, message=message, **dict(details or {}))


class WebhookNotifier:
    """POSTs each alert as JSON to `url` from a daemon thread (timeout `timeout_s` each);
    a failed delivery is logged, never raised. `flush` waits for the queue to drain."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._worker = threading.Thread(target=self._deliver, name="alerts", daemon=True)
        self._worker.start()

    def send(self, kind: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        LogNotifier().send(kind, message, details)
        body = {
            "kind": kind,
            "message": message,
            "text": f"[{kind}] {message}",
            "details": dict(details or {}),
            "time": datetime.now(UTC).isoformat(),
        }
        self._queue.put(json.dumps(body, default=str).encode())

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued alert was tried; False on timeout."""
        done = threading.Event()
        threading.Thread(target=lambda: (self._queue.join(), done.set()), daemon=True).start()
        return done.wait(timeout_s)

    def _deliver(self) -> None:
        while True:
            body = self._queue.get()
            try:
                request = urllib.request.Request(
                    self._url, body, {"Content-Type": "application/json"}, method="POST"
                )
                with urllib.request.urlopen(request, timeout=self._timeout_s):
                    pass
            except Exception as error:  # a dead receiver must not take anything else down
                # The URL is a secret: name only the failure.
                log.error("alert not delivered", error=type(error).__name__)
            finally:
                self._queue.task_done()


def notifier(secrets: Secrets) -> Notifier:
    """The webhook notifier when `BOT_ALERT_WEBHOOK_URL` is set, else alerts go to the log."""
    url = secrets.alert_webhook_url
    return WebhookNotifier(url.get_secret_value()) if url else LogNotifier()
