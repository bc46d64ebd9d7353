"""RouterWeights: the capital fractions the router publishes to the strategies.

The router actor publishes it with `publish_data(DataType(RouterWeights), data)`; every routed
strategy subscribes with `subscribe_data(DataType(RouterWeights))` and reads its own fraction by
its table name (a missing name means weight 0).

No `from __future__ import annotations` here: `customdataclass` reads the field annotations as
real types.
"""

import json
from collections.abc import Collection, Mapping

from nautilus_trader.core.data import Data
from nautilus_trader.model.custom import customdataclass

from bot.core.errors import ConfigError

SUM_TOLERANCE = 1e-6


@customdataclass
class RouterWeights(Data):
    """Capital fraction per strategy name, as a JSON object summing to 1, and the policy name."""

    weights_json: str = "{}"
    policy: str = ""


def check_weights(
    weights: Mapping[str, float], *, what: str, known: Collection[str] | None = None
) -> None:
    """Refuse weights that are not a capital split: names outside `known` (when given),
    fractions outside 0..1 (NaN included), or a sum more than `SUM_TOLERANCE` away from 1.

    The one check of router weights, for configured policies and for every published decision.
    Raises ConfigError, with a message that starts with `what` (the setting or policy checked).
    """
    if known is not None:
        unknown = sorted(set(weights) - set(known))
        if unknown:
            raise ConfigError(
                f"{what} names unknown strategies {unknown}. Known strategies: {', '.join(known)}."
            )
    outside = {name: w for name, w in weights.items() if not 0 <= w <= 1}  # NaN fails too
    if outside:
        raise ConfigError(
            f"{what} has fractions outside 0..1 {outside}; each must be a number from 0 to 1. "
            "Use Cash for capital you do not want at risk."
        )
    total = sum(weights.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ConfigError(
            f"{what} sums to {total:.6f}, not 1. Capital fractions must sum to 1; "
            "put any capital you do not want at risk on Cash."
        )


def encode(weights: dict[str, float], policy: str, ts: int) -> RouterWeights:
    """Pack weights into a `RouterWeights` stamped at `ts` (UNIX ns).

    Raises ConfigError (`check_weights`) when the weights are not a capital split: the policy
    configured is broken, and must be fixed or replaced by a static one.
    """
    values = {str(name): float(w) for name, w in weights.items()}
    check_weights(values, what=f"the decision of policy {policy!r}")
    return RouterWeights(ts_event=ts, ts_init=ts, weights_json=json.dumps(values), policy=policy)


def decode(data: RouterWeights) -> dict[str, float]:
    """The strategy name -> capital fraction mapping carried by `data`."""
    return {name: float(w) for name, w in json.loads(data.weights_json).items()}
