"""The pure risk rules the RiskGuard applies; the caller passes the time and the numbers.

- `notional_breach`: the per-order and per-instrument notional limits of `[risk]`, which an
  order that only reduces the position (`reduces_only`) never breaks;
- `KillSwitch`: a drawdown from the equity peak, or a day's loss, trips it until an operator
  resets it;
- `StaleDataWatchdog`: no bar for too long blocks new orders.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.breaker import aware
from bot.core.errors import ConfigError
from bot.core.settings import RiskSettings

_EPS = 1e-12  # float rounding must not keep a loss of exactly the limit from tripping
_FLAT = 1e-9  # a position this small a share of what it was is flat (float sums of quantities)


def reduces_only(before: float, after: float) -> bool:
    """Whether a position of signed `before` units that becomes `after` only shrinks: toward
    flat or to flat, never past it to the other side (float noise at flat counts as flat)."""
    if before == 0 or abs(after) >= abs(before):
        return False
    return before * after >= 0 or abs(after) <= _FLAT * abs(before)


def notional_breach(
    risk: RiskSettings,
    order_notional: float,
    position_notional_after: float,
    reducing: bool = False,
) -> str | None:
    """Why an order breaks the notional limits, or None when it may go.

    `order_notional` is |quantity| x price x multiplier; `position_notional_after` the absolute
    notional of the instrument's whole position (all strategies) once the order fills. An order
    that only reduces that position (`reducing`, see `reduces_only`) is never refused, however
    large: reducing risk must always be possible, even a close of a position worth more than
    `max_order_notional`.
    """
    if reducing:
        return None
    if risk.max_order_notional is not None and abs(order_notional) > risk.max_order_notional:
        return (
            f"order notional {abs(order_notional):,.2f} exceeds risk.max_order_notional "
            f"{risk.max_order_notional:,.2f}"
        )
    limit = risk.max_instrument_notional
    if limit is not None and abs(position_notional_after) > limit:
        return (
            f"position notional {abs(position_notional_after):,.2f} would exceed "
            f"risk.max_instrument_notional {limit:,.2f}"
        )
    return None


class KillSwitch:
    """Trips on a drawdown from the equity peak, or a loss from the UTC day's first equity.

    Once tripped it stays tripped, whatever equity does, until `reset(operator)`.
    """

    def __init__(self, max_drawdown: float, daily_loss_limit: float | None = None) -> None:
        for name, value in (("max_drawdown", max_drawdown), ("daily_loss_limit", daily_loss_limit)):
            if value is not None and not 0.0 < value < 1.0:
                raise ConfigError(f"{name}={value} must lie in (0, 1): it is a fraction of equity.")
        self.max_drawdown = max_drawdown
        self.daily_loss_limit = daily_loss_limit
        self.peak: float | None = None
        self.day: str | None = None  # the UTC date whose first equity is `day_start`
        self.day_start: float | None = None
        self.reason: str | None = None
        self.tripped_at: str | None = None

    @property
    def tripped(self) -> bool:
        """True from the trip until an operator resets it."""
        return self.reason is not None

    def update(self, now: datetime, equity: float) -> bool:
        """Feed the equity at `now`; True only on the update that trips the switch."""
        aware(now)
        if self.tripped:
            return False
        day = now.astimezone(UTC).date().isoformat()
        if day != self.day:
            self.day, self.day_start = day, equity
        self.peak = equity if self.peak is None else max(self.peak, equity)
        self.reason = self._breach(equity)
        if self.reason is None:
            return False
        self.tripped_at = now.astimezone(UTC).isoformat()
        return True

    def _breach(self, equity: float) -> str | None:
        drawdown = 1.0 - equity / self.peak if self.peak > 0 else 1.0
        if drawdown >= self.max_drawdown - _EPS:
            return (
                f"drawdown {drawdown:.1%} from the peak {self.peak:,.2f} reached "
                f"max_drawdown {self.max_drawdown:.1%}"
            )
        limit = self.daily_loss_limit
        loss = 1.0 - equity / self.day_start if self.day_start > 0 else 1.0
        if limit is not None and loss >= limit - _EPS:
            return (
                f"loss {loss:.1%} since the day's first equity {self.day_start:,.2f} reached "
                f"daily_loss_limit {limit:.1%}"
            )
        return None

    def reset(self, operator: str) -> None:
        """Re-arm after a trip; the peak and the day restart from the next equity seen."""
        if not operator.strip():
            raise ConfigError("reset needs the operator's name, for the audit trail.")
        self.peak = self.day = self.day_start = self.reason = self.tripped_at = None

    def state(self) -> dict[str, Any]:
        """JSON-safe state to persist across restarts (limits are not state: they are config)."""
        keys = ("peak", "day", "day_start", "reason", "tripped_at")
        return {key: getattr(self, key) for key in keys}

    def restore(self, state: dict[str, Any]) -> None:
        """Load what `state()` returned; a tripped switch stays tripped after a restart."""
        unknown = set(state) - set(self.state())
        if unknown:
            raise ValueError(f"unknown kill switch state keys {sorted(unknown)}")
        for key, value in state.items():
            setattr(self, key, value)


class StaleDataWatchdog:
    """Allows new orders only while the newest bar is at most `stale_after` old."""

    def __init__(self, stale_after: timedelta) -> None:
        if stale_after <= timedelta(0):
            raise ConfigError(f"stale_after={stale_after} must be positive.")
        self.stale_after = stale_after
        self.last_bar: datetime | None = None

    def on_bar(self, ts: datetime) -> None:
        """Record a bar stamped `ts` (older bars than the newest are ignored)."""
        aware(ts)
        if self.last_bar is None or ts > self.last_bar:
            self.last_bar = ts

    def allows(self, now: datetime) -> bool:
        """False before the first bar and once the newest bar is too old."""
        aware(now)
        return self.last_bar is not None and now - self.last_bar <= self.stale_after
