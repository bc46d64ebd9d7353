"""nautilus' Binance USDT-M futures execution client, fenced against the venue's faults.

What nautilus 1.221 does by itself, and what this client adds:
- Websocket drop: nautilus' websocket client reconnects and resubscribes by itself, but the
  user-data stream has no reconnect handler, so order events sent while it was down are lost.
  Added: after a reconnect, every open or in-flight order of this client is queried at the
  venue (`QueryOrder`), and nautilus reconciles what the venue reports, fills included.
- 5xx, timeout or a cut connection on submit: nautilus rejects the order on a 5xx (and
  retries it blindly when `max_retries` is set), although the venue may hold it. Added: the
  outcome stays unknown, so the order stays SUBMITTED until nautilus' in-flight check
  (`LiveExecEngineConfig.inflight_check_*`) learns from the venue what became of it; nautilus
  rejects it only once the venue's order query keeps answering "does not exist". A transport
  error already left the order SUBMITTED in nautilus; it is now logged as an unknown outcome.
- 429 / 418: nautilus rejects that order (it is not placed) and sends the next one whenever a
  strategy asks. Added: a `CircuitBreaker` fed by every submit's outcome; while it is open, new
  orders are denied here (OrderDenied) without a request to the venue. The breaker honours a
  Retry-After header when the error carries one; nautilus 1.221's HTTP client passes no response
  headers on (`HttpResponse.headers` is empty), so in practice the wait is the `[risk]` backoff:
  `backoff_initial_s` doubling per repeated 429, `ban_default_s` after a 418. Every 429/418 is
  logged with the venue's message and published as a `Throttled` event (`THROTTLE_TOPIC`), which
  the RiskGuard counts for the metrics and alerts on when it opened the breaker.
- A fill reported late or twice: when the user stream's fill comes after nautilus' in-flight
  check already booked the order as filled (an inferred fill under a trade id of its own), or
  the stream repeats a trade, nautilus 1.221 refuses the fill for the order but still applies it
  to the strategy's position, which then drifts from the venue's. Added: a fill the order can no
  longer take (a trade id it holds, more than its unfilled quantity, or a trade an order status
  report handed to the engine already covers) is dropped here, logged; an order status report
  waits for the engine to apply the stream's fills of the order passed on before
  (`adapters.fill_book`).
  The same test keeps the fill reports of start-up reconciliation to the fills not yet booked:
  nautilus would refuse the others anyway, with a warning each ("Duplicate TradeId", "overfill").
- A report query the venue fails at start-up (5xx, 429): nautilus answers it with an empty list
  and reconciles the rest, booking the difference to the venue's position on a position no
  strategy manages (INTERNAL-DIFF). Added: the reports are asked for again (`REPORT_ATTEMPTS`
  times, waiting as the breaker's backoff); when the venue keeps failing, reconciliation fails
  and the start-up watchdog retries the start (`bot.engine.startup`).
- Rejects (-2010 and the like) and partial fills: nautilus' own handling is right and kept.

Spot accounts keep nautilus' own client (`BinanceLiveExecClientFactory`).
"""

import asyncio
from collections.abc import Awaitable, Callable

from nautilus_trader.adapters.binance.common.urls import get_ws_base_url
from nautilus_trader.adapters.binance.config import BinanceExecClientConfig
from nautilus_trader.adapters.binance.factories import (
    BinanceLiveExecClientFactory,
    get_cached_binance_futures_instrument_provider,
    get_cached_binance_http_client,
)
from nautilus_trader.adapters.binance.futures.execution import BinanceFuturesExecutionClient
from nautilus_trader.adapters.binance.http.error import BinanceError, BinanceServerError
from nautilus_trader.adapters.binance.websocket.client import BinanceWebSocketClient
from nautilus_trader.config import PositiveFloat
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.messages import QueryOrder, SubmitOrder
from nautilus_trader.execution.reports import ExecutionMassStatus, FillReport

from adapters.binance.report_queries import ReportQueries
from adapters.fill_book import FillBook, ReportsAfterFills, unbooked
from bot.core.breaker import THROTTLE_STATUSES, THROTTLE_TOPIC, Backoff, CircuitBreaker, Throttled

BREAKER_REASON = "CIRCUIT_BREAKER"
REPORT_ATTEMPTS = 3  # of start-up reconciliation's reports, before reconciliation fails


class GuardedBinanceExecClientConfig(BinanceExecClientConfig, frozen=True):
    """nautilus' Binance execution config plus the circuit breaker's waits (see `Backoff`).

    Parameters
    ----------
    backoff_initial_s, backoff_max_s :
        Wait after a 429 without Retry-After, doubling per repeat up to the maximum.
    ban_default_s :
        Wait after a 418 (IP ban) without Retry-After.
    """

    backoff_initial_s: PositiveFloat = 1.0
    backoff_max_s: PositiveFloat = 300.0
    ban_default_s: PositiveFloat = 120.0

    @property
    def backoff(self) -> Backoff:
        """The breaker's waits."""
        return Backoff(self.backoff_initial_s, self.backoff_max_s, self.ban_default_s)


class OrderOutcomeUnknown(Exception):
    """The submit request may or may not have reached the venue (5xx, timeout, cut line)."""


class GuardedBinanceFuturesExecutionClient(ReportsAfterFills, BinanceFuturesExecutionClient):
    """`BinanceFuturesExecutionClient` with the fences in this module's docstring. `breaker`
    is the circuit breaker every submit feeds and consults."""

    def __init__(self, *args, breaker: CircuitBreaker, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.breaker = breaker
        self._fills = FillBook(self._cache.order)  # what the engine holds: no fill twice
        self._report_queries = ReportQueries(self._futures_http_account)
        self._submit_order_method = {
            order_type: self._fenced(send) for order_type, send in self._submit_order_method.items()
        }
        # The same user-data websocket nautilus builds, plus the reconnect handler it lacks.
        self._ws_client = BinanceWebSocketClient(
            clock=self._clock,
            handler=self._handle_user_ws_message,
            handler_reconnect=self._query_orders_after_reconnect,
            base_url=self._ws_client.url,
            loop=self._loop,
        )

    async def _submit_order(self, command: SubmitOrder) -> None:
        wait_s = self.breaker.wait_s(self._clock.utc_now())
        if wait_s > 0:
            order = command.order
            self.generate_order_denied(
                strategy_id=order.strategy_id,
                instrument_id=order.instrument_id,
                client_order_id=order.client_order_id,
                reason=f"{BREAKER_REASON}: the venue throttled us; {wait_s:.1f}s left",
                ts_event=self._clock.timestamp_ns(),
            )
            return
        try:
            await super()._submit_order(command)
        except OrderOutcomeUnknown as exc:
            self._log.warning(
                f"{command.order.client_order_id!r}: {exc}; it stays SUBMITTED until the "
                "in-flight check learns its state from the venue"
            )

    def generate_order_filled(self, *args, **kwargs) -> None:
        # The futures user stream passes every argument by name.
        order = self._cache.order(kwargs["client_order_id"])
        trade_id = kwargs["trade_id"]
        booked = self._fills.refusal(order, trade_id, kwargs["last_qty"])
        if booked:
            self._log.info(f"Not applying fill {trade_id} twice: {booked}")
            return
        super().generate_order_filled(*args, **kwargs)

    async def generate_mass_status(
        self, lookback_mins: int | None = None
    ) -> ExecutionMassStatus | None:
        backoff = self.breaker.backoff
        for attempt in range(1, REPORT_ATTEMPTS + 1):
            self._report_queries.errors.clear()
            status = await super().generate_mass_status(lookback_mins)
            failed = [f"HTTP {e.status}: {e.message}" for e in self._report_queries.errors]
            if status is not None and not failed:
                return status
            why = "; ".join(failed) or "the reports could not be built: see the error above"
            if attempt < REPORT_ATTEMPTS:
                wait = min(backoff.initial_s * 2 ** (attempt - 1), backoff.max_s)
                self._log.warning(
                    f"The venue failed a reconciliation report ({why}); asking again in "
                    f"{wait:g}s (attempt {attempt} of {REPORT_ATTEMPTS})"
                )
                await asyncio.sleep(wait)
        self._log.error(
            f"No complete reports from the venue in {REPORT_ATTEMPTS} attempts ({why}): "
            "reconciliation is refused rather than guessed"
        )
        return None

    async def generate_fill_reports(self, command) -> list[FillReport]:
        reports = await super().generate_fill_reports(command)
        return unbooked(reports, self._cache, self._log)

    def _fenced(self, send: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        async def fenced(*args) -> None:
            try:
                await send(*args)
            except BinanceServerError as exc:
                self.breaker.record(exc.status, self._clock.utc_now())
                raise OrderOutcomeUnknown(f"venue answered {exc.status}: {exc.message}") from exc
            except BinanceError as exc:
                now = self._clock.utc_now()
                opened = self.breaker.record(exc.status, now, _retry_after(exc))
                if exc.status in THROTTLE_STATUSES:
                    self._throttled(exc, opened, self.breaker.wait_s(now))
                raise  # a 4xx: the venue refused the order; nautilus rejects it
            except Exception as exc:
                # The request may have gone out before the line failed: never assume it did not.
                raise OrderOutcomeUnknown(f"no answer from the venue: {exc}") from exc
            self.breaker.record(200, self._clock.utc_now())

        return fenced

    def _throttled(self, exc: BinanceError, opened: bool, wait_s: float) -> None:
        state = f"circuit breaker OPEN for {wait_s:.1f}s" if opened else "breaker stays open"
        self._log.warning(f"Binance throttled an order (HTTP {exc.status}): {exc.message}; {state}")
        event = Throttled(self.venue.value, exc.status, str(exc.message), opened, wait_s)
        self._msgbus.publish(topic=THROTTLE_TOPIC, msg=event, external_pub=False)

    async def _query_orders_after_reconnect(self) -> None:
        orders = self._cache.orders_open(venue=self.venue)
        orders += self._cache.orders_inflight(venue=self.venue)
        unique = {order.client_order_id: order for order in orders}.values()
        self._log.warning(f"User stream reconnected: querying {len(unique)} order(s) at the venue")
        for order in unique:
            self.query_order(
                QueryOrder(
                    trader_id=order.trader_id,
                    strategy_id=order.strategy_id,
                    instrument_id=order.instrument_id,
                    client_order_id=order.client_order_id,
                    venue_order_id=order.venue_order_id,
                    command_id=UUID4(),
                    ts_init=self._clock.timestamp_ns(),
                )
            )


def _retry_after(error: BinanceError) -> str | None:
    headers = error.headers or {}
    return next((v for k, v in headers.items() if k.lower() == "retry-after"), None)


class GuardedBinanceLiveExecClientFactory(BinanceLiveExecClientFactory):
    """Builds `GuardedBinanceFuturesExecutionClient` for futures accounts, from the same cached
    HTTP client and instrument provider nautilus' factory uses; spot goes to nautilus' own."""

    @staticmethod
    def create(loop, name, config: GuardedBinanceExecClientConfig, msgbus, cache, clock):
        """A guarded futures execution client, or nautilus' own spot client."""
        if not config.account_type.is_futures:
            spot = BinanceLiveExecClientFactory.create(loop, name, config, msgbus, cache, clock)
            return _masking_the_key(spot)
        client = get_cached_binance_http_client(
            clock=clock,
            account_type=config.account_type,
            api_key=config.api_key,
            api_secret=config.api_secret,
            key_type=config.key_type,
            base_url=config.base_url_http,
            is_testnet=config.testnet,
            is_us=config.us,
        )
        provider = get_cached_binance_futures_instrument_provider(
            client=client,
            clock=clock,
            account_type=config.account_type,
            config=config.instrument_provider,
            venue=config.venue,
        )
        ws_url = config.base_url_ws or get_ws_base_url(
            account_type=config.account_type, is_testnet=config.testnet, is_us=config.us
        )
        futures = GuardedBinanceFuturesExecutionClient(
            loop=loop,
            client=client,
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=provider,
            base_url_ws=ws_url,
            account_type=config.account_type,
            name=name,
            config=config,
            breaker=CircuitBreaker(config.backoff),
        )
        return _masking_the_key(futures)


class _MaskedKey:
    """The HTTP client as the execution client sees it, with the API key masked: nautilus logs
    `api_key` in full at connect ("API key ... has trading permissions"), and reads it for
    nothing else (requests are signed with the client's own copy)."""

    def __init__(self, client) -> None:
        self._client = client

    @property
    def api_key(self) -> str:
        return f"...{self._client.api_key[-4:]}"

    def __getattr__(self, name: str):
        return getattr(self._client, name)


def _masking_the_key(execution):
    execution._http_client = _MaskedKey(execution._http_client)
    return execution
