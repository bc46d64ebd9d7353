"""The fault plan shared by the fake venues: which requests fail, and how.

A plan is plain data that a test builds up front. The fakes consult it on every request, so a
test states its failure scenario in one place ("the 2nd klines call gets a 429 with
Retry-After: 1") and then asserts on what the client did about it.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HttpFault:
    """Answer matching requests with an HTTP error instead of the real response.

    The fault fires on the `nth` matching request (1-based) and the `times - 1` after it;
    `times=None` means every matching request from the `nth` on.
    """

    status: int
    path: str | None = None  # exact request path to match; None matches every path
    nth: int = 1
    times: int | None = 1
    retry_after: float | None = None  # seconds, sent as the Retry-After header

    def fires_on(self, count: int) -> bool:
        """Whether the `count`-th matching request (1-based) should fail."""
        if count < self.nth:
            return False
        return self.times is None or count < self.nth + self.times


@dataclass
class FaultPlan:
    """Every fault a fake should inject. Later venues' faults (rejects, partial fills, websocket
    drops, clock skew, listen-key expiry) join `http` here as fields of their own."""

    http: list[HttpFault] = field(default_factory=list)
    _seen: dict[int, int] = field(default_factory=dict, repr=False)

    def http_fault(self, path: str) -> HttpFault | None:
        """The fault to inject for one incoming request to `path`, counting it for every fault
        that matches the path; None when the request should succeed."""
        chosen = None
        for index, fault in enumerate(self.http):
            if fault.path is not None and fault.path != path:
                continue
            self._seen[index] = self._seen.get(index, 0) + 1
            if chosen is None and fault.fires_on(self._seen[index]):
                chosen = fault
        return chosen
