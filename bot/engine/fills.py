"""The fills frame of a backtest (schema in `bot.core.metrics`), from nautilus's fills report."""

import pandas as pd

FILL_COLUMNS = ["ts", "strategy", "side", "qty", "price", "commission", "reason"]


def fills_frame(report: pd.DataFrame | None, reasons: dict[str, str] | None = None) -> pd.DataFrame:
    """`report` (`trader.generate_fills_report()`) as one row per execution; None or an empty
    report give an empty frame with the same columns. `reason` is the rule that sent the fill's
    order (`reasons`, by client order id: `RoutedStrategy.order_reasons`), "" when unknown."""
    if report is None or report.empty:
        return pd.DataFrame(columns=FILL_COLUMNS)
    reasons = reasons or {}
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(report["ts_event"], utc=True),
            "strategy": report["strategy_id"].str.rsplit("-", n=1).str[0],
            "side": report["order_side"],
            "qty": report["last_qty"].astype(float),
            "price": report["last_px"].astype(float),
            "commission": report["commission"].str.split().str[0].astype(float),
            "reason": [reasons.get(str(cid), "") for cid in report.index],
        }
    ).reset_index(drop=True)[FILL_COLUMNS]
