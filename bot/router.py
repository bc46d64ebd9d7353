"""The RouterActor: the one component that decides capital.

Every `window` bars it asks its policy for weights and publishes them as `RouterWeights`; the
strategies size themselves from the latest weights. It also records the mark-to-market equity
curve, per-strategy PnL and every decision, for the report and the journal.
"""

import json
from collections import deque

import pandas as pd
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import Bar, BarType, DataType
from nautilus_trader.model.identifiers import InstrumentId

from bot.policy import Decision, PolicySpec, build_policy
from strategies import strategy_names
from strategies.base import RoutedStrategy, account_equity
from strategies.weights import RouterWeights, encode

HISTORY_BARS = 256


class RouterActorConfig(ActorConfig, frozen=True):
    """Router actor settings.

    Parameters
    ----------
    policy : str
        Policy spec (see `bot.policy`).
    window : int
        Bars between decisions.
    start_ns : int
        No decision before this time: bars before it only warm up the strategies.
    weights_json : str
        Strategy -> fraction, for the `fixed` policy.
    """

    instrument_id: InstrumentId
    bar_type: BarType
    policy: str = "uniform"
    window: int = 20
    seed: int = 0
    start_ns: int = 0
    weights_json: str = "{}"
    best_expert: str | None = None


class RouterActor(Actor):
    """Publishes `RouterWeights` every window and records equity and decisions."""

    def __init__(self, config: RouterActorConfig) -> None:
        super().__init__(config)
        self._policy = build_policy(
            PolicySpec(
                name=config.policy,
                weights=json.loads(config.weights_json),
                seed=config.seed,
                best_expert=config.best_expert,
            )
        )
        self._bars: deque[Bar] = deque(maxlen=HISTORY_BARS)
        self._since_decision: int | None = None
        self.decisions: list[tuple[int, Decision]] = []
        self.equity: list[tuple[int, float]] = []
        self.exposure: list[float] = []  # gross exposure / equity, per recorded bar
        self.strategy_pnl: list[tuple[int, list[float]]] = []
        self.progress = None  # an optional tqdm bar, advanced once per bar
        self._strategies: list[RoutedStrategy] = []

    def watch(self, strategies: list[RoutedStrategy]) -> None:
        """The strategies whose PnL the actor records (their fill ledgers, in table order)."""
        self._strategies = list(strategies)

    def on_start(self) -> None:
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        self._bars.append(bar)
        if self.progress is not None:
            self.progress.update()
        if bar.ts_event < self.config.start_ns:
            return
        self._record(bar)
        if self._since_decision is None or self._since_decision >= self.config.window:
            self._decide(bar)
        self._since_decision += 1

    def _decide(self, bar: Bar) -> None:
        decision = self._policy.decide(self._bars)
        self.publish_data(
            DataType(RouterWeights), encode(decision.weights, decision.policy, bar.ts_event)
        )
        self.decisions.append((bar.ts_event, decision))
        self._since_decision = 0
        self.log.info(
            f"router decision policy={decision.policy} "
            + " ".join(f"{k}={v:.2f}" for k, v in decision.experts.items())
        )

    def _record(self, bar: Bar) -> None:
        instrument = self.cache.instrument(self.config.instrument_id)
        equity = account_equity(self.portfolio, self.cache, instrument)
        close = bar.close.as_double()
        gross = sum(abs(s.units) for s in self._strategies) * close * _multiplier(instrument)
        self.equity.append((bar.ts_event, equity))
        self.exposure.append(gross / equity if equity > 0 else 0.0)
        self.strategy_pnl.append((bar.ts_event, [s.pnl(close) for s in self._strategies]))

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Equity and gross exposure, per-strategy cumulative PnL, and weights per decision."""
        equity = pd.DataFrame(
            {"equity": [e for _, e in self.equity], "exposure": self.exposure},
            index=pd.to_datetime([ts for ts, _ in self.equity], utc=True),
        )
        pnl = pd.DataFrame(
            [row for _, row in self.strategy_pnl],
            index=pd.to_datetime([ts for ts, _ in self.strategy_pnl], utc=True),
            columns=[s.name for s in self._strategies],
        )
        weights = pd.DataFrame(
            [d.weights for _, d in self.decisions],
            index=pd.to_datetime([ts for ts, _ in self.decisions], utc=True),
            columns=list(strategy_names()),
        )
        return equity, pnl, weights


def _multiplier(instrument) -> float:
    return instrument.multiplier.as_double()
