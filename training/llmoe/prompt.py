"""The router's prompt: one descriptive line per day of the 5-day window, then the question.

Each day's line holds the 11 Table 3 features in percent (one decimal) and, when a headlines
file is given, that day's headline (or "no headline"). Without a file the prompt says it is
numbers only, so the model is never left to guess why there is no news.
"""

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.llmoe.features import FEATURES, Samples

LABELS = ("Optimistic", "Pessimistic")
SYSTEM = (
    "You are a careful equity analyst. You judge the outlook of a stock for the next trading day "
    "from its recent daily data."
)
# A table (names once, one decimal) keeps the 5-day prompt near 400 tokens: the prompt's
# forward pass is the router's whole cost on CPU.
COLUMNS = "O/C H/C L/C Chg AdjChg MA5 MA10 MA15 MA20 MA25 MA30"
LEGEND = (
    "Each row is one day, t being today: in percent, open, high and low relative to the "
    "close (O/C, H/C, L/C), the change of the close and of the adjusted close from the day before "
    "(Chg, AdjChg), and each n-day moving average relative to the close (MAn; positive means "
    f"the price is below its average). Columns: {COLUMNS}."
)
NUMBERS_ONLY = "No news headlines are available: judge from the numbers only."
NO_HEADLINE = "no headline"
MAX_HEADLINE_CHARS = 300  # a day of many headlines stays a readable line


@dataclass(frozen=True)
class Prompt:
    """The chat messages for one window and their hash (the cache key's prompt part)."""

    day: pd.Timestamp
    messages: tuple[dict[str, str], ...]

    @property
    def digest(self) -> str:
        """sha256 of the messages as JSON."""
        return hashlib.sha256(json.dumps(self.messages).encode()).hexdigest()

    @property
    def user(self) -> str:
        """The user message: the day lines and the question."""
        return self.messages[-1]["content"]


def day_line(lag: int, values: np.ndarray, headline: str | None) -> str:
    """One day as a descriptive string: its lag (t-4 .. t), the 11 features in percent, and
    the headline if any. Lags, not dates, keep the line short and say what the model needs."""
    numbers = " ".join(f"{v * 100:+.1f}" for _, v in zip(FEATURES, values, strict=True))
    line = f"t-{lag}: {numbers}" if lag else f"t: {numbers}"
    if headline is not None:
        text = headline if len(headline) <= MAX_HEADLINE_CHARS else headline[:MAX_HEADLINE_CHARS]
        line += f". News: {text or NO_HEADLINE}"
    return line


def build_prompts(
    symbol: str,
    samples: Samples,
    trading_days: pd.DatetimeIndex,
    headlines: dict[pd.Timestamp, str] | None,
) -> list[Prompt]:
    """One prompt per sample. `trading_days` are the bars' days, so that the lines of a window
    carry the dates of its own days; `headlines` is None for numbers only."""
    window = samples.windows.shape[1]
    position = {day: i for i, day in enumerate(trading_days)}
    prompts = []
    for day, block in zip(samples.days, samples.windows, strict=True):
        end = position[day]
        days = trading_days[end - window + 1 : end + 1]
        lines = [
            day_line(window - 1 - i, row, None if headlines is None else headlines.get(d, ""))
            for i, (d, row) in enumerate(zip(days, block, strict=True))
        ]
        prompts.append(Prompt(day, _messages(symbol, lines, headlines is not None)))
    return prompts


def _messages(symbol: str, lines: list[str], with_news: bool) -> tuple[dict[str, str], ...]:
    news = "Each row ends with that day's news headline." if with_news else NUMBERS_ONLY
    user = "\n".join(
        [
            f"The last {len(lines)} trading days of {symbol}, oldest first. {LEGEND} {news}",
            *lines,
            f"Is the outlook for {symbol} on the next trading day {LABELS[0]} or {LABELS[1]}? "
            "Answer with one word.",
        ]
    )
    return ({"role": "system", "content": SYSTEM}, {"role": "user", "content": user})
