"""What the router actor records as it runs, for the report and for the bar-reading policies.

From the first traded bar: the mark-to-market equity curve, gross exposure and sizing gap as
shares of it, and each strategy's PnL, per bar; and every decision. Over every bar, warm-up
included: each built-in strategy's unit-capital return (the signal it held going into the bar
times the bar's close-to-close return; costs and fill timing left out), whatever its weight:
what `momentum` ranks (`RouterContext`).
"""

from collections import deque

import numpy as np
import pandas as pd
from nautilus_trader.model.data import Bar

from bot.core.features import REQUIRED_BARS
from bot.engine.policy import Decision
from strategies import STRATEGIES, strategy_names
from strategies.base import RoutedStrategy


class RouterRecorder:
    """The router actor's per-bar record and decisions; `fallback` names the static policy a
    decision falls back to, for the report's lines."""

    def __init__(self, fallback: str) -> None:
        self._fallback = fallback
        self.strategies: list[RoutedStrategy] = []  # the watched ones, in table order
        self.decisions: list[tuple[int, Decision]] = []
        self.fallbacks_in_a_row = 0
        self.equity: list[tuple[int, float]] = []
        self.exposure: list[float] = []  # gross exposure / equity, per recorded bar
        self.sizing_gap: list[float] = []  # exposure the strategies could not order, per bar
        self.strategy_pnl: list[tuple[int, list[float]]] = []
        # Unit-capital returns of the built-in strategies over the last bars (RouterContext).
        self._unit_returns: deque[list[float]] = deque(maxlen=REQUIRED_BARS)
        self.last_close: float | None = None  # of the last bar tracked

    def watch(self, strategies: list[RoutedStrategy]) -> None:
        """The strategies whose returns and PnL are recorded (their fill ledgers)."""
        self.strategies = list(strategies)

    def track(self, bar: Bar) -> None:
        """Each strategy's return over `bar` at unit capital. The actor sees a bar before the
        strategies do, so their `target` is still the signal they held going into it."""
        close = bar.close.as_double()
        # The built-in strategies come first, then any plug-ins.
        if self.last_close is not None and len(self.strategies) >= len(STRATEGIES):
            change = close / self.last_close - 1.0 if self.last_close else 0.0
            built_in = self.strategies[: len(STRATEGIES)]
            self._unit_returns.append([s.target * change for s in built_in])
        self.last_close = close

    def unit_returns(self) -> np.ndarray:
        """The tracked unit returns, (bars, built-in strategies), oldest first."""
        return np.array(self._unit_returns, dtype=np.float64).reshape(-1, len(STRATEGIES))

    def bar(self, bar: Bar, equity: float, multiplier: float) -> None:
        """Record a traded bar: `equity` marked to market at its close, `multiplier` the
        instrument's."""
        close = bar.close.as_double()
        notional = close * multiplier
        gross = sum(abs(s.units) for s in self.strategies) * notional
        gap = sum(abs(s.sizing_gap) for s in self.strategies) * notional
        self.equity.append((bar.ts_event, equity))
        self.exposure.append(gross / equity if equity > 0 else 0.0)
        self.sizing_gap.append(gap / equity if equity > 0 else 0.0)
        self.strategy_pnl.append((bar.ts_event, [s.pnl(close) for s in self.strategies]))

    def decision(self, ts: int, decision: Decision) -> None:
        """Record a published decision, and count the fallbacks in a row."""
        self.decisions.append((ts, decision))
        self.fallbacks_in_a_row = self.fallbacks_in_a_row + 1 if decision.fallback else 0

    def fallbacks(self) -> list[str]:
        """One line per distinct fallback reason, with its count, for the report."""
        reasons = pd.Series([d.error for _, d in self.decisions if d.fallback], dtype=object)
        return [
            f"router fell back to {self._fallback} on {count} of {len(self.decisions)} "
            f"decisions: {reason}"
            for reason, count in reasons.value_counts(sort=False).items()
        ]

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Equity, gross exposure and sizing gap, per-strategy cumulative PnL, and weights per
        decision."""
        equity = pd.DataFrame(
            {
                "equity": [e for _, e in self.equity],
                "exposure": self.exposure,
                "sizing_gap": self.sizing_gap,
            },
            index=pd.to_datetime([ts for ts, _ in self.equity], utc=True),
        )
        pnl = pd.DataFrame(
            [row for _, row in self.strategy_pnl],
            index=pd.to_datetime([ts for ts, _ in self.strategy_pnl], utc=True),
            columns=[s.name for s in self.strategies],
        )
        built_in = strategy_names()  # then the plug-ins run, whichever strategies were built
        weights = pd.DataFrame(
            [d.weights for _, d in self.decisions],
            index=pd.to_datetime([ts for ts, _ in self.decisions], utc=True),
            columns=[*built_in, *(s.name for s in self.strategies if s.name not in built_in)],
        )
        return equity, pnl, weights
