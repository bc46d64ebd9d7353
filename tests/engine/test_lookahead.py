"""No look-ahead on the model path: a backtest routed by a model checkpoint decides and trades
the same up to a time t, whatever the bars after t hold.

Each run reads its bars from a catalog of its own; the second run's catalog holds the same bars
with every bar that closes after t reshaped. Decisions and bars are stamped at bar close, so
what is stamped at or before t was decided from bars up to t only. A fill stamped after t may
come from a decision at t (a market order filling at the next bar's open): only fills stamped
at or before t are compared, which holds under either fill convention of `bot.engine.sim`.
"""

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bot.core.observation
import bot.engine.router
from bot.engine.backtest import BacktestResult, run_backtest
from bot.engine.backtest_request import BacktestRequest
from bot.engine.data import load_bars, store_bars
from bot.engine.journal import Journal
from bot.model.checkpoint import init_checkpoint
from bot.model.policy import load_policy
from bot.model.router_model import ModelConfig

pytestmark = pytest.mark.integration

SYMBOL = "SPX"
DAY = pd.Timedelta(days=1)
# About 270 warm-up bars (the router needs REQUIRED_BARS = 250) and 104 traded bars.
STORED = (date(2017, 12, 1), date(2019, 5, 31))
REQUEST = BacktestRequest(
    symbol=SYMBOL,
    start=date(2019, 1, 1),
    end=STORED[1],
    window=5,
    timeout_s=120.0,  # a shared, slow machine must not turn a decision into a fallback
    run_id="run",
)


@dataclass(frozen=True)
class Trace:
    """What a run did, each part indexed by the time it is stamped with."""

    decisions: pd.DataFrame  # weights, expert weights, regime probabilities, inputs hash
    orders: pd.DataFrame  # strategy, side, quantity, type; at submission
    fills: pd.DataFrame  # strategy, side, quantity, price, commission
    equity: pd.Series


PARTS = ("decisions", "orders", "fills", "equity")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained compact router, as `bot train init DIR` writes it."""
    return init_checkpoint(tmp_path_factory.mktemp("ckpt") / "untrained", ModelConfig())


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_bars(SYMBOL, start=STORED[0], end=STORED[1])


def _catalog(frame: pd.DataFrame, folder: Path) -> str:
    """A catalog of `frame` alone under `folder` (its run journals next to it)."""
    catalog = folder / "catalog"
    store_bars(frame, SYMBOL, "index", "1d", policy="strict", catalog_dir=catalog, adjusted=True)
    return str(catalog)


def _reshaped_after(frame: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    """`frame` with every bar closing after `cut` changed: prices 30% up with noise (rounded to
    the cent, so the catalog keeps the same precision), volume shuffled."""
    rng = np.random.default_rng(5)
    reshaped = frame.copy()
    later = reshaped.index[reshaped.index + DAY > cut]
    factor = 1.3 * np.exp(np.cumsum(rng.normal(0.0, 0.01, len(later))))
    for column in ("open", "high", "low", "close"):
        reshaped.loc[later, column] = (reshaped.loc[later, column] * factor).round(2)
    reshaped.loc[later, "volume"] = rng.permutation(reshaped.loc[later, "volume"].to_numpy())
    return reshaped


def _run(checkpoint: Path, catalog: str) -> Trace:
    journal = Path(catalog).parent / "journal.sqlite"
    request = replace(REQUEST, policy=f"model:{checkpoint}", catalog=catalog, journal=str(journal))
    result = run_backtest(request, load_policy)
    return Trace(
        decisions=_decisions(Journal(journal).decision_records(REQUEST.run_id)),
        orders=_orders(result),
        fills=result.fills.set_index("ts"),
        equity=result.equity,
    )


def _decisions(records) -> pd.DataFrame:
    rows = [
        {"fallback": r.fallback, "inputs_hash": r.inputs_hash}
        | {f"weight.{name}": value for name, value in r.weights.items()}
        | {f"expert.{name}": value for name, value in r.experts.items()}
        | {f"regime.{name}": value for name, value in (r.regime or {}).items()}
        for r in records
    ]
    return pd.DataFrame(rows, index=pd.DatetimeIndex([r.time for r in records], name="ts"))


def _orders(result: BacktestResult) -> pd.DataFrame:
    # What was sent, not how it filled: an order sent at t may fill at the next bar's open.
    orders = result.orders.reset_index().sort_values(["ts_init", "client_order_id"])
    orders.index = pd.DatetimeIndex(pd.to_datetime(orders["ts_init"], utc=True), name="ts")
    return orders[["client_order_id", "strategy_id", "side", "quantity", "type"]]


def _differences(a: Trace, b: Trace, *, until=None, after=None) -> dict[str, pd.Timestamp]:
    """Each part of two runs (decisions, orders, fills, equity) that is not bit-identical among
    its rows stamped at or before `until` (or, with `after`, later than it), with the time of
    its first differing row."""
    differing = {}
    for part in PARTS:
        left, right = getattr(a, part), getattr(b, part)
        if until is not None:
            left, right = left[left.index <= until], right[right.index <= until]
        if after is not None:
            left, right = left[left.index > after], right[right.index > after]
        if not left.equals(right):
            differing[part] = _first_difference(left, right)
    return differing


def _first_difference(left, right) -> pd.Timestamp:
    for i in range(min(len(left), len(right))):
        if not left.iloc[i : i + 1].equals(right.iloc[i : i + 1]):
            return min(left.index[i], right.index[i])
    return (left if len(left) > len(right) else right).index[min(len(left), len(right))]


def _cut(trace: Trace) -> pd.Timestamp:
    """The time t: a decision in the middle of the run, so both sides of it hold several."""
    return trace.decisions.index[len(trace.decisions) // 2]


def _peeking_one_bar_ahead(monkeypatch, catalog: str) -> None:
    """A deliberate leak: the router's observation at bar t also sees bar t+1 of the run's data."""
    frame = load_bars(SYMBOL, catalog_dir=catalog)
    honest = bot.core.observation.build_observation

    def peeking(history, stats, config, account):
        ahead = frame[frame.index > history.index[-1]].iloc[:1]
        return honest(pd.concat([history, ahead]), stats, config, account)

    monkeypatch.setattr(bot.engine.router, "build_observation", peeking)


def test_model_routed_backtest_up_to_t_is_unchanged_by_the_bars_after_t(tmp_path, checkpoint, bars):
    # Arrange
    base = _run(checkpoint, _catalog(bars, tmp_path / "original"))
    cut = _cut(base)

    # Act
    changed = _run(checkpoint, _catalog(_reshaped_after(bars, cut), tmp_path / "reshaped"))

    # Assert: the model decided every window itself, from observations it journalled
    assert not base.decisions["fallback"].any() and base.decisions["inputs_hash"].notna().all()
    assert (base.decisions.index <= cut).sum() >= 10 and (base.fills.index <= cut).sum() >= 20
    assert _differences(base, changed, until=cut) == {}
    # ... and the test is not vacuous: the model saw the reshaped bars after t
    assert _differences(base, changed, after=cut).keys() == set(PARTS)


def test_the_look_ahead_check_catches_a_router_peeking_one_bar_ahead(
    tmp_path, checkpoint, bars, monkeypatch
):
    # Arrange
    original = _catalog(bars, tmp_path / "original")
    _peeking_one_bar_ahead(monkeypatch, original)
    base = _run(checkpoint, original)
    cut = _cut(base)
    reshaped = _catalog(_reshaped_after(bars, cut), tmp_path / "reshaped")
    _peeking_one_bar_ahead(monkeypatch, reshaped)

    # Act
    changed = _run(checkpoint, reshaped)

    # Assert: the first decision to differ is the one at t, which saw bar t+1
    assert _differences(base, changed, until=cut)["decisions"] == cut
