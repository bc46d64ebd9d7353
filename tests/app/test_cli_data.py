"""`bot data ...` through Typer's CliRunner, on real bundled data, a crafted bad file and a fake
Binance."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.engine.catalog import BarCatalog
from bot.engine.data import dataset_asset_class, load_bars
from tests.fakes.binance import FakeBinance
from tests.fakes.faults import FaultPlan, HttpFault
from tests.fakes.server import serve_in_thread
from tests.support.series import SyntheticHistory

pytestmark = pytest.mark.e2e

BAD_FILE = Path(__file__).parents[1] / "data" / "bad_bars.csv"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT__DATA__CATALOG", str(tmp_path / "catalog"))
    monkeypatch.setenv("BOT__LOGGING__FORMAT", "json")


def test_list_shows_real_instruments_across_classes():
    result = runner.invoke(app, ["data", "list"])

    assert result.exit_code == 0
    rows = [line.split() for line in result.output.splitlines()[1:]]
    available = [row for row in rows if row[5].isdigit() and int(row[5]) > 200]
    assert len({row[0] for row in available}) >= 12
    assert {row[2] for row in available} >= {"index", "equity", "crypto", "fx"}
    spx = next(row for row in rows if row[0] == "SPX")
    assert spx[3:5] == ["1982-04-20", "2024-06-26"]


def test_check_strict_names_first_bad_row():
    result = runner.invoke(
        app, ["data", "check", str(BAD_FILE), "--asset-class", "equity", "--policy", "strict"]
    )

    assert result.exit_code == 3
    assert "line 5" in result.output or "row" in result.output
    assert "--policy repair" in result.output
    assert "Traceback" not in result.output


def test_check_repair_reports_every_defect():
    result = runner.invoke(
        app, ["data", "check", str(BAD_FILE), "--asset-class", "equity", "--policy", "repair"]
    )

    assert result.exit_code == 0
    checks = ("non_finite", "non_positive", "ohlc", "duplicate", "unsorted", "gap", "weekend")
    for check in (*checks, "zero_open", "split"):
        assert f"  {check}: " in result.output, check


def test_import_then_load_from_catalog(tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text(
        "date,open,high,low,close,volume\n"
        "2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,11,10,10.8,120\n"
        "2024-01-04,10.8,11.2,10.6,11,90\n"
    )

    result = runner.invoke(
        app, ["data", "import", str(csv), "--symbol", "MINE", "--asset-class", "equity"]
    )
    frame = load_bars("MINE", catalog_dir=tmp_path / "catalog")

    assert result.exit_code == 0, result.output
    assert frame["close"].tolist() == [10.5, 10.8, 11.0]
    assert "MINE" in runner.invoke(app, ["data", "list"]).output


def test_import_under_repair_reports_the_dropped_row_and_the_gap_it_leaves(tmp_path):
    csv = tmp_path / "btc.csv"
    csv.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-06T00:00:00Z,100,101,99,100.5,10\n2024-01-06T01:00:00Z,100.5,102,100,101,11\n"
        "2024-01-06T02:00:00Z,101,,100.5,101.5,12\n2024-01-06T03:00:00Z,101.5,102,101,101.8,9\n"
    )

    options = "--symbol BTCUSD --asset-class crypto --bar 1h".split()

    result = runner.invoke(app, ["data", "import", str(csv), *options])

    assert result.exit_code == 0, result.output
    assert "Rows dropped or changed (1):" in result.output
    assert "  2024-01-06 02:00 non_finite: dropped row (missing or non-numeric value in high)" in (
        result.output
    )
    assert "  2024-01-06 01:00 -> 2024-01-06 03:00: 1 bar(s) missing" in result.output
    assert "--policy strict" in result.output
    assert "Stored BTCUSD 1h" in result.output


WEEKEND_DAYS = (
    "date,open,high,low,close,volume\n"
    "2024-01-06,100,101,99,100.5,10\n2024-01-07,100.5,102,100,101,11\n"
    "2024-01-08,101,102,100.5,101.5,12\n"
)
HOURS = (
    "timestamp,open,high,low,close,volume\n"
    "2024-01-08T15:00:00Z,100,101,99,100.5,10\n2024-01-08T16:00:00Z,100.5,102,100,101,11\n"
)


def _import_crypto_days_then_hours_as(tmp_path, asset_class: str):
    days, hours = tmp_path / "days.csv", tmp_path / "hours.csv"
    days.write_text(WEEKEND_DAYS)
    hours.write_text(HOURS)
    crypto = "--symbol BTCUSD --asset-class crypto --bar 1d".split()
    assert runner.invoke(app, ["data", "import", str(days), *crypto]).exit_code == 0
    options = ["--symbol", "BTCUSD", "--asset-class", asset_class, "--bar", "1h"]
    return runner.invoke(app, ["data", "import", str(hours), *options])


def test_import_of_hourly_bars_as_daily_ones_is_refused_and_writes_nothing(tmp_path):
    # Arrange: a day of hourly bars under the default --bar 1d was stored as one "daily" bar,
    # the day's last hour, the other 23 rows dropped as duplicates (exit 0).
    hours = tmp_path / "hours.csv"
    rows = [f"2024-01-08T{h:02d}:00:00Z,100,101,99,100.5,10" for h in range(24)]
    hours.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")

    # Act
    result = runner.invoke(
        app, ["data", "import", str(hours), "--symbol", "BTCUSD", "--asset-class", "crypto"]
    )

    # Assert
    assert result.exit_code == 2, result.output
    assert "1 hour(s) apart (the median step), finer than --bar 1d" in result.output
    assert "Pass --bar 1h" in result.output and "nothing was written" in result.output
    assert not (tmp_path / "catalog").exists()


def test_import_at_another_size_as_another_class_is_refused_and_changes_nothing(tmp_path):
    # Arrange: a symbol's bar sizes share one instrument, so this import used to turn the 1d
    # crypto bars into equity bars (their weekend days then dropped as closed sessions).
    catalog_dir = tmp_path / "catalog"

    # Act
    result = _import_crypto_days_then_hours_as(tmp_path, "equity")

    # Assert
    assert result.exit_code == 2, result.output
    assert "BTCUSD is in the catalog" in result.output
    assert "as crypto (1d bars), not equity" in result.output
    assert "Use --asset-class crypto, or store them under another symbol name" in result.output
    assert "Traceback" not in result.output
    catalog = BarCatalog(catalog_dir)
    assert catalog.asset_class("BTCUSD") == "crypto"
    assert catalog.bar_sizes("BTCUSD") == ["1d"]
    assert len(load_bars("BTCUSD", "1d", catalog_dir=catalog_dir)) == 3  # weekend kept


def test_import_at_another_size_as_the_same_class_is_stored(tmp_path):
    catalog_dir = tmp_path / "catalog"

    result = _import_crypto_days_then_hours_as(tmp_path, "crypto")

    assert result.exit_code == 0, result.output
    assert BarCatalog(catalog_dir).bar_sizes("BTCUSD") == ["1h", "1d"]
    assert dataset_asset_class("BTCUSD", "1d", catalog_dir=catalog_dir) == "crypto"
    assert len(load_bars("BTCUSD", "1h", catalog_dir=catalog_dir)) == 2


def test_check_of_a_file_with_an_absurd_price_names_the_line_and_the_limit(tmp_path):
    # Arrange: the split check used to describe this row as a 300-digit percentage move.
    csv = tmp_path / "absurd.csv"
    csv.write_text(
        "date,open,high,low,close,volume\n"
        "2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,11,10,10.8,120\n"
        "2024-01-04,1e300,1e300,1e300,1e300,90\n2024-01-05,11,11.2,10.6,11,90\n"
    )

    # Act
    result = runner.invoke(app, ["data", "check", str(csv), "--asset-class", "equity"])

    # Assert
    assert result.exit_code == 3, result.output
    assert "(out_of_range) at line 4" in result.output
    assert "open 1e+300 is outside the range the engine can hold" in result.output
    assert "%" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["data", "list"],
        ["data", "check", "SPX"],
        ["data", "import", "CSV", *"--symbol MINE --asset-class equity".split()],
    ],
    ids=["list", "check", "import"],
)
def test_a_catalog_that_is_a_file_is_refused_naming_it(tmp_path, monkeypatch, command):
    # Arrange: without the check, list and check fell back to the built-in data without a
    # word, and import died in a NotADirectoryError traceback.
    taken = tmp_path / "catalog-file"
    taken.write_text("a file, not a folder")
    csv = tmp_path / "mine.csv"
    csv.write_text("date,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,100\n")
    monkeypatch.setenv("BOT__DATA__CATALOG", str(taken))

    # Act
    result = runner.invoke(app, [str(csv) if arg == "CSV" else arg for arg in command])

    # Assert
    assert result.exit_code == 2, result.output
    assert f"The data catalog {taken} is a file, not a folder" in result.output
    assert "Point data.catalog at a folder" in result.output
    assert "Traceback" not in result.output
    assert taken.read_text() == "a file, not a folder"


@pytest.fixture
def binance() -> Iterator[FakeBinance]:
    history = SyntheticHistory(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    faults = FaultPlan(http=[HttpFault(status=429, path="/api/v3/klines", nth=2, retry_after=1)])
    with serve_in_thread(FakeBinance(history, faults=faults)) as fake:
        yield fake


def test_fetch_pages_through_rate_limit_and_stores(binance, tmp_path, monkeypatch):
    monkeypatch.setenv("BOT__VENUES__BINANCE__BASE_URL_HTTP", binance.base_url)
    monkeypatch.setenv("BOT__VENUES__BINANCE__MARKET", "spot")

    result = runner.invoke(
        app,
        [
            "data",
            "fetch",
            "--venue",
            "binance",
            "--symbol",
            "BTC/USDT",
            "--bar",
            "1m",
            "--start",
            "2024-01-01T00:00:00",
            "--end",
            "2024-01-01T20:00:00",
        ],
    )
    frame = load_bars("BTCUSDT", "1m", catalog_dir=tmp_path / "catalog")

    assert result.exit_code == 0, result.output
    assert len(frame) == 1200
    assert len(binance.requests_to("/api/v3/klines")) >= 3  # two pages plus the retried 429
