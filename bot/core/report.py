"""The report a person reads after a backtest or evaluation.

`write_report` fills a folder with:
- metrics.json: title, benchmark, flags, the simulation's conventions (fill price, sizing,
  costs) and every run's metrics (`bot.core.metrics.summarize`);
- metrics.txt: the same table `format_table` prints;
- equity.png: each run's equity normalised to 1 against the benchmark, drawdowns below;
- weights.png: the router's capital fractions per strategy as a stacked area;
- candles.png: the last `CANDLE_BARS` bars with volume, moving averages and the fills;
- orders.csv, fills.csv: as the engine reported them;
- index.html: a static page that shows all of the above, flags first.
"""

import html
import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mplfinance as mpf  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bot.core.metrics import daily_equity  # noqa: E402

logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # mplfinance's font noise

CANDLE_BARS = 250  # candles stay readable only up to a few hundred: show the last ones
MAX_CURVE_POINTS = 5000  # longer (intraday) equity curves are plotted at daily closes
IMAGES = ("equity", "weights", "candles")
DPI = 100

# (metric key, column title, scale, format)
COLUMNS = (
    ("total_return", "TR%", 100, "{:.2f}"),
    ("cagr", "CAGR%", 100, "{:.2f}"),
    ("volatility", "Vol%", 100, "{:.2f}"),
    ("sharpe", "Sharpe", 1, "{:.2f}"),
    ("sortino", "Sortino", 1, "{:.2f}"),
    ("max_drawdown", "MDD%", 100, "{:.2f}"),
    ("calmar", "Calmar", 1, "{:.2f}"),
    ("turnover", "Turnover", 1, "{:.2f}"),
    ("costs", "Costs", 1, "{:.2f}"),
    ("exposure", "Exposure%", 100, "{:.1f}"),
    ("gross_exposure", "Gross%", 100, "{:.1f}"),
    ("trades", "Trades", 1, "{:.0f}"),
    ("win_rate", "Win%", 100, "{:.1f}"),
)
# What the table's less obvious columns mean, printed under it (`bot backtest`).
TABLE_NOTES = "\n".join(
    (
        "Costs: commissions paid over the span, in the instrument's quote currency (USD for "
        "equities and indices); slippage is in the fill prices, not here.",
        "Turnover: traded notional per year over the average equity (2.0: bought and sold once).",
        "Exposure%: share of bars with any position open (time in the market). Gross%: mean "
        "value of the positions as a share of equity (capital at work).",
        "Win%: closed round trips with a positive PnL.",
    )
)
MISSING = "n/a"  # a metric that was not measured (None), e.g. trades of buy-and-hold


def text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Left-aligned text columns under `header`, two spaces apart."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def format_table(rows: dict[str, dict[str, float | None]]) -> str:
    """A fixed-width text table: a header line, then one line per run, in the given order.

    Columns are `COLUMNS`; a missing or None metric shows as "n/a".
    """
    header = ["run", *(title for _, title, _, _ in COLUMNS)]
    body = [[name, *_cells(metrics)] for name, metrics in rows.items()]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *body]
    )


def write_report(
    out_dir: Path,
    *,
    title: str,
    metrics: dict[str, dict[str, float | None]],
    equity: pd.DataFrame,
    weights: pd.DataFrame | None,
    bars: pd.DataFrame,
    fills: pd.DataFrame,
    orders: pd.DataFrame,
    flags: list[str],
    benchmark: str = "buy_and_hold",
    simulation: dict[str, object] | None = None,
) -> Path:
    """Write the report folder and return the path of its index.html.

    - `metrics`: run name -> `summarize` output, in table order.
    - `equity`: one column per run (the primary run first) plus the `benchmark` column, in
      account currency, on a UTC DatetimeIndex; a run may be NaN where it has no value.
    - `weights`: one column per strategy, one row per router decision (UTC index), rows summing
      to 1; None or empty when the run had no router (the plot then says so).
    - `bars`: the traded OHLCV bars (open, high, low, close, volume; UTC index).
    - `fills`: the `bot.core.metrics` fills schema; `orders`: the engine's orders report.
    - `flags`: warnings to show first, such as a strategy that failed.
    - `simulation`: how fills were simulated (fill price, sizing, costs), shown under the title.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    simulation = simulation or {}
    summary = {"title": title, "benchmark": benchmark, "flags": flags, "simulation": simulation}
    (out_dir / "metrics.json").write_text(json.dumps(summary | {"metrics": metrics}, indent=2))
    (out_dir / "metrics.txt").write_text(format_table(metrics) + "\n")
    fills.to_csv(out_dir / "fills.csv", index=False)
    orders.to_csv(out_dir / "orders.csv")
    _plot_equity(equity, benchmark, out_dir / "equity.png")
    _plot_weights(weights, equity.index, out_dir / "weights.png")
    _plot_candles(bars, fills, out_dir / "candles.png")
    index = out_dir / "index.html"
    index.write_text(_html(title, metrics, flags, simulation))
    return index


def plot_method_bars(
    average: dict[str, dict[str, float | None]], highlight: str, path: Path
) -> None:
    """Horizontal bars of each method's mean Sharpe and total return, `highlight` in red."""
    names = list(average)
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.3 * len(names) + 1.5), sharey=True)
    for ax, key in zip(axes, ("sharpe", "total_return"), strict=True):
        values = [average[name][key] or 0.0 for name in names]
        colors = ["tab:red" if name == highlight else "tab:gray" for name in names]
        ax.barh(names, values, color=colors)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_title(f"mean {key.replace('_', ' ')}")
    axes[0].invert_yaxis()
    _save(fig, path)


def _cells(metrics: dict[str, float | None]) -> list[str]:
    return [
        MISSING if metrics.get(key) is None else fmt.format(metrics[key] * scale)
        for key, _, scale, fmt in COLUMNS
    ]


def _plot_equity(equity: pd.DataFrame, benchmark: str, path: Path) -> None:
    curves = equity.ffill().dropna(how="all")
    if len(curves) > MAX_CURVE_POINTS:
        curves = daily_equity(curves)
    normalised = curves / curves.bfill().iloc[0]
    drawdown = (normalised / normalised.cummax() - 1.0) * 100
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for rank, column in enumerate(normalised.columns):
        if column == benchmark:
            style = {"color": "black", "linestyle": "--", "linewidth": 1.0}
        else:
            style = {"linewidth": 1.8 if rank == 0 else 1.0, "zorder": 3 if rank == 0 else 2}
        line = top.plot(normalised.index, normalised[column], label=column, **style)[0]
        bottom.plot(drawdown.index, drawdown[column], **{**style, "linewidth": 0.9})
        if rank == 0 and column != benchmark:
            bottom.fill_between(
                drawdown.index, drawdown[column], 0, color=line.get_color(), alpha=0.2
            )
    top.axhline(1.0, color="grey", linewidth=0.6)
    top.set_ylabel("equity (start = 1)")
    top.set_title("equity against buy-and-hold" if benchmark in curves else "equity")
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    _dates_on(bottom)
    _save(fig, path)


def _plot_weights(weights: pd.DataFrame | None, span: pd.DatetimeIndex, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.set_title("router weights per strategy (capital fractions)")
    if weights is None or weights.empty:
        ax.text(0.5, 0.5, "no router decisions in this run", ha="center", va="center")
        ax.set_axis_off()
    else:
        held = _until_end(weights, span)
        colors = plt.get_cmap("tab20").colors[: len(held.columns)]  # 11 strategies, no repeats
        # A decision's weights hold until the next one: draw steps.
        ax.stackplot(held.index, held.T.to_numpy(), labels=held.columns, colors=colors, step="post")
        ax.set_ylim(0, 1)
        ax.set_xlim(held.index[0], held.index[-1])
        ax.set_ylabel("capital fraction")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, reverse=True)
        _dates_on(ax)
    _save(fig, path)


def _until_end(weights: pd.DataFrame, span: pd.DatetimeIndex) -> pd.DataFrame:
    # Repeat the last decision at the end of the run, so that the final window shows too.
    if not len(span) or span[-1] <= weights.index[-1]:
        return weights
    last = weights.iloc[[-1]].set_axis([span[-1]])
    return pd.concat([weights, last])


def _plot_candles(bars: pd.DataFrame, fills: pd.DataFrame, path: Path) -> None:
    shown = bars.tail(CANDLE_BARS)
    # Markers sit just outside the candle (buys below the low, sells above the high) so that
    # they never hide it; fills.csv has the exact prices.
    low, high = float(shown["low"].min()), float(shown["high"].max())
    gap = 0.015 * (high - low)
    lines = []
    for side, level, marker, color in (
        ("BUY", shown["low"] - gap, "^", "tab:green"),
        ("SELL", shown["high"] + gap, "v", "tab:red"),
    ):
        traded = _traded_bars(fills, side, shown.index)
        if traded.any():
            where = np.where(traded, level, np.nan)
            lines.append(
                mpf.make_addplot(where, type="scatter", marker=marker, color=color, markersize=30)
            )
    # Averages over the whole history, so they start at the chart's left edge.
    averages = [n for n in (10, 20) if len(bars) >= n]
    for n, color in zip(averages, ("tab:blue", "tab:orange"), strict=False):
        average = bars["close"].rolling(n).mean().tail(CANDLE_BARS).to_numpy()
        lines.append(mpf.make_addplot(average, color=color, width=0.9))
    naive = shown.set_axis(shown.index.tz_localize(None))  # mplfinance wants a naive index
    with plt.rc_context():  # mplfinance styles change the global rcParams: keep them here
        fig, _ = mpf.plot(
            naive,
            type="candle",
            volume=bool(naive["volume"].sum() > 0),  # FX bars carry no volume
            addplot=lines,
            style="yahoo",
            ylim=(low - 2.5 * gap, high + 2.5 * gap),
            axtitle=f"last {len(shown)} bars (UTC), "
            + "".join(f"MA{n}, " for n in averages)
            + "^ buy  v sell",
            datetime_format="%Y-%m-%d",
            figsize=(11, 6),
            tight_layout=True,
            returnfig=True,
            warn_too_much_data=CANDLE_BARS + 1,
        )
        _save(fig, path)


def _traded_bars(fills: pd.DataFrame, side: str, index: pd.DatetimeIndex) -> np.ndarray:
    # A fill belongs to the last bar stamped at or before it (strategies trade on the bar they
    # just saw); fills before the first shown bar are dropped.
    traded = np.zeros(len(index), dtype=bool)
    if not len(fills):
        return traded
    stamps = pd.DatetimeIndex(fills["ts"][fills["side"].astype(str).str.upper() == side])
    position = index.searchsorted(stamps, side="right") - 1
    traded[position[position >= 0]] = True
    return traded


def _dates_on(ax: plt.Axes) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _save(fig: plt.Figure, path: Path) -> None:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)  # a sweep writes many reports: never keep figures alive


def _html(
    title: str,
    metrics: dict[str, dict[str, float | None]],
    flags: list[str],
    simulation: dict[str, object],
) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for t in ["run", *(c[1] for c in COLUMNS)])
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{cell}</td>" for cell in _cells(values))
        + "</tr>"
        for name, values in metrics.items()
    )
    warnings = "".join(f"<li>{html.escape(flag)}</li>" for flag in flags)
    box = f'<div class="flags"><b>Warnings</b><ul>{warnings}</ul></div>' if flags else ""
    sim = "; ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in simulation.items())
    box += f"<p>Simulation: {sim}</p>" if sim else ""
    images = "".join(f'<h2>{name}</h2><img src="{name}.png" alt="{name}">' for name in IMAGES)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}
.flags{{background:#fff3cd;border:1px solid #e0a800;padding:0.5em 1em;margin:1em 0}}
img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1>{box}
<table><tr>{head}</tr>{rows}</table>
<p>Data: <a href="metrics.json">metrics.json</a>, <a href="metrics.txt">metrics.txt</a>,
<a href="fills.csv">fills.csv</a>, <a href="orders.csv">orders.csv</a></p>{images}</body></html>
"""
