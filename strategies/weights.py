"""RouterWeights: the capital fractions the router publishes to the strategies.

The router actor publishes it with `publish_data(DataType(RouterWeights), data)`; every routed
strategy subscribes with `subscribe_data(DataType(RouterWeights))` and reads its own fraction by
its table name (a missing name means weight 0).

No `from __future__ import annotations` here: `customdataclass` reads the field annotations as
real types.
"""

import json
import math

from nautilus_trader.core.data import Data
from nautilus_trader.model.custom import customdataclass

from bot.core.errors import StrategyError

SUM_TOLERANCE = 1e-6


@customdataclass
class RouterWeights(Data):
    """Capital fraction per strategy name, as a JSON object summing to 1, and the policy name."""

    weights_json: str = "{}"
    policy: str = ""


def encode(weights: dict[str, float], policy: str, ts: int) -> RouterWeights:
    """Pack weights into a `RouterWeights` stamped at `ts` (UNIX ns).

    Raises StrategyError when a weight is negative or not finite, or the weights do not sum to 1.
    """
    values = {str(name): float(w) for name, w in weights.items()}
    bad = {name: w for name, w in values.items() if not math.isfinite(w) or w < 0.0}
    if bad:
        raise StrategyError(
            f"policy {policy!r} produced invalid weights {bad}: every capital fraction must be a "
            "finite number >= 0. Fix the policy, or fall back to a static policy."
        )
    total = sum(values.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise StrategyError(
            f"policy {policy!r} produced weights summing to {total:.6f}, not 1: the strategies "
            "would use more or less capital than the account holds. Normalise the weights."
        )
    return RouterWeights(ts_event=ts, ts_init=ts, weights_json=json.dumps(values), policy=policy)


def decode(data: RouterWeights) -> dict[str, float]:
    """The strategy name -> capital fraction mapping carried by `data`."""
    return {name: float(w) for name, w in json.loads(data.weights_json).items()}
