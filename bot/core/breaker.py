"""Circuit breaker for a venue's rate-limit (HTTP 429) and IP-ban (HTTP 418) responses.

Pure: the caller passes the time and each response's status and Retry-After. The live Binance
execution client (`adapters.binance.execution`) feeds it every order request's outcome and
denies new orders while it is open.

`Throttled` is what a venue client publishes on the message bus (`THROTTLE_TOPIC`) for every
429/418 it sees, with the venue's own words; the RiskGuard counts them for the metrics and
alerts when a breaker opens.
"""

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.settings import RiskSettings


def aware(now: datetime) -> datetime:
    """`now` itself; ValueError when it has no timezone (risk controls take UTC datetimes)."""
    if now.tzinfo is None:
        raise ValueError(f"{now!r} has no timezone; risk controls take UTC datetimes")
    return now


THROTTLE_TOPIC = "bot.throttled"
THROTTLE_STATUSES = (418, 429)


@dataclass(frozen=True)
class Throttled:
    """One 429/418 answer of a venue: `message` is the venue's body or error text, `opened`
    True when it opened a circuit breaker that stops orders for `wait_s` seconds."""

    venue: str
    status: int
    message: str
    opened: bool = False
    wait_s: float = 0.0


@dataclass(frozen=True)
class Backoff:
    """Waits of a circuit breaker, in seconds."""

    initial_s: float = 1.0
    max_s: float = 300.0
    ban_default_s: float = 120.0

    @classmethod
    def from_settings(cls, risk: RiskSettings) -> "Backoff":
        """The `[risk]` backoff keys."""
        return cls(risk.backoff_initial_s, risk.backoff_max_s, risk.ban_default_s)


class CircuitBreaker:
    """Stops requests to a venue after HTTP 429 (rate limit) or 418 (IP ban).

    A response's Retry-After (seconds or an HTTP date) is honoured; without one, 429s back off
    exponentially and a 418 waits `ban_default_s`. The breaker never closes earlier than a wait
    already imposed, so a later, shorter Retry-After cannot end a ban early (no ban loop).
    """

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.open_until: datetime | None = None
        self.strikes = 0  # consecutive throttling responses without a success between them

    def allows(self, now: datetime) -> bool:
        """True when a request may be sent at `now`."""
        return self.open_until is None or aware(now) >= self.open_until

    def wait_s(self, now: datetime) -> float:
        """Seconds until a request may be sent (0 when closed)."""
        if self.allows(now):
            return 0.0
        return (self.open_until - now).total_seconds()

    def record(self, status: int, now: datetime, retry_after: str | float | None = None) -> bool:
        """Feed one HTTP response status; only 418 and 429 open the breaker. True when this
        response opened it (it allowed requests before and does not now)."""
        aware(now)
        if status not in THROTTLE_STATUSES:
            if status < 400:
                self.strikes = 0
            return False
        was_closed = self.allows(now)
        wait = _retry_after_s(retry_after, now)
        if wait is None:
            ramp = self.backoff.initial_s * 2.0**self.strikes
            wait = self.backoff.ban_default_s if status == 418 else min(ramp, self.backoff.max_s)
        self.strikes += 1
        until = now + timedelta(seconds=wait)
        if self.open_until is None or until > self.open_until:
            self.open_until = until
        return was_closed and not self.allows(now)


def _retry_after_s(value: str | float | None, now: datetime) -> float | None:
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None  # unreadable header: fall back to our own backoff
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
