"""The evaluation's bootstrap of Sharpe differences: paired days, and runs cut short."""

import numpy as np
import pandas as pd

from training.eval_stats import ROUTER, bootstrap_sharpe_diffs, table3


def _curve(days: int, seed: int) -> pd.Series:
    index = pd.date_range("2020-01-01", periods=days, freq="D", tz="UTC")
    returns = np.random.default_rng(seed).normal(0.0005, 0.01, days)
    return pd.Series(100_000 * np.cumprod(1 + returns), index=index)


def test_a_run_stopped_early_gets_no_difference_and_leaves_the_others_paired_span_whole():
    router, uniform, short = _curve(300, 0), _curve(300, 1), _curve(300, 2).iloc[:80]

    alone = bootstrap_sharpe_diffs(router, {"uniform": uniform})
    cut = bootstrap_sharpe_diffs(router, {"uniform": uniform, "rule": short}, cut={"rule"})
    paired = bootstrap_sharpe_diffs(router, {"uniform": uniform, "rule": short})

    assert cut["rule"][0] is None and len(cut["rule"][1]) == 0
    assert cut["uniform"][0] == alone["uniform"][0]
    np.testing.assert_array_equal(cut["uniform"][1], alone["uniform"][1])
    # Without the cut, every row is measured on the short run's 80 days only.
    assert paired["uniform"][0] != alone["uniform"][0]


def test_a_router_stopped_early_gives_no_row_a_difference():
    router, uniform = _curve(300, 0).iloc[:80], _curve(300, 1)

    diffs = bootstrap_sharpe_diffs(router, {"uniform": uniform}, cut={ROUTER})

    assert diffs["uniform"][0] is None and len(diffs["uniform"][1]) == 0
    rows = {"uniform": dict.fromkeys(("total_return", "sharpe", "max_drawdown"))}
    table = table3(rows, "BTCUSD", {"uniform": {"diff": None, "low": None, "high": None}})
    assert "n/a: stopped early" in table
