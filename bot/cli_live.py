"""`bot paper` and `bot live`: the routed portfolio on a venue, through `bot.node`.

Both run the same node (router actor and eleven strategies) after the same pre-flight
(`bot.preflight`), print what they will trade, and run until SIGINT/SIGTERM (or `--duration-s`).

- `bot live` trades real money: it needs `--confirm-live` and keys in the environment.
- `bot paper --venue binance` runs on Binance's testnet (`venues.binance.testnet` is forced on;
  the URLs stay overridable). We chose the testnet over nautilus' sandbox execution client on
  live market data because the sandbox fills against quotes and trades only, never bars, while
  the strategies trade on bars; the testnet fills real orders through the same execution client,
  user stream and reconciliation as live, so paper exercises exactly the live path.
- Alpaca has no node yet: `--venue alpaca` says so (exit 64).
"""

import asyncio
from typing import Annotated

import typer

from bot.errors import ConfigError, NotBuiltError
from bot.node import build_trading_node
from bot.preflight import binance_preflight, format_summary
from bot.settings import LoadedSettings

# How long a stopping node waits for in-flight orders to settle before it reports residual
# orders and positions: Binance acknowledges within a second, and an operator's Ctrl-C should
# return promptly.
STOP_SETTLE_S = 3.0

VenueOption = Annotated[str, typer.Option(help="binance (alpaca comes next).")]
SymbolOption = Annotated[str, typer.Option(help="Venue symbol, e.g. BTCUSDT.")]
BarOption = Annotated[str, typer.Option(help="Bar size: 1m 5m 15m 1h 4h 1d.")]
DurationOption = Annotated[
    float | None, typer.Option(help="Stop after this many seconds (default: until SIGINT).")
]
PolicyOption = Annotated[str | None, typer.Option(help="Router policy (default: router.policy).")]
WindowOption = Annotated[int | None, typer.Option(help="Bars between router decisions.")]


def paper(
    ctx: typer.Context,
    venue: VenueOption = "binance",
    symbol: SymbolOption = "BTCUSDT",
    bar: BarOption = "1m",
    duration_s: DurationOption = None,
    policy: PolicyOption = None,
    window: WindowOption = None,
) -> None:
    """Paper-trade on Binance's testnet (real order flow, test funds; not the sandbox client,
    which fills on quotes only, never bars). Stops on SIGINT/SIGTERM."""
    _check_venue(venue)
    loaded = _settings(ctx, policy, window, testnet=True)
    _trade(ctx, loaded, "paper", symbol, bar, duration_s)


def live(
    ctx: typer.Context,
    venue: VenueOption = "binance",
    symbol: SymbolOption = "BTCUSDT",
    bar: BarOption = "1m",
    confirm_live: Annotated[
        bool, typer.Option("--confirm-live", help="Confirm trading real money.")
    ] = False,
    duration_s: DurationOption = None,
    policy: PolicyOption = None,
    window: WindowOption = None,
) -> None:
    """Trade live with real money (needs --confirm-live and keys in the environment). Runs a
    pre-flight (venue, clock skew, account, instrument, risk limits), prints what it will trade
    and how much, then runs until SIGINT/SIGTERM."""
    _check_venue(venue)
    if not confirm_live:
        raise ConfigError(
            "`bot live` trades real money and needs explicit confirmation. Nothing was done. "
            "Re-run with --confirm-live, or use `bot paper` to trade on the testnet."
        )
    loaded = _settings(ctx, policy, window)
    _trade(ctx, loaded, "live", symbol, bar, duration_s)


def _check_venue(venue: str) -> None:
    if venue == "alpaca":
        raise NotBuiltError(
            "The Alpaca adapter is not built yet; it comes next. Nothing was done. "
            "Use --venue binance today."
        )
    if venue != "binance":
        raise ConfigError(f"Unknown venue {venue!r}: use --venue binance.")


def _settings(
    ctx: typer.Context, policy: str | None, window: int | None, testnet: bool | None = None
) -> LoadedSettings:
    flags = {"router.policy": policy, "router.window": window, "venues.binance.testnet": testnet}
    return ctx.find_root().obj.settings(**flags)


def _trade(
    ctx: typer.Context,
    loaded: LoadedSettings,
    mode: str,
    symbol: str,
    bar: str,
    duration_s: float | None,
) -> None:
    settings, secrets = loaded.settings, loaded.secrets
    report = binance_preflight(settings.venues.binance, secrets, symbol)
    typer.echo(format_summary(report, settings, mode, bar))
    # Nautilus installs its SIGINT/SIGTERM handlers (which stop the node) only on a loop it is
    # given, from the main thread.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    node = build_trading_node(
        settings,
        secrets,
        symbol=symbol,
        bar=bar,
        run_id=ctx.find_root().obj.run_id,
        loop=loop,
        timeout_post_stop=STOP_SETTLE_S,
    )
    if duration_s is not None:
        loop.call_later(duration_s, node.stop)
    typer.echo(f"Starting the {mode} node; SIGINT (Ctrl-C) or SIGTERM stops it.")
    try:
        node.run()
    finally:
        node.dispose()
    typer.echo(f"The {mode} node stopped.")
