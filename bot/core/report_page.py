"""The tear sheet of `bot.core.report.write_report`: statistics, charts and index.html.

Statistics come from `bot.core.tearsheet` (empyrical), the trade list from `bot.core.trades`;
each chart is a PNG (`bot.core.report_png`) and a zoomable plotly chart on the page
(`bot.core.report_charts`).
"""

import html
import json
from pathlib import Path

import pandas as pd

from bot.core import report_charts as charts
from bot.core import report_png as png
from bot.core.report import LEGEND, MISSING, TITLES, PolicyRun, cells
from bot.core.tearsheet import (
    ROLLING_DAYS,
    alpha_beta,
    daily_returns,
    monthly_returns,
    pnl_by,
    rolling_stats,
    worst_drawdowns,
    yearly_returns,
)
from bot.core.trades import TRADE_COLUMNS, trade_list

TRADES_SHOWN = 100  # the page shows each policy's last trades; trades.csv has them all
# Policies drawn side by side in the weights, candle and PnL charts: an evaluation's routers
# (model, uniform, best-expert, random, rule, momentum), not its eleven single strategies.
PANELS = 6


def write_tearsheet(out_dir: Path, **report) -> Path:
    """Write tearsheet.json, trades.csv, the PNGs, plotly.min.js and index.html."""
    runs: list[PolicyRun] = report["runs"]
    benchmark, experts, periods = report["benchmark"], report["experts"], report["periods_per_year"]
    equity: pd.DataFrame = report["equity"]
    returns = daily_returns(equity)
    first = runs[0].name
    stats = {
        "alpha_beta": alpha_beta(returns, benchmark, periods),
        "yearly": yearly_returns(returns),
        "monthly": monthly_returns(returns[first]),
        "drawdowns": {r.name: worst_drawdowns(returns[r.name]) for r in runs},
        "pnl": {r.name: pnl_by(r.pnl, experts) for r in runs},
        "rolling": {name: rolling_stats(returns[name], periods) for name in returns},
        "trades": {r.name: trade_list(r.fills) for r in runs},
    }
    in_sample = _in_sample(runs, equity.index)
    panels = runs[:PANELS]
    _write_data(out_dir, stats)
    png.plot_equity(equity, benchmark, in_sample, out_dir / "equity.png")
    png.plot_weights(panels, equity.index, experts, out_dir / "weights.png")
    png.plot_candles(report["bars"], panels, out_dir / "candles.png")
    png.plot_returns(stats["monthly"], stats["yearly"], first, out_dir / "returns.png")
    png.plot_rolling(stats["rolling"], benchmark, ROLLING_DAYS, out_dir / "rolling.png")
    per_strategy = {r.name: stats["pnl"][r.name][0] for r in panels if len(stats["pnl"][r.name][0])}
    if per_strategy:
        png.plot_pnl(per_strategy, experts, report["currency"] or "account", out_dir / "pnl.png")
    charts.write_plotly_js(out_dir)
    interactive = {
        "equity": charts.equity_chart(equity, benchmark, in_sample),
        "weights": charts.weights_chart(panels, equity.index, experts),
        "candles": charts.candles_chart(report["bars"], panels),
        "returns": charts.monthly_chart(stats["monthly"], first),
        "rolling": charts.rolling_chart(stats["rolling"], benchmark, ROLLING_DAYS),
    }
    index = out_dir / "index.html"
    index.write_text(_page(report, stats, interactive, bool(per_strategy)), encoding="utf-8")
    return index


def _in_sample(runs: list[PolicyRun], span: pd.DatetimeIndex) -> list[tuple]:
    # Each model's learned span cut to the charts' span; none where they do not overlap.
    shaded = []
    for run in runs:
        if run.in_sample is None or not len(span):
            continue
        start, end = max(run.in_sample[0], span[0]), min(run.in_sample[1], span[-1])
        if start < end:
            shaded.append((run.name, start, end))
    return shaded


def _write_data(out_dir: Path, stats: dict) -> None:
    tables = [t.assign(policy=name) for name, t in stats["trades"].items() if len(t)]
    columns = [*TRADE_COLUMNS, "policy"]
    trades = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    trades.to_csv(out_dir / "trades.csv", index=False)
    data = {
        "alpha_beta": stats["alpha_beta"],
        "yearly": _records(stats["yearly"]),
        "monthly": _records(stats["monthly"]),
        "drawdowns": {
            name: json.loads(table.to_json(orient="records", date_format="iso"))
            for name, table in stats["drawdowns"].items()
        },
        "pnl": {
            name: {"strategy": strategy.to_dict(), "expert": expert.to_dict()}
            for name, (strategy, expert) in stats["pnl"].items()
        },
        "trades": {name: len(table) for name, table in stats["trades"].items()},
    }
    (out_dir / "tearsheet.json").write_text(json.dumps(data, indent=2))


def _records(table: pd.DataFrame) -> dict:
    # {year: {column: value}}, NaN as null.
    return {
        str(year): {str(k): (None if pd.isna(v) else float(v)) for k, v in row.items()}
        for year, row in table.iterrows()
    }


def _page(report: dict, stats: dict, interactive: dict[str, str], with_pnl: bool) -> str:
    title = html.escape(report["title"])
    sections = [
        _flags(report["flags"], report["simulation"]),
        "<h2>Metrics</h2>" + _metrics_table(report, stats["alpha_beta"]),
        f'<p class="legend">{html.escape(LEGEND)}</p>',
        _panels_note(len(report["runs"])),
        _chart("equity", interactive),
        _chart("weights", interactive),
        _chart("returns", interactive),
        "<h3>Yearly returns %</h3>" + _frame(stats["yearly"] * 100, "{:.2f}"),
        _chart("rolling", interactive),
        "<h2>Worst drawdowns</h2>" + _side_by_side(stats["drawdowns"], _drawdowns),
        "<h2>PnL per strategy and expert</h2>"
        + ('<img src="pnl.png" alt="pnl">' if with_pnl else "")
        + _pnl_tables(stats["pnl"], report["currency"]),
        _chart("candles", interactive),
        "<h2>Trades</h2>" + _trades(stats["trades"]),
    ]
    links = ", ".join(
        f'<a href="{name}">{name}</a>'
        for name in ("metrics.json", "metrics.txt", "tearsheet.json", "trades.csv")
        + ("fills.csv", "orders.csv")
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<script src="{charts.PLOTLY_JS}"></script>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:0.5em 0}}
td,th{{border:1px solid #ccc;padding:3px 7px;text-align:right}}td:first-child{{text-align:left}}
th{{background:#f4f4f4}}.flags{{background:#fff3cd;border:1px solid #e0a800;padding:0.5em 1em;
margin:1em 0}}.legend{{color:#555;max-width:60em}}.side{{display:flex;flex-wrap:wrap;gap:2em}}
img{{max-width:100%}}.wide{{overflow-x:auto}}.wide table{{font-size:90%}}</style></head>
<body><h1>{title}</h1>{"".join(sections)}
<p>Data: {links}</p></body></html>
"""


def _panels_note(policies: int) -> str:
    if policies <= PANELS:
        return ""
    return (
        f"<p>The weights, candle and PnL charts show the first {PANELS} of {policies} "
        "policies; the tables show every one.</p>"
    )


def _flags(flags: list[str], simulation: dict) -> str:
    warnings = "".join(f"<li>{html.escape(flag)}</li>" for flag in flags)
    box = f'<div class="flags"><b>Warnings</b><ul>{warnings}</ul></div>' if flags else ""
    sim = "; ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in simulation.items())
    return box + (f"<p>Simulation: {sim}</p>" if sim else "")


def _metrics_table(report: dict, alpha_beta: dict) -> str:
    currency = report["currency"] or "account currency"
    heads = [TITLES[key].format(currency=currency) for key in TITLES]
    heads += ["Alpha % per year (vs benchmark)", "Beta (vs benchmark)"]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["run", *heads])
    rows = ""
    for name, values in report["metrics"].items():
        ab = alpha_beta.get(name, {})
        extra = [
            MISSING if ab.get("alpha") is None else f"{ab['alpha'] * 100:.2f}",
            MISSING if ab.get("beta") is None else f"{ab['beta']:.2f}",
        ]
        rows += f"<tr><td>{html.escape(name)}</td>"
        rows += "".join(f"<td>{c}</td>" for c in [*cells(values), *extra]) + "</tr>"
    return f'<div class="wide"><table><tr>{head}</tr>{rows}</table></div>'


def _chart(name: str, interactive: dict[str, str]) -> str:
    return f'{interactive[name]}<p>Static: <a href="{name}.png">{name}.png</a></p>'


def _frame(table: pd.DataFrame, fmt: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [table.index.name or "", *table])
    rows = "".join(
        f"<tr><td>{html.escape(str(index))}</td>"
        + "".join(f"<td>{MISSING if pd.isna(v) else fmt.format(v)}</td>" for v in row)
        + "</tr>"
        for index, row in zip(table.index, table.to_numpy(), strict=True)
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _side_by_side(tables: dict, render) -> str:
    blocks = "".join(
        f"<div><h3>{html.escape(name)}</h3>{render(table)}</div>" for name, table in tables.items()
    )
    return f'<div class="side">{blocks}</div>'


def _drawdowns(table: pd.DataFrame) -> str:
    day = {c: pd.to_datetime(table[c], utc=True).dt.strftime("%Y-%m-%d") for c in table.columns[:3]}
    shown = pd.DataFrame(
        {
            "peak": day["peak"],
            "trough": day["trough"],
            "recovered": day["recovery"].fillna("not yet"),
            "depth %": (table["depth"] * 100).map("{:.2f}".format),
            "days": table["days"].astype(str),
        }
    ).rename_axis("rank")
    shown.index = shown.index + 1
    return _frame(shown, "{}")


def _pnl_tables(pnl: dict, currency: str) -> str:
    unit = currency or "account currency"
    strategies = pd.DataFrame({name: per[0] for name, per in pnl.items()}).rename_axis("strategy")
    experts = pd.DataFrame({name: per[1] for name, per in pnl.items()}).rename_axis("expert")
    if strategies.empty:
        return "<p>No per-strategy PnL in these runs.</p>"
    return (
        f"<h3>Per expert ({html.escape(unit)})</h3>{_frame(experts, '{:,.2f}')}"
        f"<h3>Per strategy ({html.escape(unit)})</h3>{_frame(strategies, '{:,.2f}')}"
    )


def _trades(trades: dict[str, pd.DataFrame]) -> str:
    blocks = ""
    for name, table in trades.items():
        shown = table.tail(TRADES_SHOWN)
        shown = shown.assign(
            opened=pd.to_datetime(shown["opened"], utc=True).dt.strftime("%Y-%m-%d %H:%M"),
            closed=pd.to_datetime(shown["closed"], utc=True).dt.strftime("%Y-%m-%d %H:%M"),
        )
        blocks += (
            f"<details><summary>{html.escape(name)}: {len(table)} closed trades"
            f"{f', the last {TRADES_SHOWN} shown' if len(table) > TRADES_SHOWN else ''}"
            f"</summary>{_trade_rows(shown)}</details>"
        )
    return blocks + "<p>Positions still open at the end are not listed.</p>"


def _trade_rows(table: pd.DataFrame) -> str:
    formats = {"entry": "{:.4g}", "exit": "{:.4g}", "size": "{:.4g}", "pnl": "{:,.2f}"}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(formats[c].format(v) if c in formats else str(v))}</td>"
            for c, v in row.items()
        )
        + "</tr>"
        for _, row in table.iterrows()
    )
    return f"<table><tr>{head}</tr>{rows}</table>"
