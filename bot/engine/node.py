"""One node builder: the same router actor and eleven strategies in every mode.

- `bot.engine.assemble.assemble` adds the RouterActor and the strategies to a live node's
  Trader exactly as backtests add them to their engine, so the components and their configs are
  identical; only the venue block differs.
- `build_trading_node` builds a nautilus `TradingNode` for a venue from the settings: the
  venue's data and execution clients, start-up reconciliation with the venue, the pre-trade
  limits of `[risk]`, and the routed strategies on one instrument.
- The cache lives in Redis (`[persistence]`, `bot.engine.persistence`): orders, per-strategy
  positions, the router's window phase and last weights and the kill switch survive a restart,
  even a crash; start-up reconciliation then fixes what changed at the venue meanwhile, and
  the differences are journalled. Each session is a run in the journal (`[journal] path`):
  router decisions, fills, kill-switch and reconciliation events.
- Warm-up: the router actor and the strategies request history bars at start
  (`strategies.base.request_warmup`; one request for the eleven, which share their indicators
  and take each history bar in step), so the first live decision sees as many bars as a
  backtest's.
"""

import asyncio
import json
from typing import Any, NamedTuple

import msgspec
from nautilus_trader.config import (
    InstrumentProviderConfig,
    LiveRiskEngineConfig,
    TradingNodeConfig,
)
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import BarSpecification, BarType
from nautilus_trader.model.enums import AggregationSource, PriceType
from nautilus_trader.model.identifiers import InstrumentId

from adapters.alpaca.factories import FACTORIES as ALPACA_FACTORIES
from adapters.alpaca.factories import alpaca_venue
from adapters.binance.config import FACTORIES, binance_clients, is_long_only
from adapters.venues import VENUES
from bot.core.alerts import notifier
from bot.core.bars import bar_interval
from bot.core.breaker import Backoff
from bot.core.errors import ConfigError
from bot.core.logging import nautilus_logging, new_run_id
from bot.core.settings import BinanceSettings, Secrets, Settings
from bot.engine.assemble import assemble
from bot.engine.persistence import cache_config, require_redis, resume, start_journal_run
from bot.engine.policy import PolicyLoader, policy_plugins
from bot.engine.risk import RiskGuard, exec_engine_config, risk_engine_config, risk_guard_config
from bot.engine.router import RouterActor
from bot.engine.router_config import RouterActorConfig, router_settings
from strategies import build_strategies

_BINANCE_SUFFIX = {"usdt_futures": "-PERP", "spot": ""}


def binance_instrument_id(symbol: str, venue: BinanceSettings) -> InstrumentId:
    """Nautilus' id of a Binance symbol, e.g. `BTCUSDT-PERP.BINANCE` on USDT-M futures."""
    return InstrumentId.from_str(f"{symbol.upper()}{_BINANCE_SUFFIX[venue.market]}.BINANCE")


def external_bar_type(instrument_id: InstrumentId, bar: str) -> BarType:
    """The venue-aggregated last-price bars of size `bar` (e.g. "1m") on `instrument_id`."""
    spec = BarSpecification.from_timedelta(bar_interval(bar).to_pytimedelta(), PriceType.LAST)
    return BarType(instrument_id, spec, AggregationSource.EXTERNAL)


def router_config(
    settings: Settings, instrument_id: InstrumentId, bar_type: BarType, symbol: str
) -> RouterActorConfig:
    """The router actor's config from `[router]` (decisions from the first bar on)."""
    fields = router_settings(settings)
    weights = fields.pop("weights")
    return RouterActorConfig(
        instrument_id=instrument_id,
        bar_type=bar_type,
        policy=settings.router.policy,
        **fields,
        weights_json=json.dumps(weights),
        symbol=symbol,
        registry=str(settings.registry.path),
        background=settings.router.background,
    )


def build_trading_node(
    settings: Settings,
    secrets: Secrets,
    *,
    venue: str = "binance",
    symbol: str,
    bar: str,
    run_id: str | None = None,
    mode: str = "live",
    loop: asyncio.AbstractEventLoop | None = None,
    timeout_post_stop: float = 10.0,
    load_policy: PolicyLoader | None = None,
    retry: bool = False,
) -> TradingNode:
    """A built (not yet running) TradingNode trading `symbol` on `bar` bars at `venue`, its
    trader holding the router actor and the strategies. Keys come from `secrets` (ConfigError
    naming the environment variable when one is missing).

    `loop` is the event loop the node runs on; create the node in the main thread (nautilus
    installs its signal handlers there) even when the loop runs in another one.
    `timeout_post_stop` is how long a stopping node waits for in-flight orders to settle before
    it reports residual orders and positions. The session is journalled as run `run_id` (a new
    id when None) of `mode` ("live" or "paper"). OperationalError when Redis is unreachable;
    CheckpointError, before Redis, the journal or the node are touched, when the router's model
    (`model:`/`lgbm:`, or the registry's active one) does not load. `retry`: a start-up retry
    of run `run_id` (`bot.engine.startup`), journalled as another start of the same run.
    """
    if venue not in VENUES:
        raise ConfigError(
            f"venue {venue!r} has no live node yet; choose one of {', '.join(VENUES)}."
        )
    block = _VENUE_BLOCKS[venue](settings, secrets, symbol, bar)
    instrument_id = block.instrument_id
    bar_type = external_bar_type(instrument_id, bar)
    run_id = run_id or new_run_id()
    journal = settings.journal.path
    router = msgspec.structs.replace(
        router_config(settings, instrument_id, bar_type, symbol),
        journal_path=str(journal),
        run_id=run_id,
        chart_dir=str(journal.parent / "charts" / run_id),
    )
    # Built before Redis, the journal and the node: it loads the policy, so a named model that
    # does not load refuses the start here (CheckpointError), before anything can trade.
    actor = RouterActor(router, load_policy)
    require_redis(settings.persistence)
    start_journal_run(settings, run_id, mode, symbol, bar, venue, new_run=not retry)
    config = TradingNodeConfig(
        trader_id=settings.persistence.trader_for(mode),
        logging=nautilus_logging(settings.logging, run_id, log_dir=settings.logging.directory),
        exec_engine=exec_engine_config(settings.risk),
        cache=cache_config(settings.persistence),
        # Component state (on_save) goes to Redis at stop; `resume` loads it once they exist.
        save_state=True,
        load_state=True,
        risk_engine=_live(risk_engine_config(settings.risk, [instrument_id])),
        data_clients={block.factories[0]: block.data},
        exec_clients={block.factories[0]: block.execution},
        timeout_post_stop=timeout_post_stop,
    )
    node = TradingNode(config=config, loop=loop)
    name, data_factory, exec_factory = block.factories
    node.add_data_client_factory(name, data_factory)
    node.add_exec_client_factory(name, exec_factory)
    node.build()
    plugins = policy_plugins(settings.router.policy, settings.router.weights)
    strategies = build_strategies(
        instrument_id, bar_type, long_only=block.long_only, plugins=plugins
    )
    # The guard goes first: on the bar that trips it, it flattens before any strategy trades.
    guard = RiskGuard(risk_guard_config(settings.risk, bar_type, journal, run_id))
    node.trader.add_actor(guard)
    assemble(node.trader, strategies, actor)
    guard.watch(strategies, node.kernel.risk_engine)
    guard.notifier = actor.notifier = notifier(secrets)
    resume(node, journal, run_id)
    return node


class _VenueBlock(NamedTuple):
    """The venue-specific part of a node: everything else is the same on every venue."""

    factories: tuple  # (client name, data client factory, exec client factory)
    instrument_id: InstrumentId
    data: Any
    execution: Any
    long_only: bool


def _binance_block(settings: Settings, secrets: Secrets, symbol: str, bar: str) -> _VenueBlock:
    venue = settings.venues.binance
    instrument_id = binance_instrument_id(symbol, venue)
    backoff = Backoff.from_settings(settings.risk)
    data, execution = _binance_clients(venue, secrets, instrument_id, backoff)
    return _VenueBlock(FACTORIES, instrument_id, data, execution, is_long_only(venue))


def _alpaca_block(settings: Settings, secrets: Secrets, symbol: str, bar: str) -> _VenueBlock:
    # Asks Alpaca for the asset: whether it may be shorted decides the strategies' long_only.
    alpaca = alpaca_venue(settings.venues.alpaca, secrets, symbol, bar)
    return _VenueBlock(
        ALPACA_FACTORIES, alpaca.instrument_id, alpaca.data, alpaca.execution, alpaca.long_only
    )


# Keyed by the venue table's names (`adapters.venues.VENUES`): the one list of venues.
_VENUE_BLOCKS = {"binance": _binance_block, "alpaca": _alpaca_block}


def _binance_clients(
    venue: BinanceSettings, secrets: Secrets, instrument_id: InstrumentId, backoff: Backoff
):
    # Load only the traded instrument at connect: the whole exchange is thousands of symbols.
    provider = InstrumentProviderConfig(load_ids=frozenset({instrument_id}))
    return tuple(
        msgspec.structs.replace(client, instrument_provider=provider)
        for client in binance_clients(venue, secrets, backoff)
    )


def _live(config) -> LiveRiskEngineConfig:
    # The live kernel checks for the live subclass; the limits are the same fields.
    return LiveRiskEngineConfig(**msgspec.structs.asdict(config))
