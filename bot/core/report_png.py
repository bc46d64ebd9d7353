"""The report's static charts (PNG, matplotlib and mplfinance), for people and tests.

Every chart that shows policies shows each of them: a `--compare` run gets one weights panel and
one candle panel per policy. Strategies are coloured by expert, one colour family per expert
(`expert_colours`), so eleven strategies read as four groups.
"""

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mplfinance as mpf  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from bot.core.metrics import daily_equity  # noqa: E402

logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # mplfinance's font noise

CANDLE_BARS = 250  # candles stay readable only up to a few hundred: show the last ones
MAX_CURVE_POINTS = 5000  # longer (intraday) equity curves are plotted at daily closes
DPI = 100
_FAMILIES = ("Blues", "Oranges", "Greens", "Purples", "Greys")  # one per expert, in table order
IN_SAMPLE_COLOUR = "#f0c36d"


def expert_colours(strategies: list[str], experts: dict[str, str]) -> dict[str, str]:
    """A colour per strategy: shades of one family per expert (in order of first appearance;
    strategies without an expert share the last, grey, family)."""
    groups: dict[str, list[str]] = {}
    for name in strategies:
        groups.setdefault(experts.get(name, ""), []).append(name)
    colours = {}
    for rank, (expert, names) in enumerate(groups.items()):
        family = plt.get_cmap(_FAMILIES[min(rank, 3)] if expert else _FAMILIES[-1])
        for shade, name in zip(np.linspace(0.85, 0.45, len(names)), names, strict=True):
            colours[name] = to_hex(family(shade))
    return colours


def normalised(equity: pd.DataFrame) -> pd.DataFrame:
    """Each curve over its first value (daily closes when the curve is long and intraday)."""
    curves = equity.ffill().dropna(how="all")
    if len(curves) > MAX_CURVE_POINTS:
        curves = daily_equity(curves)
    return curves / curves.bfill().iloc[0]


def plot_equity(equity: pd.DataFrame, benchmark: str, in_sample, path: Path) -> None:
    """All curves on a log scale, the policies alone on their own scale, and the drawdowns."""
    curves = normalised(equity)
    drawdown = (curves / curves.cummax() - 1.0) * 100
    fig, (top, own, bottom) = plt.subplots(
        3, 1, figsize=(11, 8.5), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1.3]}
    )
    for rank, column in enumerate(curves.columns):
        style = _line_style(rank, column == benchmark)
        line = top.plot(curves.index, curves[column], label=column, **style)[0]
        if column != benchmark:
            own.plot(curves.index, curves[column], color=line.get_color(), **style)
        bottom.plot(drawdown.index, drawdown[column], **{**style, "linewidth": 0.9})
        if rank == 0 and column != benchmark:
            bottom.fill_between(
                drawdown.index, drawdown[column], 0, color=line.get_color(), alpha=0.2
            )
    top.set_yscale("log")
    for axis in (top.yaxis.set_major_formatter, top.yaxis.set_minor_formatter):
        axis(FuncFormatter(lambda value, _: f"{value:g}"))  # 2, not 2 x 10^0
    top.set_ylabel("equity (start = 1, log)")
    top.set_title("equity against buy-and-hold" if benchmark in curves else "equity")
    top.legend(loc="upper left", fontsize=8)
    own.set_ylabel("policies only (start = 1)")
    bottom.set_ylabel("drawdown %")
    for ax in (top, own, bottom):
        ax.grid(alpha=0.3)
        shade_in_sample(ax, in_sample)
    _dates_on(bottom)
    save(fig, path)


def shade_in_sample(ax: plt.Axes, in_sample) -> None:
    """Shade each (policy, start, end) span a model learned from."""
    for policy, start, end in in_sample:
        ax.axvspan(start, end, color=IN_SAMPLE_COLOUR, alpha=0.25, label=f"in sample: {policy}")


def plot_weights(runs, span: pd.DatetimeIndex, experts: dict[str, str], path: Path) -> None:
    """One stacked-area panel of router weights per policy, strategies coloured by expert."""
    fig, axes = plt.subplots(
        len(runs),
        1,
        figsize=(11, 1.2 + 2.8 * len(runs)),
        squeeze=False,
        gridspec_kw={"hspace": 0.4},
    )
    for ax, run in zip(axes[:, 0], runs, strict=True):
        ax.set_title(f"{run.name}: router weights per strategy (capital fractions)", fontsize=10)
        if run.weights is None or run.weights.empty:
            ax.text(0.5, 0.5, "no router decisions in this run", ha="center", va="center")
            ax.set_axis_off()
            continue
        held = until_end(run.weights, span)
        colours = expert_colours(list(held.columns), experts)
        labels = [f"{experts.get(c, '-')}: {c}" for c in held.columns]
        # A decision's weights hold until the next one: draw steps.
        ax.stackplot(
            held.index,
            held.T.to_numpy(),
            labels=labels,
            colors=[colours[c] for c in held.columns],
            step="post",
        )
        ax.set_ylim(0, 1)
        ax.set_xlim(held.index[0], held.index[-1])
        ax.set_ylabel("capital fraction")
        _dates_on(ax)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles[::-1], labels[::-1], loc="center left", bbox_to_anchor=(0.91, 0.5))
    save(fig, path)


def until_end(weights: pd.DataFrame, span: pd.DatetimeIndex) -> pd.DataFrame:
    """`weights` with the last decision repeated at the end of the run, so its window shows."""
    if not len(span) or span[-1] <= weights.index[-1]:
        return weights
    last = weights.iloc[[-1]].set_axis([span[-1]])
    return pd.concat([weights, last])


def plot_candles(bars: pd.DataFrame, runs, path: Path) -> None:
    """The last `CANDLE_BARS` bars with MA10/20, one panel per policy with its fills."""
    shown = bars.tail(CANDLE_BARS)
    naive = shown.set_axis(shown.index.tz_localize(None))  # mplfinance wants a naive index
    averages = [n for n in (10, 20) if len(bars) >= n]
    with plt.rc_context():  # mplfinance styles change the global rcParams: keep them here
        fig = mpf.figure(style="yahoo", figsize=(11, 1 + 4.5 * len(runs)))
        fig.subplots_adjust(hspace=0.45)
        for rank, run in enumerate(runs):
            ax = fig.add_subplot(len(runs), 1, rank + 1)
            lines = _markers(shown, run.fills, ax) + [
                mpf.make_addplot(
                    bars["close"].rolling(n).mean().tail(CANDLE_BARS).to_numpy(),
                    color=colour,
                    width=0.9,
                    ax=ax,
                )  # averages over the whole history, so they start at the chart's left edge
                for n, colour in zip(averages, ("tab:blue", "tab:orange"), strict=False)
            ]
            mpf.plot(
                naive,
                type="candle",
                ax=ax,
                addplot=lines,
                ylim=_candle_limits(shown),
                axtitle=f"{run.name}: last {len(shown)} bars (UTC), "
                + "".join(f"MA{n}, " for n in averages)
                + "^ buy  v sell",
                datetime_format="%Y-%m-%d",
                warn_too_much_data=CANDLE_BARS + 1,
            )
        save(fig, path)


def _candle_limits(shown: pd.DataFrame) -> tuple[float, float]:
    low, high = float(shown["low"].min()), float(shown["high"].max())
    gap = 0.015 * (high - low)
    return low - 2.5 * gap, high + 2.5 * gap


def _markers(shown: pd.DataFrame, fills: pd.DataFrame, ax) -> list[dict]:
    # Markers sit just outside the candle (buys below the low, sells above the high) so that
    # they never hide it; fills.csv has the exact prices.
    gap = 0.015 * (float(shown["high"].max()) - float(shown["low"].min()))
    lines = []
    for side, level, marker, colour in (
        ("BUY", shown["low"] - gap, "^", "tab:green"),
        ("SELL", shown["high"] + gap, "v", "tab:red"),
    ):
        traded = traded_bars(fills, side, shown.index)
        if traded.any():
            where = np.where(traded, level, np.nan)
            lines.append(
                mpf.make_addplot(
                    where, type="scatter", marker=marker, color=colour, markersize=30, ax=ax
                )
            )
    return lines


def traded_bars(fills: pd.DataFrame, side: str, index: pd.DatetimeIndex) -> np.ndarray:
    """Which bars of `index` had a fill on `side`: a fill belongs to the last bar stamped at or
    before it (strategies trade on the bar they just saw); earlier fills are dropped."""
    traded = np.zeros(len(index), dtype=bool)
    if not len(fills):
        return traded
    stamps = pd.DatetimeIndex(fills["ts"][fills["side"].astype(str).str.upper() == side])
    position = index.searchsorted(stamps, side="right") - 1
    traded[position[position >= 0]] = True
    return traded


def plot_returns(monthly: pd.DataFrame, yearly: pd.DataFrame, policy: str, path: Path) -> None:
    """The first policy's monthly returns as a heatmap, and every run's yearly returns."""
    fig, (heat, years) = plt.subplots(
        1, 2, figsize=(13, 1.6 + 0.45 * max(len(monthly), 4)), gridspec_kw={"width_ratios": [3, 2]}
    )
    values = monthly.to_numpy() * 100
    limit = max(float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0, 1e-9)
    heat.imshow(values, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            heat.text(col, row, f"{value:.1f}", ha="center", va="center", fontsize=7)
    heat.set_xticks(range(12), monthly.columns, fontsize=8)
    heat.set_yticks(range(len(monthly)), [str(y) for y in monthly.index], fontsize=8)
    heat.set_title(f"{policy}: monthly returns %")
    (yearly * 100).plot.barh(ax=years, width=0.8)
    years.axvline(0.0, color="black", linewidth=0.8)
    years.invert_yaxis()
    years.set_title("yearly returns %")
    years.legend(fontsize=7)
    save(fig, path)


def plot_rolling(rolling: dict[str, pd.DataFrame], benchmark: str, window: int, path: Path) -> None:
    """Each run's rolling Sharpe and volatility."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    for rank, (name, stats) in enumerate(rolling.items()):
        style = _line_style(rank, name == benchmark)
        top.plot(stats.index, stats["sharpe"], label=name, **style)
        bottom.plot(stats.index, stats["volatility"] * 100, **style)
    top.axhline(0.0, color="grey", linewidth=0.6)
    top.set_ylabel(f"Sharpe, {window} days")
    top.set_title(f"rolling {window}-day Sharpe and volatility (annualised)")
    top.legend(loc="upper left", fontsize=8)
    bottom.set_ylabel(f"volatility %, {window} days")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    _dates_on(bottom)
    save(fig, path)


def plot_pnl(pnl: dict[str, pd.Series], experts: dict[str, str], currency: str, path: Path):
    """Each policy's PnL per strategy, bars coloured by expert."""
    columns = min(len(pnl), 3)
    rows = -(-len(pnl) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(max(4 * columns + 1, 9), 4 * rows), squeeze=False, sharey=True
    )
    for ax, (policy, per_strategy) in zip(axes.flat, pnl.items(), strict=False):
        colours = expert_colours(list(per_strategy.index), experts)
        ax.barh(per_strategy.index, per_strategy.to_numpy(), color=list(colours.values()))
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_title(f"{policy}: PnL per strategy ({currency})", fontsize=9)
    axes[0, 0].invert_yaxis()
    for ax in list(axes.flat)[len(pnl) :]:
        ax.set_axis_off()
    save(fig, path)


def _line_style(rank: int, benchmark: bool) -> dict:
    if benchmark:
        return {"color": "black", "linestyle": "--", "linewidth": 1.0}
    return {"linewidth": 1.8 if rank == 0 else 1.0, "zorder": 3 if rank == 0 else 2}


def _dates_on(ax: plt.Axes) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def save(fig: plt.Figure, path: Path) -> None:
    """Write `fig` to `path` and close it (a sweep writes many reports: never keep figures)."""
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
