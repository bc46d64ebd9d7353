"""The report a person reads after a backtest or evaluation: a tear sheet.

`write_report` fills a folder with:
- metrics.json: title, benchmark, flags, the simulation's conventions (fill price, sizing,
  costs) and every run's metrics (`bot.core.metrics.summarize`);
- metrics.txt: the same table `format_table` prints;
- tearsheet.json: alpha and beta, yearly and monthly returns, the worst drawdowns and PnL per
  strategy and expert of each policy (`bot.core.tearsheet`), and its trade count;
- trades.csv: every policy's closed trades with the rules that opened and closed them;
- PNGs (`bot.core.report_png`): equity, weights, candles, returns, rolling, pnl;
- orders.csv, fills.csv: the first policy's, as the engine reported them;
- index.html: the tear sheet, flags first, with zoomable plotly charts (`bot.core.report_charts`,
  plotly.min.js beside it, so it opens offline) and links to the PNGs and data.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from bot.core.errors import ConfigError
from bot.core.report_png import save
from bot.core.saved_meta import saved_kind

IMAGES = ("equity", "weights", "candles", "returns", "rolling", "pnl")

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
    ("exposure", "InMkt%", 100, "{:.1f}"),
    ("gross_exposure", "Gross%", 100, "{:.1f}"),
    ("trades", "Fills", 1, "{:.0f}"),
    ("win_rate", "Win%", 100, "{:.1f}"),
)
# Time in market against capital at work: the one explanation of the two exposure columns, for
# the terminal's notes and the page's legend.
EXPOSURE_NOTE = (
    "InMkt% (time in market): the share of bars with any position open. Gross% (gross exposure): "
    "the value of all positions (long plus short) as a share of equity, averaged over bars."
)
# What the table's less obvious columns mean, printed under it (`bot backtest`).
TABLE_NOTES = "\n".join(
    (
        "Costs: commissions paid over the span, in the currency its header names; slippage is "
        "in the fill prices, not here.",
        "Turnover: traded notional per year over the average equity (2.0: bought and sold once).",
        f"{EXPOSURE_NOTE} Fills: executions.",
        "Win%: closed round trips with a positive PnL.",
    )
)
# The same columns with their units written out, for the page ({currency}: the account's).
TITLES = {
    "total_return": "Total return %",
    "cagr": "CAGR % per year",
    "volatility": "Volatility % (annualised)",
    "sharpe": "Sharpe (annualised, risk-free 0)",
    "sortino": "Sortino (annualised)",
    "max_drawdown": "Max drawdown % of peak",
    "calmar": "Calmar (CAGR / max drawdown)",
    "turnover": "Turnover (traded / average equity, per year)",
    "costs": "Costs ({currency})",
    "exposure": "Time in market % of bars",
    "gross_exposure": "Gross exposure % of equity, time-averaged",
    "trades": "Fills (executions)",
    "win_rate": "Win % of closed trades",
}
LEGEND = (
    f"{EXPOSURE_NOTE} A run can be in the market all of the time with a much lower gross "
    "exposure when the router keeps much of its capital in cash or in strategies that are flat."
)
MISSING = "n/a"  # a metric that was not measured (None), e.g. trades of buy-and-hold


@dataclass(frozen=True)
class PolicyRun:
    """One policy's details for the report, beside its equity column.

    - `weights`: one column per strategy, one row per router decision (UTC index), rows
      summing to 1; None or empty without a router (the plot then says so).
    - `fills`: the `bot.core.metrics` fills schema (a `reason` column names the rules);
      `orders`: the engine's orders report.
    - `pnl`: each strategy's cumulative PnL (account currency) per bar, or None.
    - `in_sample`: the (start, end) its model learned from, shaded on the charts, or None.
    """

    name: str
    weights: pd.DataFrame | None
    fills: pd.DataFrame
    orders: pd.DataFrame
    pnl: pd.DataFrame | None = None
    in_sample: tuple[pd.Timestamp, pd.Timestamp] | None = None


def text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Left-aligned text columns under `header`, two spaces apart."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def format_table(rows: dict[str, dict[str, float | None]], currency: str = "") -> str:
    """A fixed-width text table: a header line, then one line per run, in the given order.

    Columns are `COLUMNS` ("Costs" gets the `currency`, e.g. "Costs(USD)"); a missing or None
    metric shows as "n/a".
    """
    titles = [f"{t}({currency})" if k == "costs" and currency else t for k, t, _, _ in COLUMNS]
    header = ["run", *titles]
    body = [[name, *cells(metrics)] for name, metrics in rows.items()]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *body]
    )


def cells(metrics: dict[str, float | None]) -> list[str]:
    """A run's metrics formatted as `COLUMNS` says."""
    return [
        MISSING if metrics.get(key) is None else fmt.format(metrics[key] * scale)
        for key, _, scale, fmt in COLUMNS
    ]


def check_output_folder(path: Path, option: str, replaces: str | None = None) -> Path:
    """`path`, once it is clear that a folder can be made there: a path through a file, where
    this user may not write, or a folder holding a saved model or dataset (`saved_kind`) stops
    the command before its work (ConfigError), not after. `replaces`: the kind of saved folder
    the command itself writes there whole (a `bot train` output), which is allowed. Nothing is
    created."""
    found = saved_kind(path)
    if found is not None and found != replaces:
        raise ConfigError(
            f"{option} {path} holds a {found}, which this command would damage. Choose a new "
            f"or empty folder, or delete {path} first if you no longer need it."
        )
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option} {path} is not a folder: {existing} is a file. Name a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: no permission to write in {existing}. Name another.")
    return path


def write_report(
    out_dir: Path,
    *,
    title: str,
    metrics: dict[str, dict[str, float | None]],
    equity: pd.DataFrame,
    runs: list[PolicyRun],
    bars: pd.DataFrame,
    flags: list[str],
    benchmark: str = "buy_and_hold",
    simulation: dict[str, object] | None = None,
    experts: dict[str, str] | None = None,
    currency: str = "",
    periods_per_year: int = 252,
) -> Path:
    """Write the report folder and return the path of its index.html.

    - `metrics`: run name -> `summarize` output, in table order.
    - `equity`: one column per run (the policies of `runs` first) plus the `benchmark` column,
      in account currency, on a UTC DatetimeIndex; a run may be NaN where it has no value.
    - `runs`: each policy's details (`PolicyRun`), the first one's fills and orders as CSV.
    - `bars`: the traded OHLCV bars (open, high, low, close, volume; UTC index).
    - `flags`: warnings to show first, such as a strategy that failed.
    - `simulation`: how fills were simulated (fill price, sizing, costs), shown under the title.
    - `experts`: strategy -> expert, which groups weights and PnL; `currency`: of the account.
    """
    from bot.core.report_page import write_tearsheet  # empyrical and plotly: only when writing

    out_dir.mkdir(parents=True, exist_ok=True)
    simulation = simulation or {}
    summary = {"title": title, "benchmark": benchmark, "flags": flags, "simulation": simulation}
    (out_dir / "metrics.json").write_text(json.dumps(summary | {"metrics": metrics}, indent=2))
    (out_dir / "metrics.txt").write_text(format_table(metrics, currency) + "\n")
    runs[0].fills.to_csv(out_dir / "fills.csv", index=False)
    runs[0].orders.to_csv(out_dir / "orders.csv")
    return write_tearsheet(
        out_dir,
        title=title,
        metrics=metrics,
        equity=equity,
        runs=runs,
        bars=bars,
        flags=flags,
        benchmark=benchmark,
        simulation=simulation,
        experts=experts or {},
        currency=currency,
        periods_per_year=periods_per_year,
    )


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
    save(fig, path)
