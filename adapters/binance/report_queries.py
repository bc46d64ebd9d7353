"""Which of the venue queries behind nautilus' execution reports failed.

nautilus 1.221's Binance report generators (`generate_order_status_reports`, `..._fill_reports`,
`..._position_status_reports`) log a venue error and answer with an empty list. Start-up
reconciliation then compares that partial picture with the venue's position and books the
difference on a position no strategy manages (INTERNAL-DIFF), as if it were real. `ReportQueries`
makes such an error visible to the execution client, which then asks again (see
`GuardedBinanceFuturesExecutionClient.generate_mass_status`).
"""

from collections.abc import Awaitable, Callable

from nautilus_trader.adapters.binance.http.error import BinanceError

# The account API's queries the three report generators make.
REPORT_QUERIES = (
    "query_open_orders",
    "query_all_orders",
    "query_user_trades",
    "query_futures_position_risk",
)


class ReportQueries:
    """Records the venue errors of `REPORT_QUERIES` on `account` (nautilus' Binance account HTTP
    API of one execution client) in `errors`, and lets them through unchanged."""

    def __init__(self, account) -> None:
        self.errors: list[BinanceError] = []
        for name in REPORT_QUERIES:
            setattr(account, name, self._recording(getattr(account, name)))

    def _recording(self, query: Callable[..., Awaitable]) -> Callable[..., Awaitable]:
        async def recording(*args, **kwargs):
            try:
                return await query(*args, **kwargs)
            except BinanceError as error:
                self.errors.append(error)
                raise

        return recording
