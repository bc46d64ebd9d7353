"""`bot data import` on hostile files: each is refused with a clean error and its exit code, and a
refused re-import leaves the symbol's stored bars as they were."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from bot.app.cli import app
from bot.engine.catalog import BarCatalog
from bot.engine.data import load_bars
from bot.engine.instruments import make_instrument

runner = CliRunner()
HEADER = "date,open,high,low,close,volume\n"
GOOD = HEADER + "2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,11,10,10.8,120\n"


@pytest.fixture(autouse=True)
def _catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT__DATA__CATALOG", str(tmp_path / "catalog"))
    monkeypatch.setenv("BOT__LOGGING__FORMAT", "json")


def _import(tmp_path, text: str, *extra: str):
    csv = tmp_path / "bars.csv"
    csv.write_text(text)
    options = ["--symbol", "ACME", "--asset-class", "equity", *extra]
    return runner.invoke(app, ["data", "import", str(csv), *options])


@pytest.mark.parametrize(
    ("bad", "line"),
    [
        (HEADER + "2024-01-02,1e15,1e15,1e15,1e15,100\n2024-01-03,1e15,1e15,1e15,1e15,90\n", 2),
        (GOOD + "2024-01-04,10.8,11.2,10.6,11,1e30\n", 4),
    ],
    ids=["price", "volume"],
)
def test_refused_reimport_keeps_the_stored_bars(tmp_path, bad, line):
    assert _import(tmp_path, GOOD).exit_code == 0

    result = _import(tmp_path, bad)

    assert result.exit_code == 3, result.output
    assert f"(out_of_range) at line {line}," in result.output
    assert "Traceback" not in result.output
    kept = load_bars("ACME", catalog_dir=tmp_path / "catalog")
    assert kept["close"].tolist() == [10.5, 10.8]


def test_catalog_write_that_cannot_build_bars_deletes_nothing(tmp_path):
    catalog = BarCatalog(tmp_path / "direct")
    instrument = make_instrument("ACME", "equity", price_precision=2)
    index = pd.DatetimeIndex(pd.to_datetime(["2024-01-02", "2024-01-03"], utc=True), name="ts")
    frame = pd.DataFrame(
        {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 100.0}, index=index
    )
    catalog.write(instrument, frame, "1d")
    huge = frame.assign(open=1e15, high=1e15, low=1e15, close=1e15)

    with pytest.raises(ValueError, match="PRICE_MAX"):
        catalog.write(instrument, huge, "1d")

    assert catalog.read("ACME", "1d")["close"].tolist() == [10.5, 10.5]


def test_column_duplicated_after_lower_casing_is_named(tmp_path):
    text = "date,open,high,low,close,volume,Close\n2024-01-02,10,11,9,10.5,100,10.5\n"

    result = _import(tmp_path, text)

    assert result.exit_code == 3, result.output
    assert "'close' appears more than once" in result.output
    assert "Traceback" not in result.output


def test_unknown_timezone_with_offset_times_is_a_config_error(tmp_path):
    text = HEADER + "2024-01-02T00:00:00+01:00,10,11,9,10.5,100\n"

    result = _import(tmp_path, text, "--tz", "Mars/Base")

    assert result.exit_code == 2, result.output
    assert "Unknown timezone 'Mars/Base'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("epoch", ["inf", "1e25", "1e300", "-1e25"])
@pytest.mark.parametrize("line", [2, 3])
def test_out_of_range_epoch_names_its_line(tmp_path, epoch, line):
    rows = ["1704153600,10,11,9,10.5,100", "1704240000,10.5,11,10,10.8,120"]
    rows[line - 2] = epoch + rows[line - 2][10:]
    text = "timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n"

    result = _import(tmp_path, text)

    assert result.exit_code == 3, result.output
    assert f"line {line}:" in result.output
    assert "between 1677 and 2262" in result.output
    assert "Traceback" not in result.output
