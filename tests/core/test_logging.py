import io
import json

import structlog

from bot.core.logging import configure_logging, nautilus_logging
from bot.core.settings import LoggingSettings


def test_json_lines_carry_run_id_when_not_a_terminal():
    stream = io.StringIO()
    configure_logging(LoggingSettings(format="auto"), "run123", stream=stream)

    structlog.get_logger("t").info("hello", answer=42)
    line = json.loads(stream.getvalue().strip())

    assert line["event"] == "hello" and line["answer"] == 42
    assert line["run_id"] == "run123" and line["level"] == "info"


def test_level_filters_lines():
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="WARNING", format="json"), "r", stream=stream)

    structlog.get_logger("t").info("quiet")
    structlog.get_logger("t").warning("loud")

    assert [json.loads(x)["event"] for x in stream.getvalue().splitlines()] == ["loud"]


def test_pretty_format_is_not_json():
    stream = io.StringIO()
    configure_logging(LoggingSettings(format="pretty"), "r9", stream=stream)

    structlog.get_logger("t").info("hello")

    assert "hello" in stream.getvalue() and "r9" in stream.getvalue()
    assert not stream.getvalue().lstrip().startswith("{")


def test_nautilus_logging_follows_our_settings(tmp_path):
    config = nautilus_logging(
        LoggingSettings(level="WARNING"), "abc", log_dir=tmp_path, stream=io.StringIO()
    )

    assert config.log_level == "WARNING" and config.log_level_file == "WARNING"
    assert config.log_file_name == "nautilus-abc" and config.log_file_format == "json"
    assert config.log_directory == str(tmp_path) and config.log_colors is False


def test_without_a_stream_lines_go_to_the_stderr_of_the_moment(monkeypatch):
    # Arrange: configured while one stderr is in place (a test runner's capture), then closed
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure_logging(LoggingSettings(format="json"), "r1")
    structlog.get_logger("t").warning("one")
    first.close()
    monkeypatch.setattr("sys.stderr", second)

    # Act: no "I/O operation on closed file"
    structlog.get_logger("t").warning("two")

    # Assert
    assert json.loads(second.getvalue())["event"] == "two"
