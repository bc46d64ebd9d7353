"""The fills frame of a backtest (schema in `bot.core.metrics`), from nautilus's fills report."""

import pandas as pd

FILL_COLUMNS = ["ts", "strategy", "side", "qty", "price", "commission", "reason"]


def fills_frame(report: pd.DataFrame | None, orders: pd.DataFrame | None = None) -> pd.DataFrame:
    """`report` (`trader.generate_fills_report()`) as one row per execution; None or an empty
    report give an empty frame with the same columns. `reason` is the first tag of the fill's
    order in `orders` (`trader.generate_orders_report()`): the rule that sent it
    (`strategies.base`), "" without one."""
    if report is None or report.empty:
        return pd.DataFrame(columns=FILL_COLUMNS)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(report["ts_event"], utc=True),
            "strategy": report["strategy_id"].str.rsplit("-", n=1).str[0],
            "side": report["order_side"],
            "qty": report["last_qty"].astype(float),
            "price": report["last_px"].astype(float),
            "commission": report["commission"].str.split().str[0].astype(float),
            "reason": _reasons(report.index, orders),
        }
    ).reset_index(drop=True)[FILL_COLUMNS]


def _reasons(order_ids: pd.Index, orders: pd.DataFrame | None) -> list[str]:
    if orders is None or orders.empty or "tags" not in orders:
        return [""] * len(order_ids)
    tags = orders["tags"].reindex(order_ids)
    return [str(t[0]) if isinstance(t, list) and t and t[0] else "" for t in tags]
