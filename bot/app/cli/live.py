"""`bot paper` and `bot live`: the routed portfolio on a venue, through `bot.engine.node`.

Both run the same node (router actor and eleven strategies) after the same pre-flight
(`bot.app.preflight`), print what they will trade, and run until SIGINT/SIGTERM (or `--duration-s`).

- `bot live` trades real money: it needs `--confirm-live` and keys in the environment.
- `bot paper --venue binance` runs on Binance's testnet (`venues.binance.testnet` is forced on;
  the URLs stay overridable). We chose the testnet over nautilus' sandbox execution client on
  live market data because the sandbox fills against quotes and trades only, never bars, while
  the strategies trade on bars; the testnet fills real orders through the same execution client,
  user stream and reconciliation as live, so paper exercises exactly the live path.
- `bot paper --venue alpaca` runs on Alpaca's paper endpoint (`venues.alpaca.trading_url`,
  paper by default); `bot live --venue alpaca` on the live endpoint (https://api.alpaca.markets)
  unless the URL is set explicitly. Either refuses the other's well-known endpoint, so paper can
  never trade real money by accident. Alpaca streams 1-minute bars, so `--bar` must be 1m there.
"""

import asyncio
from typing import Annotated

import typer

from adapters.alpaca.constants import LIVE_TRADING_URL, PAPER_TRADING_URL
from bot.app.monitoring import serve_metrics
from bot.app.preflight import format_summary, preflight
from bot.core.errors import ConfigError
from bot.core.settings import LoadedSettings
from bot.engine.node import VENUES, build_trading_node
from bot.engine.persistence import record_node_stopped
from bot.engine.risk import RiskGuard
from bot.engine.router import RouterActor
from bot.model.policy import load_policy

# How long a stopping node waits for in-flight orders to settle before it reports residual
# orders and positions: Binance acknowledges within a second, and an operator's Ctrl-C should
# return promptly.
STOP_SETTLE_S = 3.0

VenueOption = Annotated[str, typer.Option(help="binance or alpaca.")]
SymbolOption = Annotated[
    str | None,
    typer.Option(help="Venue symbol (default: BTCUSDT on Binance, AAPL on Alpaca; or BTC/USD)."),
]
BarOption = Annotated[str, typer.Option(help="Bar size: 1m 5m 15m 1h 4h 1d.")]
DurationOption = Annotated[
    float | None, typer.Option(help="Stop after this many seconds (default: until SIGINT).")
]
PolicyOption = Annotated[str | None, typer.Option(help="Router policy (default: router.policy).")]
WindowOption = Annotated[int | None, typer.Option(help="Bars between router decisions.")]
MetricsOption = Annotated[
    int | None, typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics.")
]


def paper(
    ctx: typer.Context,
    venue: VenueOption = "binance",
    symbol: SymbolOption = None,
    bar: BarOption = "1m",
    duration_s: DurationOption = None,
    policy: PolicyOption = None,
    window: WindowOption = None,
    metrics_port: MetricsOption = None,
) -> None:
    """Paper-trade on Binance's testnet or Alpaca's paper endpoint (real order flow, test funds;
    not the sandbox client, which fills on quotes only, never bars). Stops on SIGINT/SIGTERM."""
    _check_venue(venue)
    loaded = _settings(ctx, venue, "paper", policy, window)
    _trade(ctx, loaded, venue, "paper", symbol or _SYMBOLS[venue], bar, duration_s, metrics_port)


def live(
    ctx: typer.Context,
    venue: VenueOption = "binance",
    symbol: SymbolOption = None,
    bar: BarOption = "1m",
    confirm_live: Annotated[
        bool, typer.Option("--confirm-live", help="Confirm trading real money.")
    ] = False,
    duration_s: DurationOption = None,
    policy: PolicyOption = None,
    window: WindowOption = None,
    metrics_port: MetricsOption = None,
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
    loaded = _settings(ctx, venue, "live", policy, window)
    _trade(ctx, loaded, venue, "live", symbol or _SYMBOLS[venue], bar, duration_s, metrics_port)


_SYMBOLS = {"binance": "BTCUSDT", "alpaca": "AAPL"}
# Settings each mode forces per venue, and the endpoint each mode must never use.
_MODE_FLAGS = {
    ("binance", "paper"): {"venues.binance.testnet": True},
    ("binance", "live"): {},
    ("alpaca", "paper"): {},
    ("alpaca", "live"): {},
}
_ALPACA_URL = "venues.alpaca.trading_url"
_ALPACA_FORBIDDEN = {"paper": LIVE_TRADING_URL, "live": PAPER_TRADING_URL}


def _check_venue(venue: str) -> None:
    if venue not in VENUES:
        raise ConfigError(f"Unknown venue {venue!r}: use --venue {' or '.join(VENUES)}.")


def _settings(
    ctx: typer.Context, venue: str, mode: str, policy: str | None, window: int | None
) -> LoadedSettings:
    flags = {"router.policy": policy, "router.window": window, **_MODE_FLAGS[venue, mode]}
    loaded = ctx.find_root().obj.settings(**flags)
    if venue != "alpaca":
        return loaded
    if mode == "live" and loaded.sources[_ALPACA_URL] == "default":
        # The default URL is the paper one, so that nothing trades real money unasked.
        loaded = ctx.find_root().obj.settings(**flags, **{_ALPACA_URL: LIVE_TRADING_URL})
    url = loaded.settings.venues.alpaca.trading_url.rstrip("/")
    if url == _ALPACA_FORBIDDEN[mode]:
        other = "live" if mode == "paper" else "paper"
        raise ConfigError(
            f"`bot {mode} --venue alpaca` refuses {_ALPACA_URL} = {url}, Alpaca's {other} "
            f"endpoint. Nothing was done. Use `bot {other}`, or set {_ALPACA_URL} to the "
            f"{mode} endpoint."
        )
    return loaded


def _trade(
    ctx: typer.Context,
    loaded: LoadedSettings,
    venue: str,
    mode: str,
    symbol: str,
    bar: str,
    duration_s: float | None,
    metrics_port: int | None,
) -> None:
    settings, secrets = loaded.settings, loaded.secrets
    report = preflight(venue, settings, secrets, symbol)
    typer.echo(format_summary(report, settings, mode, bar))
    # Nautilus installs its SIGINT/SIGTERM handlers (which stop the node) only on a loop it is
    # given, from the main thread.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    node = build_trading_node(
        settings,
        secrets,
        venue=venue,
        symbol=symbol,
        bar=bar,
        run_id=ctx.find_root().obj.run_id,
        mode=mode,
        loop=loop,
        timeout_post_stop=STOP_SETTLE_S,
        load_policy=load_policy,
    )
    if duration_s is not None:
        loop.call_later(duration_s, node.stop)
    metrics = None
    try:
        if metrics_port:
            metrics = _serve_metrics(node, metrics_port)
        typer.echo(f"Starting the {mode} node; SIGINT (Ctrl-C) or SIGTERM stops it.")
        node.run()
    finally:
        node.dispose()
        if metrics is not None:
            metrics.shutdown()
    record_node_stopped(settings, ctx.find_root().obj.run_id)
    typer.echo(f"The {mode} node stopped.")


def _serve_metrics(node, port: int):
    router = next(a for a in node.trader.actors() if isinstance(a, RouterActor))
    guard = next(a for a in node.trader.actors() if isinstance(a, RiskGuard))
    try:
        server = serve_metrics(port, router, guard)
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port {port} cannot be served ({exc}); nothing was traded. Pick a free port."
        ) from None
    typer.echo(f"Metrics: http://127.0.0.1:{port}/metrics")
    return server
