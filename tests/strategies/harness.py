"""Test harness: instruments, bar series, a weights-publishing actor and one-call engine runs."""

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import Bar, BarType, DataType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.persistence.wranglers import BarDataWrangler

from bot.engine.instruments import make_instrument
from bot.engine.sim import new_engine
from strategies import STRATEGIES, name_of
from strategies.base import RoutedStrategy
from strategies.equity import account_equity
from strategies.weights import RouterWeights, encode

START = pd.Timestamp("2020-01-01", tz="UTC")


def equity_instrument() -> Instrument:
    """A US-dollar stock on the SIM venue: whole shares, 10 bps fees."""
    return make_instrument("TEST", "equity")


def crypto_instrument() -> Instrument:
    """BTC/USDT spot on the SIM venue, 10 bps fees."""
    return make_instrument("BTCUSDT", "crypto")


def bar_type_for(instrument: Instrument) -> BarType:
    return BarType.from_str(f"{instrument.id}-1-DAY-LAST-EXTERNAL")


def frame(close, *, high=None, low=None, open_=None, volume=None) -> pd.DataFrame:
    """Daily OHLCV frame from arrays, starting 2020-01-01 UTC.

    Open defaults to the prior close, high / low to 0.5 beyond open and close; given highs and
    lows are widened to contain open and close.
    """
    close = np.asarray(close, dtype=float)
    n = len(close)
    open_ = np.r_[close[0], close[:-1]] if open_ is None else np.asarray(open_, dtype=float)
    top, bottom = np.maximum(close, open_), np.minimum(close, open_)
    high = top + 0.5 if high is None else np.maximum(np.asarray(high, dtype=float), top)
    low = bottom - 0.5 if low is None else np.minimum(np.asarray(low, dtype=float), bottom)
    volume = np.full(n, 1_000.0) if volume is None else np.asarray(volume, dtype=float)
    index = pd.date_range(START, periods=n, freq="D")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def to_bars(df: pd.DataFrame, instrument: Instrument) -> list[Bar]:
    return BarDataWrangler(bar_type_for(instrument), instrument).process(df)


def signals(strategy: RoutedStrategy, bars: list[Bar]) -> np.ndarray:
    """Target exposure after each bar, from the pure per-bar method (no engine)."""
    return np.array([strategy.signal(bar) for bar in bars])


class WeightsActorConfig(ActorConfig, frozen=True):
    bar_type: BarType
    schedule_json: str  # {"bar index": {strategy: weight}}


class WeightsActor(Actor):
    """Publishes fixed RouterWeights on scheduled bars and records the account equity per bar.

    Added before the strategies, it sees each bar first: the equity it records is the one the
    strategies size with on that bar (fills come after all handlers ran).
    """

    def __init__(self, config: WeightsActorConfig) -> None:
        super().__init__(config)
        self._schedule = {int(k): v for k, v in json.loads(config.schedule_json).items()}
        self._index = -1
        self.equity: list[float] = []
        self.fills: list[dict] = []

    def on_start(self) -> None:
        self.subscribe_bars(self.config.bar_type)
        self.subscribe_order_fills(self.config.bar_type.instrument_id)

    def on_order_filled(self, event) -> None:
        sign = 1.0 if event.order_side == OrderSide.BUY else -1.0
        self.fills.append(
            {
                "bar": self._index,
                "strategy": name_of(event.strategy_id),
                "qty": sign * event.last_qty.as_double(),
                "price": event.last_px.as_double(),
                "commission": event.commission.as_double(),
            }
        )

    def on_bar(self, bar: Bar) -> None:
        self._index += 1
        instrument = self.cache.instrument(self.config.bar_type.instrument_id)
        self.equity.append(account_equity(self.portfolio, self.cache, instrument))
        weights = self._schedule.get(self._index)
        if weights is not None:
            self.publish_data(DataType(RouterWeights), encode(weights, "test", bar.ts_event))


FILL_COLUMNS = ["bar", "strategy", "qty", "price", "commission"]


@dataclass
class Run:
    """What an engine run left behind, read before the engine was disposed."""

    fills: pd.DataFrame  # in execution order: bar index, strategy, signed qty, price, commission
    equity: np.ndarray  # account equity per bar, as the strategies saw it when sizing
    close: np.ndarray  # bar closes, at the instrument's price precision
    positions: dict[str, list]  # strategy name -> its positions, closed ones and snapshots
    strategies: dict[str, RoutedStrategy]
    equity_end: float

    def fills_of(self, name: str) -> pd.DataFrame:
        return self.fills[self.fills["strategy"] == name].reset_index(drop=True)

    def held(self, name: str) -> np.ndarray:
        """Net quantity of `name` after each bar's fills."""
        per_bar = self.fills_of(name).groupby("bar")["qty"].sum()
        return np.cumsum(per_bar.reindex(range(len(self.close)), fill_value=0.0).to_numpy())


def run(
    instrument: Instrument,
    df: pd.DataFrame,
    strategies: list[RoutedStrategy],
    schedule: dict[int, dict[str, float]],
    *,
    account: str = "margin",
    capital: float = 100_000.0,
    slippage_bps: float = 0.0,
    actor_first: bool = True,
    fill: str = "close",
    log_level: str = "ERROR",
) -> Run:
    """Run the strategies over `df` with weights published per `schedule`; dispose the engine.

    Fills default to the decision bar's close, so that rule tests pin the bar each rule acts
    on; the simulator's own tests (test_sim.py) cover the `next_open` default of backtests."""
    bars = to_bars(df, instrument)
    engine = new_engine(
        instrument,
        bars,
        capital=capital,
        account=account,
        slippage_bps=slippage_bps,
        fill=fill,
        log_level=log_level,
    )
    actor = WeightsActor(
        WeightsActorConfig(bar_type=bar_type_for(instrument), schedule_json=json.dumps(schedule))
    )
    if actor_first:
        engine.add_actor(actor)
    for strategy in strategies:
        engine.add_strategy(strategy)
    if not actor_first:
        engine.add_actor(actor)
    engine.run()
    try:
        return Run(
            fills=pd.DataFrame(actor.fills, columns=FILL_COLUMNS),
            equity=np.array(actor.equity),
            close=np.array([bar.close.as_double() for bar in bars]),
            positions={s.name: _positions(engine.cache, s) for s in strategies},
            strategies={s.name: s for s in strategies},
            equity_end=account_equity(engine.portfolio, engine.cache, instrument),
        )
    finally:
        engine.dispose()


def _positions(cache, strategy: RoutedStrategy) -> list:
    own = cache.positions(strategy_id=strategy.id)
    return own + [snap for p in own for snap in cache.position_snapshots(p.id)]


SPECS = {spec.name: spec for spec in STRATEGIES}


def make_strategy(name: str, instrument: Instrument, **overrides) -> RoutedStrategy:
    """A strategy from the table, built from its config with `overrides`."""
    spec = SPECS[name]
    return spec.strategy(
        spec.config(instrument_id=instrument.id, bar_type=bar_type_for(instrument), **overrides)
    )


def transitions(exposure: np.ndarray) -> list[tuple[int, float]]:
    """(bar, new exposure) wherever the exposure changes, rounded to 3 decimals."""
    changed = np.flatnonzero(np.diff(exposure)) + 1
    return [(int(i), round(float(exposure[i]), 3)) for i in changed]


def trade(name: str, df: pd.DataFrame, instrument: Instrument, weight: float = 0.5, **overrides):
    """Signals from the pure path, and an engine run of the strategy at a fixed weight."""
    exposure = signals(make_strategy(name, instrument, **overrides), to_bars(df, instrument))
    filler = "LongOnly" if name == "Cash" else "Cash"
    weights = {name: weight, filler: 1.0 - weight}
    result = run(instrument, df, [make_strategy(name, instrument, **overrides)], {0: weights})
    return exposure, result


def sizing_gap(result: Run, name: str, exposure: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per bar: |held notional - weight x equity x exposure| minus what the base class allows
    (the tolerance band plus one unit of rounding); <= 0 everywhere when sizing is right."""
    notional = result.held(name) * result.close
    target = weights * result.equity * exposure
    allowed = 0.1 * weights * result.equity + result.close
    return np.abs(notional - target) - allowed


def expected_fill_bars(result: Run, name: str, exposure: np.ndarray, weight: float) -> list[int]:
    """Bars where the base class must trade: the exposure changed, or the position held into
    the bar drifted at least the tolerance band (0.1 x weight x equity) from its target."""
    before = np.r_[0.0, result.held(name)[:-1]]
    target = weight * result.equity * exposure
    drifted = np.abs(before * result.close - target) >= 0.1 * weight * result.equity
    changed = exposure != np.r_[0.0, exposure[:-1]]
    return np.flatnonzero(changed | (drifted & (before != 0))).tolist()
