"""adapters/history_common.py: the one retry loop both history downloads use."""

import pytest

import adapters.history_common as history_common
from adapters.history_common import retrying


class Transient(Exception):
    pass


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(history_common.time, "sleep", slept.append)
    return slept


def _failing(times: int, error: Exception):
    calls = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return call, calls


def _wait(exc: Exception, attempt: int) -> float | None:
    return 0.5 * 2**attempt if isinstance(exc, Transient) else None


def test_transient_failures_are_retried_with_the_named_waits(waits):
    call, calls = _failing(2, Transient())

    assert retrying(call, 3, _wait, "test.retry") == "done"

    assert len(calls) == 3
    assert waits == [0.5, 1.0]


def test_the_last_failure_is_raised_once_retries_run_out(waits):
    call, calls = _failing(5, Transient())

    with pytest.raises(Transient):
        retrying(call, 2, _wait, "test.retry")

    assert len(calls) == 3
    assert waits == [0.5, 1.0]


def test_an_error_that_is_not_transient_is_raised_at_once(waits):
    call, calls = _failing(1, ValueError("no"))

    with pytest.raises(ValueError):
        retrying(call, 3, _wait, "test.retry")

    assert len(calls) == 1
    assert waits == []
