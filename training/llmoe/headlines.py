"""The user's news file: one or more dated headlines per day, validated before any use.

Format: CSV (or Parquet) with columns `date` and `headline`. Several rows may share a date;
their headlines are joined in file order. A headline dated on a day without a bar (a weekend or
holiday) belongs to the next trading day, the first close at which it was known. Days without
any headline are allowed: they are counted and the prompt says "no headline".
"""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bot.core.errors import ConfigError, DataError

SEPARATOR = " | "


@dataclass(frozen=True)
class Coverage:
    """How the headlines cover a span of trading days."""

    trading_days: int
    days_with_headlines: int
    missing_days: int
    headlines_outside_span: int

    def describe(self) -> str:
        """One line for the report."""
        return (
            f"{self.days_with_headlines} of {self.trading_days} trading days have headlines, "
            f"{self.missing_days} are missing; {self.headlines_outside_span} headlines fall "
            "outside the span"
        )


@dataclass(frozen=True)
class Headlines:
    """Validated headlines per calendar day (UTC midnight), in file order within a day."""

    path: str
    by_day: dict[pd.Timestamp, tuple[str, ...]]

    def align(self, days: pd.DatetimeIndex) -> tuple[dict[pd.Timestamp, str], Coverage]:
        """Headline text per trading day in `days` (UTC, daily bars), and the coverage.

        A headline goes to the first trading day on or after its date; one after the last
        trading day, or before the first by more than a week, is outside the span.
        """
        trading = pd.DatetimeIndex(days).normalize()
        joined: dict[pd.Timestamp, list[str]] = {}
        outside = 0
        for day, texts in sorted(self.by_day.items()):
            slot = trading.searchsorted(day)
            too_early = slot == 0 and (trading[0] - day) > pd.Timedelta(days=7)
            if slot >= len(trading) or too_early:
                outside += len(texts)
                continue
            joined.setdefault(days[slot], []).extend(texts)
        text = {day: SEPARATOR.join(items) for day, items in joined.items()}
        coverage = Coverage(len(days), len(text), len(days) - len(text), outside)
        return text, coverage


def load_headlines(path: str | Path) -> Headlines:
    """Read and validate a headlines file; a bad file raises DataError saying which rows."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"headlines file {path} does not exist. Pass a CSV with columns date,headline to "
            "--headlines, or leave the option out to route on numbers only."
        )
    raw = _read(path)
    missing = {"date", "headline"} - set(raw.columns)
    if missing:
        raise DataError(
            f"{path} lacks the column(s) {sorted(missing)}; it has {list(raw.columns)}. The file "
            "needs a header row with `date` and `headline`."
        )
    if raw.empty:
        raise DataError(f"{path} has a header but no headlines; add rows of date,headline.")
    dates = pd.to_datetime(raw["date"], errors="coerce", utc=True, format="mixed")
    _refuse(path, raw.index[dates.isna()], "dates that do not parse (use YYYY-MM-DD)")
    text = raw["headline"].fillna("").astype(str).str.strip()
    _refuse(path, raw.index[text == ""], "empty headlines (remove the row or write the text)")
    by_day: dict[pd.Timestamp, list[str]] = {}
    for day, headline in zip(dates.dt.normalize(), text, strict=True):
        by_day.setdefault(day, []).append(" ".join(headline.split()))
    return Headlines(str(path), {day: tuple(items) for day, items in by_day.items()})


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            raw = pd.read_parquet(path)
        else:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path} cannot be read as CSV or Parquet ({exc}). Save it as UTF-8 CSV with the "
            "columns date,headline."
        ) from None
    raw.columns = [str(column).strip().lower() for column in raw.columns]
    return raw


def _refuse(path: Path, bad: pd.Index, what: str) -> None:
    if len(bad):
        rows = ", ".join(str(i + 2) for i in bad[:5])  # +2: 1-based and the header line
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise DataError(f"{path} has {len(bad)} {what}: line(s) {rows}{more}.")
