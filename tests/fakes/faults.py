"""The fault plan shared by the fake venues: which requests fail, and how.

A plan is plain data that a test builds up front. The fakes consult it on every request, order
and websocket connection, so a test states its failure scenario in one place ("the 2nd klines
call gets a 429 with Retry-After: 1", "orders for AAPL are rejected", "the user stream drops
after 3 events") and then asserts on what the client did about it.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class _Counted:
    """Fires on the `nth` matching event (1-based) and the `times - 1` after it; `times=None`
    means every matching event from the `nth` on."""

    nth: int = 1
    times: int | None = 1

    def fires_on(self, count: int) -> bool:
        """Whether the `count`-th matching event (1-based) is hit."""
        if count < self.nth:
            return False
        return self.times is None or count < self.nth + self.times


@dataclass(frozen=True)
class HttpFault(_Counted):
    """Answer matching requests with an HTTP error instead of the real response."""

    status: int
    path: str | None = None  # exact request path to match; None matches every path
    retry_after: float | None = None  # seconds, sent as the Retry-After header


@dataclass(frozen=True)
class OrderReject(_Counted):
    """Refuse matching orders. Counted over the orders for `symbol` (all symbols when None).

    `after_accept=False` refuses the submit request itself (Alpaca 403, Binance 400 with
    `code`); `True` accepts the order and then reports it rejected on the order stream."""

    symbol: str | None = None
    reason: str = "insufficient balance"
    code: int = -2010  # Binance error code of a refused submit
    after_accept: bool = False


@dataclass(frozen=True)
class PartialFill(_Counted):
    """Fill only `fraction` of a matching market order at once; the rest fills on the next
    price update."""

    fraction: float = 0.5
    symbol: str | None = None


@dataclass(frozen=True)
class LostResponse(_Counted):
    """Accept a matching order at the venue but lose the answer: wait `delay_s` seconds, then
    answer with `status` (an error status) when set, else with the normal response; with
    neither, cut the connection without any answer. Counted over all order submits."""

    delay_s: float | None = None
    status: int | None = None


@dataclass(frozen=True)
class WsDrop(_Counted):
    """Cut matching websocket connections without a close frame after `after` data messages.
    Counted over connections to `path` (every websocket path when None)."""

    after: int = 1
    path: str | None = None


@dataclass(frozen=True)
class DelayedFill(_Counted):
    """Report a matching fill on the user stream `delay_s` seconds late (the venue books it at
    once). Counted over fill events of every order."""

    delay_s: float = 2.0


@dataclass(frozen=True)
class DuplicatedFill(_Counted):
    """Report a matching fill on the user stream twice: the same execution report, the same
    trade id. Counted over fill events of every order."""


@dataclass
class FaultPlan:
    """Every fault a fake should inject.

    `clock_skew_ms` shifts the venue's clock (Binance `serverTime`, and the `recvWindow` check
    of signed requests, which then fail with -1021). `listen_key_ttl_s` expires Binance listen
    keys that long after their last keep-alive."""

    http: list[HttpFault] = field(default_factory=list)
    rejects: list[OrderReject] = field(default_factory=list)
    partial_fills: list[PartialFill] = field(default_factory=list)
    lost_responses: list[LostResponse] = field(default_factory=list)
    ws_drops: list[WsDrop] = field(default_factory=list)
    delayed_fills: list[DelayedFill] = field(default_factory=list)
    duplicated_fills: list[DuplicatedFill] = field(default_factory=list)
    clock_skew_ms: int = 0
    listen_key_ttl_s: float | None = None
    _seen: dict[tuple[str, int], int] = field(default_factory=dict, repr=False)

    def http_fault(self, path: str) -> HttpFault | None:
        """The fault to inject for one incoming request to `path`, counting it for every fault
        that matches the path; None when the request should succeed."""
        return self._first("http", self.http, lambda fault: fault.path in (None, path))

    def reject(self, symbol: str) -> OrderReject | None:
        """The reject rule for one submitted order for `symbol`, if any."""
        return self._first("reject", self.rejects, lambda rule: rule.symbol in (None, symbol))

    def partial_fill(self, symbol: str) -> PartialFill | None:
        """The partial-fill rule for one market order for `symbol`, if any."""
        rules = self.partial_fills
        return self._first("partial", rules, lambda rule: rule.symbol in (None, symbol))

    def lost_response(self) -> LostResponse | None:
        """The lost-response rule for one accepted order submit, if any."""
        return self._first("lost", self.lost_responses, lambda rule: True)

    def ws_drop(self, path: str) -> WsDrop | None:
        """The drop rule for one new websocket connection to `path`, if any."""
        return self._first("ws", self.ws_drops, lambda rule: rule.path in (None, path))

    def delayed_fill(self) -> DelayedFill | None:
        """The delay rule for one fill reported on a user stream, if any."""
        return self._first("delayed", self.delayed_fills, lambda rule: True)

    def duplicated_fill(self) -> DuplicatedFill | None:
        """The duplication rule for one fill reported on a user stream, if any."""
        return self._first("duplicated", self.duplicated_fills, lambda rule: True)

    def _first(self, kind: str, rules: list, matches) -> object | None:
        # Every matching rule counts the event, so later rules keep their own `nth`.
        chosen = None
        for index, rule in enumerate(rules):
            if not matches(rule):
                continue
            key = (kind, index)
            self._seen[key] = self._seen.get(key, 0) + 1
            if chosen is None and rule.fires_on(self._seen[key]):
                chosen = rule
        return chosen
