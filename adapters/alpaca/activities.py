"""Alpaca's FILL account activities, every page of them (blocking: run it in a thread)."""

from typing import Any

import pandas as pd
from alpaca.trading.client import TradingClient

FILLS_PATH = "/account/activities/FILL"
FILL_PAGE = 100  # Alpaca's largest page


def fill_activities(
    client: TradingClient, after: pd.Timestamp | None, page_size: int = FILL_PAGE
) -> list[dict[str, Any]]:
    """Every FILL activity after `after` (all when None), oldest first. A full page may have
    another after it, asked for with the id of its last row as `page_token`."""
    params: dict[str, Any] = {"direction": "asc", "page_size": page_size}
    if after is not None:
        params["after"] = pd.Timestamp(after).isoformat()
    rows: list[dict[str, Any]] = []
    while True:
        page = client.get(FILLS_PATH, params)
        rows.extend(page)
        if len(page) < page_size:
            return rows
        params["page_token"] = page[-1]["id"]
