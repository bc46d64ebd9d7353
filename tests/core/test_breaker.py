from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from bot.core.breaker import Backoff, CircuitBreaker
from bot.core.settings import RiskSettings

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


def test_429_without_retry_after_backs_off_exponentially_up_to_the_cap():
    breaker = CircuitBreaker(Backoff(initial_s=1.0, max_s=5.0))
    waits = []
    now = T0
    for _ in range(5):
        breaker.record(429, now)
        waits.append(breaker.wait_s(now))
        now = breaker.open_until

    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_success_resets_the_backoff():
    breaker = CircuitBreaker(Backoff(initial_s=1.0, max_s=60.0))
    breaker.record(429, T0)
    breaker.record(429, T0 + timedelta(seconds=1))
    later = T0 + timedelta(seconds=10)

    breaker.record(200, later)
    breaker.record(429, later)

    assert breaker.wait_s(later) == 1.0


def test_retry_after_seconds_and_http_date_are_honoured():
    breaker = CircuitBreaker(Backoff())
    breaker.record(429, T0, retry_after="17")
    assert breaker.wait_s(T0) == 17.0

    other = CircuitBreaker(Backoff())
    other.record(429, T0, retry_after=format_datetime(T0 + timedelta(seconds=42), usegmt=True))
    assert other.wait_s(T0) == 42.0
    assert not other.allows(T0 + timedelta(seconds=41))
    assert other.allows(T0 + timedelta(seconds=42))


def test_418_ban_is_never_shortened_by_a_later_429():
    breaker = CircuitBreaker(Backoff(initial_s=1.0, ban_default_s=120.0))
    breaker.record(418, T0)
    soon = T0 + timedelta(seconds=5)

    breaker.record(429, soon, retry_after="1")

    assert breaker.open_until == T0 + timedelta(seconds=120)
    assert not breaker.allows(T0 + timedelta(seconds=119))
    assert breaker.allows(T0 + timedelta(seconds=120))


def test_418_with_retry_after_waits_that_long_and_other_errors_do_not_open():
    breaker = CircuitBreaker(Backoff(ban_default_s=120.0))
    breaker.record(500, T0)
    assert breaker.allows(T0)

    breaker.record(418, T0, retry_after=600)

    assert breaker.wait_s(T0) == 600.0


def test_unreadable_retry_after_falls_back_to_backoff():
    breaker = CircuitBreaker(Backoff(initial_s=3.0))

    breaker.record(429, T0, retry_after="soon-ish")

    assert breaker.wait_s(T0) == 3.0


def test_backoff_from_settings():
    risk = RiskSettings(backoff_initial_s=2.0, backoff_max_s=9.0, ban_default_s=30.0)

    assert Backoff.from_settings(risk) == Backoff(2.0, 9.0, 30.0)


def test_record_says_when_a_response_opened_the_breaker() -> None:
    breaker = CircuitBreaker(Backoff(initial_s=1.0))
    assert breaker.record(429, T0) is True  # closed -> open: the moment to alert
    assert breaker.record(429, T0 + timedelta(seconds=0.5)) is False  # already open
    assert breaker.record(200, T0 + timedelta(seconds=5)) is False
    assert breaker.record(418, T0 + timedelta(seconds=5)) is True
