"""The Alpaca execution client: orders over the trading REST API, their events from the
`trade_updates` websocket, account state from `/v2/account`, and reports for reconciliation.

- Fills arrive only through `trade_updates` (like Binance's user stream): the REST answer to a
  submit acknowledges the order, it never fills it.
- Trade updates missed while the stream was down are not replayed by Alpaca, so every
  reconnect re-queries the open and in-flight orders and reconciles them from order status
  reports (the execution engine infers the fills that were missed).
- A fill is the venue's cumulative filled quantity less what the engine holds or still has
  queued, and is dropped when it repeats a trade; a re-query's report waits for the queued
  fills of its order (`adapters.fill_book`), so no trade is booked twice.
- A submit that fails with 5xx or a lost connection has an unknown outcome: the order is
  re-queried after a pause instead of being assumed rejected. A re-query takes an order Alpaca
  lacks for lost only once its submit has answered (a reconnect's re-query may come first).
- US equity orders are denied while the market is closed (`/v2/clock`): the node keeps running
  and the strategies try again on the next bar. Crypto trades around the clock.
- The account is a MARGIN account with leverage 1 (a cash account cannot short equities); its
  balance is the venue's equity minus the unrealised PnL of its positions, because nautilus adds
  that PnL back from its own positions.
- The account state is asked for after every fill and reconnect, and again after a pause when
  Alpaca fails it: else the balance would miss the fill's realised PnL until the next fill.
- 429s: alpaca-py retries a 429 or 504 by itself, 3 times 3 s apart, and says nothing. A
  response hook on its session sees each one first: logged with Alpaca's message and published
  as a `Throttled` event (counted in the metrics).
"""

import asyncio
from datetime import timedelta

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import GetOrdersRequest
from nautilus_trader.core.datetime import dt_to_unix_nanos
from nautilus_trader.execution.messages import (
    CancelAllOrders,
    CancelOrder,
    GenerateFillReports,
    GenerateOrderStatusReport,
    GenerateOrderStatusReports,
    GeneratePositionStatusReports,
    SubmitOrder,
)
from nautilus_trader.execution.reports import FillReport, OrderStatusReport, PositionStatusReport
from nautilus_trader.live.execution_client import LiveExecutionClient
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.enums import AccountType, LiquiditySide, OmsType, OrderSide, OrderStatus
from nautilus_trader.model.identifiers import AccountId, ClientOrderId, TradeId, VenueOrderId
from nautilus_trader.model.instruments import Equity, Instrument
from nautilus_trader.model.objects import AccountBalance, Money, Price, Quantity
from nautilus_trader.model.orders import Order

from adapters.alpaca.activities import fill_activities
from adapters.alpaca.clock_stream import MarketClock, TradeUpdates
from adapters.alpaca.config import AlpacaExecClientConfig, ClientParts
from adapters.alpaca.constants import ALPACA, ALPACA_VENUE
from adapters.alpaca.orders import orders_in_window
from adapters.alpaca.reports import fill_report, order_report, order_request, position_report, value
from adapters.fill_book import FillBook, ReportsAfterFills, unbooked
from bot.core.breaker import THROTTLE_STATUSES, THROTTLE_TOPIC, Throttled

UNKNOWN_OUTCOME_RECHECK_S = 2.0  # how long to wait before re-querying an unanswered submit
ACCOUNT_RETRY_S = (1.0, 2.0, 4.0)  # waits before asking again for an account state Alpaca failed
_REFUSED = (400, 403, 404, 422)  # the venue looked at the order and said no


class AlpacaExecutionClient(ReportsAfterFills, LiveExecutionClient):
    """Order entry and order events at Alpaca for the configured instruments."""

    def __init__(self, parts: ClientParts, config: AlpacaExecClientConfig) -> None:
        super().__init__(
            **parts.nautilus_kwargs(),
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN,
            base_currency=USD,
            config=config,
        )
        self._client = parts.rest
        self._fills = FillBook(self._cache.order)  # what the engine holds: no fill twice
        parts.rest._session.hooks["response"].append(self._saw_response)  # off the event loop
        self._market = MarketClock(parts.rest, timedelta(seconds=config.clock_ttl_s))
        keys = (config.api_key, config.secret_key)
        self._stream = TradeUpdates(
            *keys, paper=config.paper, url_override=config.stream_url, on_connect=self._connected
        )
        self._stream.subscribe_trade_updates(self._on_trade_update)  # not running yet: safe
        self._stream_task: asyncio.Task | None = None
        self._stream_up = asyncio.Event()
        self._submitting: set[ClientOrderId] = set()  # submits whose request has not returned
        self.stream_connections = 0  # trade_updates connections so far (reconnects are > 1)

    def _saw_response(self, response: requests.Response, *args, **kwargs) -> None:
        if response.status_code in THROTTLE_STATUSES:
            event = Throttled(ALPACA, response.status_code, response.text)
            self._loop.call_soon_threadsafe(self._throttled, event, response.request.path_url)

    def _throttled(self, event: Throttled, path: str) -> None:
        self._log.warning(f"Alpaca throttled {path} (HTTP {event.status}): {event.message}")
        self._msgbus.publish(topic=THROTTLE_TOPIC, msg=event, external_pub=False)

    # -- connection --------------------------------------------------------------------------

    async def _connect(self) -> None:
        await self._instrument_provider.initialize()
        account = await asyncio.to_thread(self._client.get_account)
        self._set_account_id(AccountId(f"{ALPACA}-{account.account_number}"))
        await self._update_account_state()
        self._stream_task = self._loop.create_task(self._stream._run_forever())
        # Orders must not go out before their updates can arrive.
        await asyncio.wait_for(self._stream_up.wait(), timeout=30)
        await self._await_account_registered()

    async def _disconnect(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            await asyncio.gather(self._stream_task, return_exceptions=True)
            self._stream_task = None
        await self._stream.close()

    def _connected(self) -> None:
        self.stream_connections += 1
        self._stream_up.set()
        if self.stream_connections > 1:
            self._log.warning(
                "trade_updates reconnected: re-querying open orders (Alpaca does not replay "
                "the updates missed while disconnected)"
            )
            self.create_task(self._requery(self._unsettled()))
            self.create_task(self._refresh_account())

    async def _refresh_account(self) -> None:
        # After a fill or a reconnect: a failed request would leave the balance without the
        # fill's realised PnL (the strategies size from it) until the next fill.
        for wait_s in ACCOUNT_RETRY_S:
            try:
                await self._update_account_state()
                return
            except (APIError, requests.RequestException) as exc:
                self._log.warning(f"Alpaca failed the account state ({exc}); again in {wait_s:g}s")
                await asyncio.sleep(wait_s)
        await self._update_account_state()

    async def _update_account_state(self) -> None:
        account = await asyncio.to_thread(self._client.get_account)
        positions = await asyncio.to_thread(self._client.get_all_positions)
        unrealised = sum(float(p.unrealized_pl or 0) for p in positions)
        total = Money(float(account.equity) - unrealised, USD)
        balance = AccountBalance(total=total, locked=Money(0, USD), free=total)
        self.generate_account_state([balance], [], True, self._clock.timestamp_ns())

    # -- commands ----------------------------------------------------------------------------

    async def _submit_order(self, command: SubmitOrder) -> None:
        order = command.order
        instrument = self._cache.instrument(order.instrument_id)
        now = self._clock.timestamp_ns()
        if isinstance(instrument, Equity) and not await self._market.is_open(self._clock.utc_now()):
            reason = "the US equity market is closed (Alpaca /v2/clock); orders resume at the open"
            self.generate_order_denied(
                order.strategy_id, order.instrument_id, order.client_order_id, reason, now
            )
            return
        try:
            request = order_request(order, instrument)
        except ValueError as exc:
            self.generate_order_denied(
                order.strategy_id, order.instrument_id, order.client_order_id, str(exc), now
            )
            return
        self.generate_order_submitted(
            order.strategy_id, order.instrument_id, order.client_order_id, now
        )
        self._submitting.add(order.client_order_id)
        try:
            answer = await asyncio.to_thread(self._client.submit_order, request)
        except APIError as exc:
            if exc.status_code in _REFUSED:
                self._reject(order, f"Alpaca refused the order (HTTP {exc.status_code}): {exc}")
                return
            self._unknown_outcome(order, f"HTTP {exc.status_code}")
            return
        except requests.RequestException as exc:
            self._unknown_outcome(order, type(exc).__name__)
            return
        finally:
            self._submitting.discard(order.client_order_id)
        self._accept(order.client_order_id, str(answer.id), self._clock.timestamp_ns())

    async def _cancel_order(self, command: CancelOrder) -> None:
        order = self._cache.order(command.client_order_id)
        if order is not None:
            await self._cancel(order)

    async def _cancel_all_orders(self, command: CancelAllOrders) -> None:
        # Alpaca's DELETE /v2/orders cancels the whole account's orders, other symbols and
        # other tools included: cancel this instrument's orders one by one instead.
        for order in self._cache.orders_open(instrument_id=command.instrument_id):
            if command.order_side in (OrderSide.NO_ORDER_SIDE, order.side):
                await self._cancel(order)

    async def _cancel(self, order: Order) -> None:
        if order.venue_order_id is None:
            self._cancel_rejected(order, "the order is not acknowledged by Alpaca yet")
            return
        try:
            await asyncio.to_thread(self._client.cancel_order_by_id, order.venue_order_id.value)
        except APIError as exc:  # the canceled event itself comes on trade_updates
            self._cancel_rejected(order, f"HTTP {exc.status_code}: {exc}")

    # -- trade updates -----------------------------------------------------------------------

    async def _on_trade_update(self, update: TradeUpdate) -> None:
        order = self._cache.order(ClientOrderId(update.order.client_order_id))
        if order is None:
            self._log.info(f"Ignoring a trade update for an order of another client: {update}")
            return
        event = value(update.event)
        ts = dt_to_unix_nanos(update.timestamp)
        if order.is_closed:
            return  # already settled, e.g. by a re-query after a reconnect
        if event in ("new", "accepted", "pending_new"):
            self._accept(order.client_order_id, str(update.order.id), ts)
        elif event in ("fill", "partial_fill"):
            self._accept(order.client_order_id, str(update.order.id), ts)
            self._fill(order, update, ts)
        elif event == "rejected":
            self._reject(order, f"Alpaca rejected the order ({value(update.order.status)})")
        elif event in ("canceled", "expired", "done_for_day"):
            self._close(order, event, ts)

    def _accept(self, client_order_id: ClientOrderId, venue_order_id: str, ts: int) -> None:
        # The REST answer and the stream's `new` race; whichever comes first acknowledges.
        order = self._cache.order(client_order_id)
        if order.status == OrderStatus.SUBMITTED:
            venue_id = VenueOrderId(venue_order_id)
            self.generate_order_accepted(
                order.strategy_id, order.instrument_id, client_order_id, venue_id, ts
            )

    def _fill(self, order: Order, update: TradeUpdate, ts: int) -> None:
        trade_id = TradeId(str(update.execution_id))
        instrument = self._cache.instrument(order.instrument_id)
        # From the venue's cumulative filled quantity, so that rounding a fill to the size
        # precision can never over- or under-fill the order in total; less the fills handed to
        # the engine and still in its queue, as well as those it applied.
        filled = Quantity(float(update.order.filled_qty or 0), instrument.size_precision)
        last = filled.as_decimal() - self._fills.booked(order)
        if last <= 0:
            return
        last_qty = Quantity(float(last), instrument.size_precision)
        booked = self._fills.refusal(order, trade_id, last_qty)
        if booked:
            self._log.info(f"Not applying fill {trade_id} twice: {booked}")
            return
        self.generate_order_filled(
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            venue_order_id=VenueOrderId(str(update.order.id)),
            venue_position_id=None,
            trade_id=trade_id,
            order_side=order.side,
            order_type=order.order_type,
            last_qty=last_qty,
            last_px=Price(update.price, instrument.price_precision),
            quote_currency=instrument.quote_currency,
            commission=Money(0, instrument.quote_currency),
            liquidity_side=LiquiditySide.TAKER,
            ts_event=ts,
        )
        self.create_task(self._refresh_account())

    def _close(self, order: Order, event: str, ts: int) -> None:
        canceled = event == "canceled"
        generate = self.generate_order_canceled if canceled else self.generate_order_expired
        ids = (order.strategy_id, order.instrument_id, order.client_order_id, order.venue_order_id)
        generate(*ids, ts)

    def _reject(self, order: Order, reason: str) -> None:
        self.generate_order_rejected(
            order.strategy_id,
            order.instrument_id,
            order.client_order_id,
            reason,
            self._clock.timestamp_ns(),
        )

    def _cancel_rejected(self, order: Order, reason: str) -> None:
        self.generate_order_cancel_rejected(
            order.strategy_id,
            order.instrument_id,
            order.client_order_id,
            order.venue_order_id,
            reason,
            self._clock.timestamp_ns(),
        )

    # -- re-queries --------------------------------------------------------------------------

    def _unsettled(self) -> list[Order]:
        orders = self._cache.orders_open(venue=ALPACA_VENUE)
        orders += self._cache.orders_inflight(venue=ALPACA_VENUE)
        return list({order.client_order_id: order for order in orders}.values())

    def _unknown_outcome(self, order: Order, why: str) -> None:
        self._log.warning(
            f"Submit of {order.client_order_id} got no clear answer ({why}): the order may be at "
            f"Alpaca; re-querying it in {UNKNOWN_OUTCOME_RECHECK_S:g}s"
        )
        self.create_task(self._requery([order], delay_s=UNKNOWN_OUTCOME_RECHECK_S))

    async def _requery(self, orders: list[Order], delay_s: float = 0.0) -> None:
        await asyncio.sleep(delay_s)
        for order in orders:
            # Alpaca lacks an order whose submit is still going (alpaca-py retries a 429 after
            # 3 s): only a submit answered before the query is lost when Alpaca lacks it.
            answered = order.client_order_id not in self._submitting
            venue_order = await self._fetch_order(order.client_order_id)
            current = self._cache.order(order.client_order_id)
            if venue_order is None and answered and current.status == OrderStatus.SUBMITTED:
                self._reject(current, "Alpaca has no such order: the unanswered submit was lost")
            elif venue_order is not None and not current.is_closed:
                report = self._order_report(venue_order)
                if report is not None:
                    self._send_order_status_report(report)

    async def _fetch_order(self, client_order_id: ClientOrderId) -> AlpacaOrder | None:
        try:
            return await asyncio.to_thread(
                self._client.get_order_by_client_id, client_order_id.value
            )
        except APIError as exc:
            if exc.status_code == 404:
                return None
            raise

    # -- reports -----------------------------------------------------------------------------

    async def generate_order_status_report(
        self, command: GenerateOrderStatusReport
    ) -> OrderStatusReport | None:
        if command.client_order_id is not None:
            venue_order = await self._fetch_order(command.client_order_id)
        else:
            venue_order = await asyncio.to_thread(
                self._client.get_order_by_id, command.venue_order_id.value
            )
        return None if venue_order is None else self._order_report(venue_order)

    async def generate_order_status_reports(
        self, command: GenerateOrderStatusReports
    ) -> list[OrderStatusReport]:
        request = GetOrdersRequest(
            status=QueryOrderStatus.OPEN if command.open_only else QueryOrderStatus.ALL,
            after=command.start,
            until=command.end,
            symbols=[command.instrument_id.symbol.value] if command.instrument_id else None,
        )
        orders = await asyncio.to_thread(orders_in_window, self._client, request)
        reports = [self._order_report(order) for order in orders]
        return [report for report in reports if report is not None]

    async def generate_fill_reports(self, command: GenerateFillReports) -> list[FillReport]:
        rows = await asyncio.to_thread(fill_activities, self._client, command.start)
        reports = []
        for row in rows:
            instrument = self._instrument(row["symbol"])
            if instrument is None or command.instrument_id not in (None, instrument.id):
                continue
            if command.venue_order_id not in (None, VenueOrderId(str(row["order_id"]))):
                continue
            reports.append(
                fill_report(self.account_id, instrument, row, self._clock.timestamp_ns())
            )
        return unbooked(reports, self._cache, self._log)

    async def generate_position_status_reports(
        self, command: GeneratePositionStatusReports
    ) -> list[PositionStatusReport]:
        positions = await asyncio.to_thread(self._client.get_all_positions)
        reports = []
        for position in positions:
            instrument = self._instrument(position.symbol)
            if instrument is not None and command.instrument_id in (None, instrument.id):
                ts = self._clock.timestamp_ns()
                reports.append(position_report(self.account_id, instrument, position, ts))
        return reports

    def _order_report(self, venue_order: AlpacaOrder) -> OrderStatusReport | None:
        instrument = self._instrument(venue_order.symbol)
        if instrument is None:
            return None  # another symbol of the account: not this node's business
        return order_report(self.account_id, instrument, venue_order, self._clock.timestamp_ns())

    def _instrument(self, symbol: str) -> Instrument | None:
        return self._instrument_provider.by_position_symbol(symbol)
