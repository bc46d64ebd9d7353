"""The report's interactive charts (plotly, zoomable), as HTML fragments for index.html.

They draw the same data as `bot.core.report_png`; plotly.js itself is written once into the
report folder (`write_plotly_js`) so the page works offline, without a CDN.
"""

import os
from pathlib import Path

import pandas as pd
import plotly
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from bot.core.report_png import (
    CANDLE_BARS,
    IN_SAMPLE_COLOUR,
    expert_colours,
    normalised,
    traded_bars,
    until_end,
)

PLOTLY_JS = "plotly.min.js"
_PLOTLY_SOURCE = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
_CONFIG = {"displaylogo": False, "responsive": True}
_PALETTE = qualitative.D3


def write_plotly_js(folder: Path) -> None:
    """plotly.js beside index.html, so the charts need no network: a hard link to plotly's own
    copy where the file system allows, as every report would otherwise hold 4.8 MB of it."""
    target = folder / PLOTLY_JS
    target.unlink(missing_ok=True)
    try:
        os.link(_PLOTLY_SOURCE, target)
    except OSError:  # another file system, or a plotly packaged otherwise
        target.write_text(get_plotlyjs(), encoding="utf-8")


def equity_chart(equity: pd.DataFrame, benchmark: str, in_sample) -> str:
    """All curves (log scale), the policies on their own scale, and the drawdowns."""
    curves = normalised(equity)
    drawdown = (curves / curves.cummax() - 1.0) * 100
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, row_heights=[0.5, 0.3, 0.2], vertical_spacing=0.03
    )
    traces, rows = [], []
    for rank, column in enumerate(curves.columns):
        line = _line(rank, column == benchmark)
        traces += [_scatter(curves[column], column, line, group=column)]
        traces += [_scatter(drawdown[column], column, line, column, False)]
        rows += [1, 3]
        if column != benchmark:
            traces.append(_scatter(curves[column], column, line, column, False))
            rows.append(2)
    fig.add_traces(traces, rows=rows, cols=1)
    fig.update_yaxes(type="log", title_text="equity (start = 1, log)", row=1, col=1)
    fig.update_yaxes(title_text="policies only", row=2, col=1)
    fig.update_yaxes(title_text="drawdown %", row=3, col=1)
    _shade(fig, in_sample, rows=3)
    return _html(fig, 760, "equity against buy-and-hold")


def weights_chart(runs, span: pd.DatetimeIndex, experts: dict[str, str]) -> str:
    """One stacked step-area panel of router weights per policy, coloured by expert."""
    fig = make_subplots(
        rows=len(runs), cols=1, shared_xaxes=True, subplot_titles=[r.name for r in runs]
    )
    shown, traces, rows = set(), [], []
    for row, run in enumerate(runs, start=1):
        if run.weights is None or run.weights.empty:
            continue
        held = until_end(run.weights, span)
        colours = expert_colours(list(held.columns), experts)
        for column in held.columns:
            label = f"{experts.get(column, '-')}: {column}"
            traces.append(
                go.Scatter(
                    x=_x(held.index),
                    y=held[column].to_numpy(),
                    name=label,
                    legendgroup=label,
                    showlegend=label not in shown,
                    stackgroup=f"w{row}",
                    line={"shape": "hv", "width": 0, "color": colours[column]},
                    fillcolor=colours[column],
                )
            )
            rows.append(row)
            shown.add(label)
        fig.update_yaxes(range=[0, 1], title_text="capital fraction", row=row, col=1)
    if traces:
        fig.add_traces(traces, rows=rows, cols=1)
    return _html(fig, 160 + 260 * len(runs), "router weights per strategy, grouped by expert")


def candles_chart(bars: pd.DataFrame, runs) -> str:
    """The last `CANDLE_BARS` bars with each policy's buys and sells, one panel per policy."""
    shown = bars.tail(CANDLE_BARS)
    fig = make_subplots(
        rows=len(runs), cols=1, shared_xaxes=True, subplot_titles=[r.name for r in runs]
    )
    x, traces, rows = _x(shown.index), [], []
    ohlc = {name: shown[name].to_numpy() for name in ("open", "high", "low", "close")}
    for row, run in enumerate(runs, start=1):
        traces.append(go.Candlestick(x=x, **ohlc, showlegend=False))
        rows.append(row)
        for side, price, symbol, colour in (
            ("BUY", ohlc["low"], "triangle-up", "green"),
            ("SELL", ohlc["high"], "triangle-down", "red"),
        ):
            traded = traded_bars(run.fills, side, shown.index)
            traces.append(
                go.Scatter(
                    x=x[traded],
                    y=price[traded],
                    mode="markers",
                    marker={"symbol": symbol, "color": colour, "size": 9},
                    name=side.lower(),
                    showlegend=row == 1,
                )
            )
            rows.append(row)
    fig.add_traces(traces, rows=rows, cols=1)
    fig.update_xaxes(rangeslider_visible=False)
    return _html(fig, 120 + 330 * len(runs), f"last {len(shown)} bars (UTC) with the fills")


def monthly_chart(monthly: pd.DataFrame, policy: str) -> str:
    """The first policy's monthly returns % as a heatmap."""
    values = monthly * 100
    fig = go.Figure(
        go.Heatmap(
            z=values.to_numpy(),
            x=list(values.columns),
            y=[str(y) for y in values.index],
            colorscale="RdYlGn",
            zmid=0,
            text=values.map(lambda v: "" if pd.isna(v) else f"{v:.1f}").to_numpy(),
            texttemplate="%{text}",
            colorbar={"title": "%"},
        )
    )
    fig.update_yaxes(autorange="reversed")
    return _html(fig, 140 + 28 * len(values), f"{policy}: monthly returns %")


def rolling_chart(rolling: dict[str, pd.DataFrame], benchmark: str, window: int) -> str:
    """Each run's rolling Sharpe and volatility %."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05)
    traces = []
    for rank, (name, stats) in enumerate(rolling.items()):
        line = _line(rank, name == benchmark)
        traces += [_scatter(stats["sharpe"], name, line, name)]
        traces += [_scatter(stats["volatility"] * 100, name, line, name, False)]
    fig.add_traces(traces, rows=[1, 2] * len(rolling), cols=1)
    fig.update_yaxes(title_text="Sharpe", row=1, col=1)
    fig.update_yaxes(title_text="volatility %", row=2, col=1)
    return _html(fig, 520, f"rolling {window}-day Sharpe and volatility (annualised)")


def _scatter(series: pd.Series, name: str, line: dict, group: str, legend: bool = True):
    return go.Scatter(
        x=_x(series.index),
        y=series.to_numpy(),
        name=name,
        legendgroup=group,
        showlegend=legend,
        line=line,
        mode="lines",
    )


def _x(index: pd.DatetimeIndex):
    # Naive UTC datetime64: plotly serialises it as an array, not Timestamp by Timestamp.
    return index.tz_convert("UTC").tz_localize(None).to_numpy()


def _line(rank: int, benchmark: bool) -> dict:
    if benchmark:
        return {"color": "black", "dash": "dash", "width": 1}
    # One colour per run in every panel (plotly would give each trace the next colour).
    return {"width": 2 if rank == 0 else 1, "color": _PALETTE[rank % len(_PALETTE)]}


def _shade(fig: go.Figure, in_sample, rows: int) -> None:
    for policy, start, end in in_sample:
        for row in range(1, rows + 1):  # named once, in the top panel
            text = (
                {"annotation_text": f"in sample: {policy}", "annotation_position": "top left"}
                if row == 1
                else {}
            )
            fig.add_vrect(
                x0=start.tz_convert(None),  # naive UTC, as the traces' x (`_x`)
                x1=end.tz_convert(None),
                fillcolor=IN_SAMPLE_COLOUR,
                opacity=0.25,
                line_width=0,
                row=row,
                col=1,
                **text,
            )


def _html(fig: go.Figure, height: int, title: str) -> str:
    fig.update_layout(
        title=title, height=height, margin={"l": 60, "r": 20, "t": 50, "b": 30}, hovermode="x"
    )
    return fig.to_html(full_html=False, include_plotlyjs=False, config=_CONFIG)
