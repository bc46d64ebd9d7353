"""`bot paper` and `bot live`: the routed portfolio on a venue, through `bot.engine.node`.

Both run the same node (router actor and eleven strategies) after the venue's pre-flight
(`adapters.venues`), print what they will trade, and run until SIGINT/SIGTERM (or `--duration-s`).
What each mode forces or refuses at a venue is data in the venue table (`adapters.venues`).

- `bot live` trades real money: it needs `--confirm-live`, keys in the environment, and the
  live safety limits (`LIVE_LIMITS`: per-order and per-instrument notional, a drawdown kill switch
  set explicitly); it refuses a MODEL MISMATCH unless `--accept-model-mismatch` is given. Both
  refusals come before the venue is asked anything. `bot paper` needs none of them.
- Paper and live nodes use different trader ids unless `[persistence] trader_id` is set, so
  they keep different state in Redis.
- `bot paper --venue binance` runs on Binance's testnet (`venues.binance.testnet` is forced on;
  the URLs stay overridable); `bot live --venue binance` on production unless `testnet` is set,
  and it refuses `testnet = true`. We chose the testnet over nautilus' sandbox execution client on
  live market data because the sandbox fills against quotes and trades only, never bars, while
  the strategies trade on bars; the testnet fills real orders through the same execution client,
  user stream and reconciliation as live, so paper exercises exactly the live path.
- `bot paper --venue alpaca` runs on Alpaca's paper endpoint (`venues.alpaca.trading_url`,
  paper by default); `bot live --venue alpaca` on the live endpoint (https://api.alpaca.markets)
  unless the URL is set explicitly. Either refuses the other's well-known endpoint, so paper can
  never trade real money by accident. Alpaca streams 1-minute bars, so `--bar` must be 1m there.
"""

import asyncio
import signal
from functools import partial, reduce
from typing import Annotated

import typer

from adapters.checks import format_summary
from adapters.venues import Venue, flatten, preflight
from adapters.venues import venue as venue_named
from bot.app.cli.options import PolicyOption
from bot.app.monitoring import serve_metrics
from bot.core.bars import bar_interval
from bot.core.errors import ConfigError
from bot.core.saved_meta import trained_bar_warning, trained_on
from bot.core.settings_loader import LoadedSettings
from bot.engine.node import build_trading_node
from bot.engine.node_state import saved_kill_switch
from bot.engine.persistence import record_node_stopped
from bot.engine.policy import PolicySpec, check_policy, policy_plugins
from bot.engine.registry import REGISTRY_POLICY
from bot.engine.risk import RiskGuard
from bot.engine.router import RouterActor
from bot.engine.startup import (
    NODE_RUNNING_EVENT,
    Attempt,
    StartupWatch,
    record_event,
    start_with_retries,
)
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
WindowOption = Annotated[int | None, typer.Option(help="Bars between router decisions.")]
# What `bot live` refuses to start without: (dotted key, example value, why).
LIVE_LIMITS = (
    ("risk.max_order_notional", "1000.0", "the largest notional of one order"),
    (
        "risk.max_instrument_notional",
        "5000.0",
        "the largest position notional of the instrument, all strategies together",
    ),
    (
        "risk.max_drawdown",
        "0.10",
        "the drawdown kill switch, chosen explicitly (the built-in 0.25 is for paper)",
    ),
)

MetricsOption = Annotated[
    int | None,
    typer.Option(min=1, max=65535, help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics."),
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
    capabilities = venue_named(venue)
    loaded = mode_settings(ctx, capabilities, "paper", policy, window)
    symbol = symbol or capabilities.symbol
    _trade(ctx, loaded, venue, "paper", symbol, bar, duration_s, metrics_port)


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
    accept_model_mismatch: Annotated[
        bool,
        typer.Option(
            "--accept-model-mismatch",
            help="Trade a router trained on other bars than --bar (MODEL MISMATCH) anyway.",
        ),
    ] = False,
) -> None:
    """Trade live with real money (needs --confirm-live, keys in the environment, and
    risk.max_order_notional, risk.max_instrument_notional and risk.max_drawdown set). Refuses a
    MODEL MISMATCH unless --accept-model-mismatch. Runs a pre-flight (venue, clock skew, account,
    instrument), prints what it will trade and how much, then runs until SIGINT/SIGTERM."""
    capabilities = venue_named(venue)
    if not confirm_live:
        raise ConfigError(
            "`bot live` trades real money and needs explicit confirmation. Nothing was done. "
            "Re-run with --confirm-live, or use `bot paper` to trade on the testnet."
        )
    loaded = mode_settings(ctx, capabilities, "live", policy, window)
    require_live_limits(loaded)
    require_matching_model(loaded, bar, accept_model_mismatch)
    symbol = symbol or capabilities.symbol
    _trade(ctx, loaded, venue, "live", symbol, bar, duration_s, metrics_port)


def require_live_limits(loaded: LoadedSettings) -> None:
    """ConfigError naming every `LIVE_LIMITS` setting that is off, or (the kill switch) not set
    by the operator: a live node never trades real money without them."""
    missing = [
        (key, example, why)
        for key, example, why in LIVE_LIMITS
        if _value(loaded, key) is None or loaded.sources[key] == "default"
    ]
    if not missing:
        return
    lines = [
        f"  [{key.split('.')[0]}] {key.split('.')[1]} = {example}   "
        f"(or BOT__{key.upper().replace('.', '__')}={example}): {why}"
        for key, example, why in missing
    ]
    raise ConfigError(
        "`bot live` refuses to trade real money without its safety limits. Nothing was done. "
        "Add to your config file (or the environment):\n" + "\n".join(lines) + "\nThe values "
        "shown are examples: size them to your account. `bot paper` runs without them."
    )


def require_matching_model(loaded: LoadedSettings, bar: str, accept: bool) -> None:
    """ConfigError when the router was trained on other bars than `bar`, unless `accept`."""
    policy = loaded.settings.router.policy
    mismatch = trained_bar_warning(policy, trained_on(policy), bar)
    if mismatch is None or accept:
        return
    raise ConfigError(
        f"`bot live` refuses a {mismatch} Nothing was done. Choose --policy for this market "
        "(e.g. --policy uniform, or a router trained on these bars), or re-run with "
        "--accept-model-mismatch to trade it anyway."
    )


def _value(loaded: LoadedSettings, key: str):
    return reduce(getattr, key.split("."), loaded.settings)


def mode_settings(
    ctx: typer.Context,
    venue: Venue,
    mode: str,
    policy: str | None = None,
    window: int | None = None,
) -> LoadedSettings:
    """The settings of `mode` ("paper" or "live") at `venue`: what the mode forces, its
    endpoint while the operator left it default, and a ConfigError for the other mode's."""
    flags = {"router.policy": policy, "router.window": window, **venue.forced.get(mode, {})}
    run = ctx.find_root().obj
    loaded = run.settings(**flags)
    key = venue.endpoint
    if key is None:
        return loaded
    if mode in venue.mode_endpoint and loaded.sources[key] == "default":
        loaded = run.settings(**flags, **{key: venue.mode_endpoint[mode]})
    value = _value(loaded, key)
    if isinstance(value, str):
        value = value.rstrip("/")
    if mode in venue.forbidden and value == venue.forbidden[mode]:
        other = "live" if mode == "paper" else "paper"
        raise ConfigError(
            f"`bot {mode} --venue {venue.name}` refuses {key} = {value}, "
            f"{venue.title}'s {other} endpoint. Nothing was done. Use `bot {other}`, "
            f"or leave {key} unset (`bot {mode}` then takes the {mode} endpoint)."
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
    # What needs no venue is refused before the venue is asked anything. A named model loads
    # when the node is built; the registry's active one too.
    bar_interval(bar)
    router = settings.router
    if router.policy != REGISTRY_POLICY:
        check_policy(PolicySpec(router.policy, router.weights, router.seed))
    report = preflight(venue, settings, secrets, symbol)
    # The kill switch the node's risk guard restores: a tripped one keeps it flat and halted.
    switch = saved_kill_switch(settings.persistence, settings.persistence.trader_for(mode))
    plugins = policy_plugins(router.policy, router.weights)
    typer.echo(format_summary(report, settings, mode, bar, switch, plugins))
    run_id = ctx.find_root().obj.run_id

    def try_start(number: int) -> Attempt:
        return _run_node(loaded, venue, mode, symbol, bar, duration_s, metrics_port, run_id, number)

    start_with_retries(
        try_start,
        settings,
        secrets,
        run_id=run_id,
        venue=venue,
        mode=mode,
        symbol=symbol,
        flatten=lambda: flatten(venue, settings, secrets, symbol),
        echo=typer.echo,
    )
    record_node_stopped(settings, run_id)
    typer.echo(f"The {mode} node stopped.")


def _run_node(
    loaded: LoadedSettings,
    venue: str,
    mode: str,
    symbol: str,
    bar: str,
    duration_s: float | None,
    metrics_port: int | None,
    run_id: str,
    number: int,
) -> Attempt:
    # One start of the node, on a fresh event loop (a disposed node closes its own), watched by
    # the start-up watchdog (`bot.engine.startup`).
    settings = loaded.settings
    # Nautilus installs its SIGINT/SIGTERM handlers (which stop the node) only on a loop it is
    # given, from the main thread.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    node = build_trading_node(
        settings,
        loaded.secrets,
        venue=venue,
        symbol=symbol,
        bar=bar,
        run_id=run_id,
        mode=mode,
        loop=loop,
        timeout_post_stop=STOP_SETTLE_S,
        load_policy=load_policy,
        retry=number > 1,
    )
    metrics = None
    try:
        if metrics_port:
            metrics = _serve_metrics(node, metrics_port)
        running = partial(record_event, settings, run_id, NODE_RUNNING_EVENT, {"attempt": number})
        task = loop.create_task(node.run_async())
        watch = StartupWatch(node, loop, task, settings.risk.startup_timeout_s, running)
        # In place of nautilus' handlers, which stop the node too: a stop before the trader runs
        # would otherwise look like a failed start, and the watchdog would start it again.
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, watch.stop)
        if duration_s is not None:
            loop.call_later(duration_s, watch.stop)
        typer.echo(f"Starting the {mode} node; SIGINT (Ctrl-C) or SIGTERM stops it.")
        loop.run_until_complete(task)  # what `node.run()` does, with the task at hand
        open_positions = len(node.cache.positions_open())
    finally:
        node.dispose()
        if metrics is not None:
            metrics.shutdown()
    return Attempt(timed_out=watch.timed_out, open_positions=open_positions)


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
