"""The report a person looks at after a backtest or evaluation: a folder with metrics.json,
equity.png, weights.png, candles.png, orders.csv, fills.csv and an index.html showing them."""

import html
import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplfinance as mpf  # noqa: E402
import pandas as pd  # noqa: E402

logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # mplfinance's font noise
CANDLE_BARS = 250  # the candlestick chart shows the last bars only, so candles stay readable

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
    ("costs", "Costs", 1, "{:.0f}"),
    ("exposure", "Exposure%", 100, "{:.1f}"),
    ("trades", "Trades", 1, "{:.0f}"),
    ("win_rate", "Win%", 100, "{:.1f}"),
)


def format_table(rows: dict[str, dict[str, float]]) -> str:
    """A fixed-width text table, one row per run."""
    header = ["run", *(title for _, title, _, _ in COLUMNS)]
    body = [[name, *_cells(metrics)] for name, metrics in rows.items()]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *body]
    ]
    return "\n".join(lines)


def write_report(
    out_dir: Path,
    *,
    title: str,
    metrics: dict[str, dict[str, float]],
    equity: pd.DataFrame,
    weights: pd.DataFrame | None,
    bars: pd.DataFrame,
    fills: pd.DataFrame,
    orders: pd.DataFrame,
    flags: list[str],
) -> Path:
    """Write the report folder and return the path of its index.html.

    `equity`: one column per run (UTC index); `weights`: one column per strategy, one row per
    router decision; `bars`: OHLCV; `fills`: ts, strategy, side, qty, price, commission.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(
        json.dumps({"title": title, "flags": flags, "metrics": metrics}, indent=2)
    )
    fills.to_csv(out_dir / "fills.csv", index=False)
    orders.to_csv(out_dir / "orders.csv")
    _plot_equity(equity, out_dir / "equity.png")
    _plot_weights(weights, out_dir / "weights.png")
    _plot_candles(bars, fills, out_dir / "candles.png")
    index = out_dir / "index.html"
    index.write_text(_html(title, metrics, flags))
    return index


def _cells(metrics: dict[str, float]) -> list[str]:
    return [fmt.format(metrics.get(key, 0.0) * scale) for key, _, scale, fmt in COLUMNS]


def _plot_equity(equity: pd.DataFrame, path: Path) -> None:
    curves = equity.ffill().dropna(how="all")
    normalised = curves / curves.bfill().iloc[0]
    drawdown = normalised / normalised.cummax() - 1.0
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for column in normalised.columns:
        style = {"color": "black", "linestyle": "--"} if column == "buy_and_hold" else {}
        top.plot(normalised.index, normalised[column], label=column, linewidth=1.2, **style)
        bottom.plot(drawdown.index, drawdown[column] * 100, linewidth=0.9, **style)
    top.set_ylabel("equity (start = 1)")
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_weights(weights: pd.DataFrame | None, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(11, 4.5))
    if weights is None or weights.empty:
        ax.text(0.5, 0.5, "no router decisions in this run", ha="center", va="center")
        ax.set_axis_off()
    else:
        # Weights hold until the next decision: draw them as steps.
        ax.stackplot(weights.index, weights.T.to_numpy(), labels=weights.columns, step="post")
        ax.set_ylim(0, 1)
        ax.set_ylabel("capital fraction")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    ax.set_title("router weights per strategy")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_candles(bars: pd.DataFrame, fills: pd.DataFrame, path: Path) -> None:
    shown = bars.tail(CANDLE_BARS).copy()
    shown.index = shown.index.tz_localize(None)
    markers = []
    for side, marker, color in (("BUY", "^", "green"), ("SELL", "v", "red")):
        prices = _fill_prices(fills, side, bars.index).tail(CANDLE_BARS)
        prices.index = shown.index
        if prices.notna().any():
            markers.append(mpf.make_addplot(prices, type="scatter", marker=marker, color=color))
    fig, _ = mpf.plot(
        shown,
        type="candle",
        volume=True,
        mav=(10, 20),
        addplot=markers,
        style="yahoo",
        title=f"last {len(shown)} bars, buys (^) and sells (v)",
        figsize=(11, 6),
        returnfig=True,
    )
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _fill_prices(fills: pd.DataFrame, side: str, index: pd.DatetimeIndex) -> pd.Series:
    """Average fill price per bar for one side, aligned on the bars (NaN where none).
    Fills are stamped at the bar's close time; bars are indexed by open time."""
    mine = fills[fills["side"].astype(str).str.upper() == side] if len(fills) else fills
    if not len(mine):
        return pd.Series(float("nan"), index=index)
    position = index.searchsorted(pd.DatetimeIndex(mine["ts"]), side="right") - 1
    by_bar = mine.assign(bar=position).groupby("bar")["price"].mean()
    out = pd.Series(float("nan"), index=range(len(index)))
    out.loc[by_bar.index[by_bar.index >= 0]] = by_bar[by_bar.index >= 0]
    return pd.Series(out.to_numpy(), index=index)


def _html(title: str, metrics: dict[str, dict[str, float]], flags: list[str]) -> str:
    head = "".join(f"<th>{t}</th>" for t in ["run", *(c[1] for c in COLUMNS)])
    rows = "".join(
        "<tr><td>"
        + html.escape(name)
        + "</td>"
        + "".join(f"<td>{cell}</td>" for cell in _cells(values))
        + "</tr>"
        for name, values in metrics.items()
    )
    warnings = "".join(f"<li>{html.escape(flag)}</li>" for flag in flags)
    box = f'<div class="flags"><b>Warnings</b><ul>{warnings}</ul></div>' if flags else ""
    images = "".join(
        f'<h2>{name}</h2><img src="{name}.png" alt="{name}">'
        for name in ("equity", "weights", "candles")
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}
.flags{{background:#fff3cd;border:1px solid #e0a800;padding:0.5em 1em;margin:1em 0}}
img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1>{box}
<table><tr>{head}</tr>{rows}</table>
<p>Data: <a href="fills.csv">fills.csv</a>, <a href="orders.csv">orders.csv</a>,
<a href="metrics.json">metrics.json</a></p>{images}</body></html>
"""
