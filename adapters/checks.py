"""What every venue's pre-flight and flatten share: their results (`PreflightReport`,
`Flattened`), the clock-skew limit, and the summary printed before a node trades
(`format_summary`, the same for every venue).

Each venue's checks live beside its adapter (`adapters/<venue>/preflight.py`, `flatten.py`);
`adapters.venues` picks them by the venue's name.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.saved_meta import trained_bar_warning, trained_on
from bot.core.settings import Settings
from strategies import STRATEGIES

# Largest accepted |venue clock - local clock|. Binance's own guidance is to keep the skew well
# under recvWindow (5000 ms by default); 1000 ms leaves room for network latency on top.
CLOCK_SKEW_LIMIT_MS = 1000


@dataclass(frozen=True)
class PreflightReport:
    """What the pre-flight found at the venue."""

    venue: str  # e.g. "Binance testnet", "Alpaca paper"
    base_url: str
    market: str
    symbol: str
    quote_asset: str
    clock_skew_ms: int
    equity: float  # in the quote asset: futures margin balance, or spot quote balance
    notes: tuple[str, ...] = ()  # venue-specific lines for the summary


@dataclass(frozen=True)
class Flattened:
    """What a flatten did at the venue."""

    venue: str
    symbol: str
    cancelled: int
    closed_qty: float  # the signed quantity that was closed (0 when already flat)


def format_summary(
    report: PreflightReport,
    settings: Settings,
    mode: str,
    bar: str,
    kill_switch: Mapping[str, Any] | None = None,
    plugins: Sequence[str] = (),
) -> str:
    """What the node will trade and how much, printed before it starts. `kill_switch` is the
    state the node's risk guard saved (`bot.engine.node_state.saved_kill_switch`): a tripped one
    is restored at the start and keeps the node flat and halted, so the summary says so.
    `plugins`: the plug-in strategies the node runs beside the built-in ones."""
    router, risk = settings.router, settings.risk
    traded = [spec.name for spec in STRATEGIES] + list(plugins)
    names = ", ".join(traded)
    per_strategy = report.equity / len(traded)
    lines = [
        f"Pre-flight passed: {mode} trading on {report.venue} ({report.base_url})",
        f"  instrument   {report.symbol} {report.market} ({bar} bars)",
        *report.notes,
        f"  clock skew   {report.clock_skew_ms:+d} ms (limit ±{CLOCK_SKEW_LIMIT_MS} ms)",
        f"  equity       {report.equity:,.2f} {report.quote_asset} at the venue",
        f"  capital      the router splits the equity across {len(traded)} strategies "
        f"(uniform: {per_strategy:,.2f} {report.quote_asset} each)",
        f"  strategies   {names}",
        f"  router       policy {router.policy}, window {router.window} bars, "
        f"fallback {router.fallback}",
        f"  risk         max order notional {_limit(risk.max_order_notional)}, "
        f"max instrument notional {_limit(risk.max_instrument_notional)}, "
        f"{risk.max_orders_per_second} orders/s",
        f"               drawdown kill switch {risk.max_drawdown:.0%}, "
        f"daily loss limit {_limit(risk.daily_loss_limit, percent=True)}, "
        f"stale after {risk.stale_after_bars:g} bars",
    ]
    mismatch = trained_bar_warning(router.policy, trained_on(router.policy), bar)
    lines += [f"WARNING: {mismatch} Choose --policy for this market."] if mismatch else []
    lines += tripped_lines(kill_switch or {})
    return "\n".join(lines)


def tripped_lines(kill_switch: Mapping[str, Any]) -> list[str]:
    """What the summary says about a kill switch state that is tripped (nothing otherwise)."""
    if not kill_switch.get("reason"):
        return []
    return [
        f"KILL SWITCH TRIPPED at {kill_switch.get('tripped_at') or '?'}: {kill_switch['reason']}",
        "  The node starts flat and halted: it places no order until the switch is re-armed.",
        "  To re-arm: stop the node (Ctrl-C), run `bot risk reset --operator NAME`, start again.",
    ]


def _limit(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "off"
    return f"{value:.0%}" if percent else f"{value:,.2f}"
