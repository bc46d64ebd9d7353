"""Failure fencing of a routed strategy (`FailureFence`): one whose code raises is flattened and
stopped, while the node and the other strategies keep running.

Its handlers run its code through `_guarded`: the exception becomes its `failure`, its weight and
target drop to 0 and it closes what it holds, pending orders included. A close refused (the
venue's minimum, a reject) is tried again on each new bar; it stops only once flat, so that the
closing fill still reaches its own ledger.
"""


class FailureFence:
    """Mixin of `RoutedStrategy`: it closes through the strategy's own orders, fills and order
    path (`_orders`, `_position`, `_submit_exact`), under the risk guard's `gate`."""

    def on_position_closed(self, event) -> None:
        if self.failure is not None:
            self._stop_when_flat()

    def _guarded(self, handler, *args) -> None:
        try:
            handler(*args)
        except Exception as exc:  # a failing strategy must not stop the node
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self.failure = f"{type(exc).__name__}: {exc}"
        self.weight = self.target = 0.0
        self.log.exception(f"{self.name} failed; flattening it, its capital stays in cash", exc)
        if not self.is_running:
            return  # failed while starting: nothing to flatten, nothing to stop
        self._flatten_failed()

    def _flatten_failed(self, price: float | None = None) -> None:
        # On the failure, then on each new bar until flat: a close refused (the venue's minimum,
        # a reject) is tried again. Halted or stale data: the position is the risk guard's.
        try:
            if self._instrument is not None and (self.gate is None or self.gate()):
                held = self._orders.expected(self._position)  # pending orders still fill
                if held != 0:
                    self._submit_exact(-held, f"{self.name} failed", price)
        except Exception as flatten_exc:
            self.log.exception(f"{self.name} could not flatten", flatten_exc)
        self._stop_when_flat()

    def _stop_when_flat(self) -> None:
        # Stopping only once flat keeps the closing fill visible to this strategy's ledger.
        open_positions = self.cache.positions_open(
            instrument_id=self.config.instrument_id, strategy_id=self.id
        )
        if not self._orders and not open_positions:
            self.stop()
