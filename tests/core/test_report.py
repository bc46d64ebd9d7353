"""The report folder: files, metrics.json round trip, html contents, readable images, speed;
the tear sheet's numbers against the metrics table."""

import json
import time
from dataclasses import replace

import matplotlib.pyplot as plt
import mplfinance as mpf
import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from bot.core import report_charts
from bot.core.errors import ConfigError
from bot.core.metrics import round_trips, summarize, win_rate
from bot.core.report import (
    COLUMNS,
    TITLES,
    PolicyRun,
    check_output_folder,
    format_table,
    write_report,
)
from bot.core.report_png import CANDLE_BARS
from strategies import STRATEGIES, strategy_names

NAMES = strategy_names()
EXPERTS = {spec.name: spec.expert for spec in STRATEGIES}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def synthetic_run(days: int = 2520, seed: int = 3) -> dict:
    """A made-up daily run: bars, two policies' equity, weights every 20 bars, fills, orders."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2014-01-01", periods=days, tz="UTC")
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.011, days)))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0, 0.005, (2, days)))
    bars = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * (1 + wick[0]),
            "low": np.minimum(open_, close) * (1 - wick[1]),
            "close": close,
            "volume": rng.uniform(1e6, 3e6, days),
        },
        index=index,
    )
    routed = 1e5 * np.exp(np.cumsum(rng.normal(0.0004, 0.006, days)))
    equity = pd.DataFrame(
        {
            "uniform": routed,
            "random": 1e5 * np.exp(np.cumsum(rng.normal(0.0, 0.008, days))),
            "buy_and_hold": 1e5 * close / close[0],
        },
        index=index,
    )
    decisions = index[::20]
    weights = pd.DataFrame(
        rng.dirichlet(np.ones(len(NAMES)), len(decisions)), index=decisions, columns=NAMES
    )
    traded = np.sort(rng.choice(days, min(600, days // 2), replace=False))
    fills = pd.DataFrame(
        {
            "ts": index[traded],
            "strategy": rng.choice(NAMES[:10], len(traded)),
            "side": rng.choice(["BUY", "SELL"], len(traded)),
            "qty": rng.uniform(1, 50, len(traded)).round(2),
            "price": close[traded],
            "commission": rng.uniform(0.5, 5.0, len(traded)).round(2),
            "reason": rng.choice(["golden cross", "ATR stop", "router weight 0%"], len(traded)),
        }
    )
    orders = pd.DataFrame(
        {"side": fills["side"], "quantity": fills["qty"], "status": "FILLED"},
        index=pd.Index([f"O-{i}" for i in range(len(fills))], name="client_order_id"),
    )
    exposure = pd.Series(rng.uniform(0, 1, days), index=index)
    pnl = pd.DataFrame(rng.normal(0, 100, (days, len(NAMES))).cumsum(axis=0), index, NAMES)
    metrics = {
        "uniform": summarize(equity["uniform"], fills=fills, exposure=exposure),
        "random": summarize(equity["random"]),
        "buy_and_hold": summarize(equity["buy_and_hold"]),
    }
    return {
        "title": "SYN 1d backtest",
        "metrics": metrics,
        "equity": equity,
        "runs": [
            PolicyRun("uniform", weights, fills, orders, pnl, (index[days // 8], index[days // 3])),
            PolicyRun("random", weights.iloc[::2], fills.iloc[::3], orders.iloc[::3]),
        ],
        "bars": bars,
        "flags": ["KDJ failed and was flattened: RuntimeError: <boom> & co"],
        "simulation": {"fill": "next bar's open", "fee_bps": 10.0},
        "experts": EXPERTS,
        "currency": "USD",
    }


@pytest.fixture(scope="module")
def run() -> dict:
    return synthetic_run()


@pytest.fixture(scope="module")
def year() -> dict:
    """A one-year run, for tests of what does not depend on the length (faster to write)."""
    return synthetic_run(days=300)


@pytest.fixture(scope="module")
def written(run, tmp_path_factory) -> dict:
    """The ten-year report, written once for the tests that only read it."""
    folder = tmp_path_factory.mktemp("report")
    figures, style = len(plt.get_fignums()), dict(plt.rcParams)
    started = time.perf_counter()
    index = write_report(folder, **run)
    return {
        "folder": folder,
        "index": index,
        "seconds": time.perf_counter() - started,
        "figures_left": len(plt.get_fignums()) - figures,
        "style_changed": dict(plt.rcParams) != style,
    }


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path.name
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_report_writes_every_file_with_content(written):
    folder = written["folder"]

    assert written["index"] == folder / "index.html"
    for name in ("metrics.json", "metrics.txt", "orders.csv", "fills.csv", "index.html"):
        assert (folder / name).stat().st_size > 0, name
    for name in ("tearsheet.json", "trades.csv", "plotly.min.js"):
        assert (folder / name).stat().st_size > 0, name
    assert (folder / "plotly.min.js").read_text(encoding="utf-8") == get_plotlyjs()
    for name in ("equity", "weights", "candles", "returns", "rolling", "pnl"):
        width, height = _png_size(folder / f"{name}.png")
        assert width >= 800 and height >= 350, name
        assert (folder / f"{name}.png").stat().st_size > 20_000, name  # not a blank canvas


def test_reports_share_one_plotly_js_where_the_file_system_allows(tmp_path):
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        folder.mkdir()
        report_charts.write_plotly_js(folder)
        report_charts.write_plotly_js(folder)  # a rewritten report replaces its link

    files = [(folder / report_charts.PLOTLY_JS).stat() for folder in folders]
    assert (folders[0] / report_charts.PLOTLY_JS).read_text(encoding="utf-8") == get_plotlyjs()
    if report_charts._PLOTLY_SOURCE.stat().st_dev == tmp_path.stat().st_dev:
        assert files[0].st_ino == files[1].st_ino == report_charts._PLOTLY_SOURCE.stat().st_ino


def test_ten_years_take_seconds_and_leave_no_figure_or_style_behind(written):
    assert written["seconds"] < 30.0  # about 4 s on an idle machine; 20 s with a load of 15
    assert written["figures_left"] == 0
    assert not written["style_changed"]  # mplfinance's style stays inside the candle chart


def test_metrics_json_and_txt_round_trip(run, written):
    saved = json.loads((written["folder"] / "metrics.json").read_text())

    assert saved == {
        "title": run["title"],
        "benchmark": "buy_and_hold",
        "flags": run["flags"],
        "simulation": run["simulation"],
        "metrics": run["metrics"],
    }
    assert list(saved["metrics"]) == ["uniform", "random", "buy_and_hold"]
    text = (written["folder"] / "metrics.txt").read_text()
    assert text == format_table(run["metrics"], "USD") + "\n"
    assert "Costs(USD)" in text.splitlines()[0]


def test_csvs_hold_the_fills_and_orders(run, written):
    fills = pd.read_csv(written["folder"] / "fills.csv", parse_dates=["ts"])
    orders = pd.read_csv(written["folder"] / "orders.csv", index_col=0)

    pd.testing.assert_frame_equal(fills, run["runs"][0].fills)
    assert list(orders.index) == list(run["runs"][0].orders.index)


def test_html_shows_flags_tables_and_interactive_charts_offline(run, written):
    page = written["index"].read_text()

    for name in ("equity", "weights", "candles", "returns", "rolling"):
        assert f'href="{name}.png"' in page
    assert 'src="pnl.png"' in page
    assert '<script src="plotly.min.js"></script>' in page
    assert 'src="http' not in page  # plotly.js ships in the folder: the page works offline
    assert page.count("Plotly.newPlot") == 5
    assert 'class="flags"' in page
    assert "KDJ failed and was flattened: RuntimeError: &lt;boom&gt; &amp; co" in page
    assert "Simulation: fill: next bar&#x27;s open; fee_bps: 10.0" in page
    for key, title in TITLES.items():
        assert f"<th>{title.format(currency='USD')}</th>" in page, key
    assert "Costs (USD)" in page and "InMkt% (time in market): the share of bars" in page
    assert "<td>buy_and_hold</td>" in page
    # Every policy gets its weights and candle panel (subplot titles) and its trade list.
    for policy in ("uniform", "random"):
        assert page.count(f'"text":"{policy}"') >= 2, policy
        assert f"<summary>{policy}: " in page
    assert "in sample: uniform" in page


def test_tearsheet_numbers_match_the_metrics(run, written):
    sheet = json.loads((written["folder"] / "tearsheet.json").read_text())
    trades = pd.read_csv(written["folder"] / "trades.csv")
    uniform = run["runs"][0]

    for name, metrics in run["metrics"].items():
        yearly = [v for v in (row[name] for row in sheet["yearly"].values()) if v is not None]
        assert np.prod(1 + np.array(yearly)) - 1 == pytest.approx(metrics["total_return"])
    for year, months in sheet["monthly"].items():
        compounded = np.prod([1 + v for v in months.values() if v is not None]) - 1
        assert compounded == pytest.approx(sheet["yearly"][year]["uniform"])
    for name in ("uniform", "random"):
        worst = sheet["drawdowns"][name][0]["depth"]
        assert worst == pytest.approx(run["metrics"][name]["max_drawdown"])
    assert set(sheet["alpha_beta"]) == {"uniform", "random"}
    mine = trades[trades["policy"] == "uniform"]
    assert sheet["trades"]["uniform"] == len(mine) == len(round_trips(uniform.fills))
    assert (mine["pnl"] > 0).mean() == pytest.approx(win_rate(uniform.fills))
    assert set(mine["open_reason"]) <= {"golden cross", "ATR stop", "router weight 0%"}
    strategy = pd.Series(sheet["pnl"]["uniform"]["strategy"])
    assert strategy.to_dict() == pytest.approx(uniform.pnl.iloc[-1].to_dict())
    expert = sheet["pnl"]["uniform"]["expert"]
    assert list(expert) == ["trend", "reversal", "breakout", "position"]
    assert expert["trend"] == pytest.approx(strategy[["MACross", "Momentum", "Turtle"]].sum())
    assert sheet["pnl"]["random"] == {"strategy": {}, "expert": {}}


@pytest.mark.parametrize("weights", [None, pd.DataFrame()])
def test_run_without_router_or_flags_still_gets_a_weights_plot(year, tmp_path, weights):
    runs = [replace(year["runs"][0], weights=weights)]
    page = write_report(tmp_path, **{**year, "runs": runs, "flags": []}).read_text()

    assert _png_size(tmp_path / "weights.png")[0] >= 800
    assert 'href="weights.png"' in page
    assert 'class="flags"' not in page


def test_short_run_with_few_bars_and_no_fills_or_volume(run, tmp_path):
    bars = run["bars"].head(15).assign(volume=0.0)
    first = run["runs"][0]
    short = {
        **run,
        "bars": bars,
        "equity": run["equity"].head(15),
        "runs": [
            replace(
                first,
                weights=first.weights.head(1),
                fills=first.fills.iloc[:0],
                orders=first.orders.iloc[:0],
                pnl=first.pnl.head(15),
            )
        ],
    }

    write_report(tmp_path, **short)

    assert _png_size(tmp_path / "candles.png")[0] >= 800
    assert pd.read_csv(tmp_path / "fills.csv").empty
    assert pd.read_csv(tmp_path / "trades.csv").empty


def test_intraday_curve_is_plotted(run, tmp_path):
    minutes = pd.date_range("2024-01-01", periods=20_000, freq="15min", tz="UTC")
    rng = np.random.default_rng(0)
    equity = pd.DataFrame(
        {"uniform": 1e5 * np.exp(np.cumsum(rng.normal(0, 1e-3, len(minutes))))}, index=minutes
    )
    runs = [replace(run["runs"][0], weights=None, pnl=None, in_sample=None)]

    write_report(tmp_path, **{**run, "equity": equity, "runs": runs})

    assert _png_size(tmp_path / "equity.png")[0] >= 800


def test_candles_show_only_the_last_bars_for_every_policy(year, tmp_path, monkeypatch):
    shown = []
    real_plot = mpf.plot

    def spy(data, **kwargs):
        shown.append({"index": data.index, "addplot": kwargs["addplot"]})
        return real_plot(data, **kwargs)

    monkeypatch.setattr("bot.core.report_png.mpf.plot", spy)

    write_report(tmp_path, **year)

    assert len(shown) == len(year["runs"])  # one panel per policy
    for panel, policy in zip(shown, year["runs"], strict=True):
        assert len(panel["index"]) == CANDLE_BARS
        assert panel["index"][-1] == year["bars"].index[-1].tz_localize(None)
        buys, sells = (plot["data"] for plot in panel["addplot"] if plot["type"] == "scatter")
        bars = year["bars"].tail(CANDLE_BARS)
        fills = policy.fills
        bought = bars.index.isin(fills.loc[fills["side"] == "BUY", "ts"])
        assert np.array_equal(np.isfinite(buys), bought)
        assert np.all(buys[bought] < bars["low"].to_numpy()[bought])  # below the candle
        assert np.array_equal(
            np.isfinite(sells), bars.index.isin(fills.loc[fills["side"] == "SELL", "ts"])
        )
        averages = [plot["data"] for plot in panel["addplot"] if plot["type"] == "line"]
        assert len(averages) == 2 and all(np.isfinite(line[0]) for line in averages)


def test_table_has_one_row_per_run_in_order_with_aligned_columns(run):
    table = format_table(run["metrics"])

    lines = table.splitlines()
    assert [line.split()[0] for line in lines] == ["run", "uniform", "random", "buy_and_hold"]
    assert len({len(line) for line in lines}) == 1  # fixed width
    assert lines[0].split()[1:] == [title for _, title, _, _ in COLUMNS]


def test_table_scales_and_formats_values():
    metrics = dict.fromkeys((key for key, _, _, _ in COLUMNS), 0.0)
    metrics.update(total_return=0.1234, sharpe=1.5, trades=42.0, win_rate=None)

    cells = format_table({"p": metrics}).splitlines()[1].split()

    assert cells[1] == "12.34"  # TR% in percent
    assert cells[4] == "1.50"  # Sharpe as is
    assert cells[-2] == "42"
    assert cells[-1] == "n/a"  # not measured


@pytest.mark.parametrize(
    ("meta", "holds"),
    [
        ({"format": 1, "model_config": {}, "extra": {}}, "a checkpoint"),
        ({"format": 1, "kind": "lgbm", "extra": {}}, "a LightGBM router"),
        ({"config": {}, "config_hash": "ab12"}, "a dataset"),
    ],
)
def test_an_output_folder_holding_a_saved_model_or_dataset_is_refused(tmp_path, meta, holds):
    # Arrange: e.g. `bot evaluate --out models/daily-equities`
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "meta.json").write_text(json.dumps(meta))

    # Act
    with pytest.raises(ConfigError) as refused:
        check_output_folder(folder, "--out")

    # Assert
    assert f"--out {folder} holds {holds}" in str(refused.value)
    assert "Choose a new or empty folder" in str(refused.value)
    assert [p.name for p in folder.iterdir()] == ["meta.json"]


def test_an_output_folder_may_hold_what_the_command_itself_replaces(tmp_path):
    # `bot train ppo --out models/daily-equities` rewrites the checkpoint there whole
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "meta.json").write_text(json.dumps({"format": 1, "model_config": {}}))

    assert check_output_folder(folder, "--out", replaces="checkpoint") == folder
    assert check_output_folder(tmp_path / "new", "--out") == tmp_path / "new"
