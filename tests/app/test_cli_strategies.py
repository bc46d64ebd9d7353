"""`bot strategies list` / `new`, and a strategy of your own joining the table (plug-ins)."""

from datetime import date

import pytest
from typer.testing import CliRunner

from bot.app.sweep import SweepConfig
from bot.core.errors import ConfigError, StrategyError
from bot.engine.backtest import run_backtest
from bot.engine.backtest_request import BacktestRequest
from bot.engine.policy import PolicySpec, build_policy
from strategies import STRATEGIES, build_strategies, strategy_names
from strategies.plugins import ENV, table
from tests.strategies import patterns
from tests.strategies.contract import check_contract
from tests.strategies.harness import bar_type_for, equity_instrument

runner = CliRunner()


@pytest.fixture
def my_trend(tmp_path, monkeypatch):
    """A strategy written by `bot strategies new` and registered through BOT_STRATEGIES."""
    result = runner.invoke(app(), ["strategies", "new", "MyTrend", "--expert", "trend",
                                   "--dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    monkeypatch.setenv(ENV, str(tmp_path / "my_trend.py"))
    return tmp_path


def app():
    from bot.app.cli import app as bot

    return bot


def test_list_shows_every_strategy_with_its_expert_and_own_parameters():
    result = runner.invoke(app(), ["strategies", "list"])

    assert result.exit_code == 0, result.output
    headers = [line for line in result.stdout.splitlines() if line and not line.startswith(" ")]
    assert [h.split()[0] for h in headers] == list(strategy_names())
    assert headers[4].startswith("RSI (reversal expert, built-in")
    rsi = result.stdout.split("\nRSI ", 1)[1].split("\n\n", 1)[0]
    rows = {line.split()[0]: " ".join(line.split()[1:]) for line in rsi.splitlines()[1:]}
    assert rows["rsi_period"] == "int > 0 14" and rows["oversold"] == "float > 0.0 35.0"
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")}
    internals = {"log_events", "order_id_tag", "oms_type", "instrument_id", "long_only"}
    assert "rsi_period" in listed and not listed & internals


def test_new_writes_a_template_that_keeps_the_contract_and_joins_the_table(my_trend):
    listed = runner.invoke(app(), ["strategies", "list", "MyTrend"])

    assert listed.stdout.startswith("MyTrend (trend expert, plug-in")
    assert "period" in listed.stdout and "band" in listed.stdout
    assert (my_trend / "test_my_trend.py").read_text().count("check_contract") == 2
    spec = table()[-1]
    assert spec.name == "MyTrend" and len(table()) == len(STRATEGIES) + 1
    check_contract(spec, equity_instrument(), patterns.regime())  # what its own test runs
    # A sweep may vary its own parameters, and names only those when asked for another.
    SweepConfig(strategy="MyTrend", grid={"period": (10, 20)})
    with pytest.raises(ConfigError, match=r"parameters are \['band', 'cash_reserve'"):
        SweepConfig(strategy="MyTrend", grid={"slow": (10, 20)})


def test_a_plug_in_trades_where_a_run_names_it_and_leaves_the_action_space_alone(my_trend):
    # Act
    result = run_backtest(
        BacktestRequest(
            symbol="SPX", policy="single:MyTrend", start=date(2019, 1, 1), end=date(2019, 6, 30)
        )
    )

    # Assert: it traded, alone
    assert set(result.fills["strategy"]) == {"MyTrend"}
    assert (result.weights["MyTrend"] == 1.0).all()
    # Models and the routing baselines keep the eleven built-in rows: what checkpoints record.
    stock = equity_instrument()
    assert [s.name for s in build_strategies(stock.id, bar_type_for(stock))] == list(
        strategy_names()
    )
    uniform = build_policy(PolicySpec("uniform")).decide()
    assert list(uniform.weights) == list(strategy_names())


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["RSI", "--expert", "trend"], "has a strategy 'RSI' already"),
        (["my_trend", "--expert", "trend"], "use a class name in CamelCase"),
        (["MyTrend", "--expert", "macro"], "choose one of trend, reversal, breakout, position"),
    ],
)
def test_new_refuses_bad_input(args, needle, tmp_path):
    result = runner.invoke(app(), ["strategies", "new", *args, "--dir", str(tmp_path)])

    assert result.exit_code == 2 and needle in result.output
    assert not list(tmp_path.iterdir())


def test_new_into_a_dir_through_a_file_is_refused_not_a_traceback(tmp_path):
    (tmp_path / "taken").write_text("a file, not a folder")

    result = runner.invoke(app(), ["strategies", "new", "MyTrend", "--expert", "trend",
                                   "--dir", str(tmp_path / "taken" / "sub")])  # fmt: skip

    assert result.exit_code == 2, result.output
    assert "--dir" in result.output and "is a file. Name a folder." in result.output
    assert (tmp_path / "taken").read_text() == "a file, not a folder"


def test_new_never_overwrites(my_trend):
    again = runner.invoke(app(), ["strategies", "new", "MyTrend2", "--expert", "trend",
                                  "--dir", str(my_trend)])  # fmt: skip
    (my_trend / "my_trend3.py").write_text("# mine")
    refused = runner.invoke(app(), ["strategies", "new", "MyTrend3", "--expert", "trend",
                                    "--dir", str(my_trend)])  # fmt: skip

    assert again.exit_code == 0
    assert refused.exit_code == 2 and "nothing was overwritten" in refused.output
    assert (my_trend / "my_trend3.py").read_text() == "# mine"


def test_a_plug_in_that_breaks_the_tables_rules_is_refused_saying_what_to_fix(
    my_trend, monkeypatch
):
    source = (my_trend / "my_trend.py").read_text()
    (my_trend / "bad.py").write_text(source.replace('"MyTrend", "trend"', '"MyTrend", "macro"'))
    monkeypatch.setenv(ENV, str(my_trend / "bad.py"))

    with pytest.raises(StrategyError, match="names expert 'macro'; experts: trend"):
        table()
    monkeypatch.setenv(ENV, str(my_trend / "missing.py"))
    with pytest.raises(StrategyError, match="did not load: FileNotFoundError"):
        table()
