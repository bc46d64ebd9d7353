"""The position state of the paper's algorithms: side, pyramided layers and their entry prices.

A strategy's target exposure is side * layers / max_layers. The state is virtual: it follows the
algorithm bar by bar whatever capital the router gives, so the same bars always give the same
state, in backtests and live.
"""

import math
from dataclasses import dataclass, field


@dataclass
class Layers:
    """Side (+1 long, -1 short, 0 flat), entry price per layer, the bar and indicator level of
    the last entry, the placed stop of the algorithms that fix one (`place_stop`), and the rule
    behind the last change (`reason`), which the orders it causes carry to the trade list."""

    max_layers: int
    side: int = 0
    entries: list[float] = field(default_factory=list)
    last_entry_bar: int = -1
    entry_level: float = math.nan
    stop: float = math.nan
    reason: str = ""

    def open(
        self,
        side: int,
        price: float,
        bar: int,
        layers: int = 1,
        level: float = math.nan,
        reason: str = "",
    ) -> None:
        """Open `layers` layers (capped at max_layers) on `side` at `price`; `level` is the
        algorithm's indicator reading at the entry (an oscillator's, for "more extreme" adds);
        `reason` names the entry rule."""
        self.reason = reason
        self.side = side
        self.entries = [price] * max(1, min(layers, self.max_layers))
        self.last_entry_bar = bar
        self.entry_level = level

    def add(self, price: float, bar: int, level: float = math.nan, reason: str = "") -> None:
        """Add one layer at `price`, with the indicator `level` there (no-op at max_layers)."""
        if len(self.entries) < self.max_layers:
            self.reason = reason
            self.entries.append(price)
            self.last_entry_bar = bar
            self.entry_level = level

    def reduce(self, reason: str = "") -> None:
        """Remove the most recent layer, keeping at least one."""
        if len(self.entries) > 1:
            self.reason = reason
            self.entries.pop()

    def close(self, reason: str = "") -> None:
        """Go flat; `reason` names the exit rule."""
        self.reason = reason
        self.side = 0
        self.entries = []
        self.stop = math.nan

    @property
    def count(self) -> int:
        return len(self.entries)

    @property
    def can_add(self) -> bool:
        return self.side != 0 and len(self.entries) < self.max_layers

    @property
    def avg_entry(self) -> float:
        return sum(self.entries) / len(self.entries)

    @property
    def last_entry(self) -> float:
        return self.entries[-1]

    @property
    def exposure(self) -> float:
        return self.side * len(self.entries) / self.max_layers

    def profit(self, price: float) -> float:
        """Return on the average entry, signed so that a gain is positive on either side."""
        return self.side * (price / self.avg_entry - 1.0)

    def stop_hit(self, price: float, distance: float) -> bool:
        """True when `price` is beyond the stop `distance` away from the average entry."""
        return self.side * (price - self.avg_entry) < -distance

    def place_stop(self, distance: float) -> None:
        """Fix the stop `distance` beyond the average entry against the trade; it stays there,
        whatever the ATR does, until placed again (the breakout algorithms, on entry and on
        each add)."""
        self.stop = self.avg_entry - self.side * distance

    def stopped(self, price: float) -> bool:
        """True when `price` is beyond the placed stop (never before one is placed)."""
        return self.side * (price - self.stop) < 0


def first_rule(*rules: tuple[str, object]) -> str | None:
    """The name of the first (name, condition) whose condition holds, or None: which of an
    algorithm's alternative exit rules fired, for the trade list."""
    return next((name for name, holds in rules if holds), None)


def votes(*conditions) -> int:
    """How many conditions hold (numpy booleans add as logical OR, so count explicitly)."""
    return sum(1 for condition in conditions if condition)


def mirror(oscillator: float, side: int) -> float:
    """A 0..100 oscillator as seen by `side`: unchanged for longs, 100 - x for shorts.

    Writing the long-side rule once on mirrored values gives the symmetric short-side rule.
    """
    return oscillator if side >= 0 else 100.0 - oscillator
