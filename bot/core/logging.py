"""structlog outside the nautilus node, and a helper that points nautilus logging the same way.

Pretty lines on a terminal, JSON lines otherwise. Every line carries the process's `run_id`.
"""

import logging
import sys
import uuid
from pathlib import Path
from typing import TextIO

import structlog
from nautilus_trader.config import LoggingConfig

from bot.core.settings import LoggingSettings


def new_run_id() -> str:
    """A short unique id for one invocation; it names report folders and tags every log line."""
    return uuid.uuid4().hex[:12]


def configure_logging(settings: LoggingSettings, run_id: str, stream: TextIO | None = None) -> None:
    """Configure structlog for this process and bind `run_id` to every line: to `stream`, else
    to whatever `sys.stderr` is when a line is written."""
    shown = stream or sys.stderr
    renderer = (
        structlog.dev.ConsoleRenderer(colors=shown.isatty())
        if _pretty(settings, shown)
        else structlog.processors.JSONRenderer()
    )
    # Looked up per line, not bound now: a replaced stderr (a test runner's capture, since
    # closed) would otherwise take every later line, and fail on it.
    factory = structlog.PrintLoggerFactory(stream) if stream else _current_stderr
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[settings.level]
        ),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id)


def _current_stderr(*_args) -> structlog.PrintLogger:
    return structlog.PrintLogger(sys.stderr)


def nautilus_logging(
    settings: LoggingSettings,
    run_id: str,
    log_dir: Path | None = None,
    stream: TextIO | None = None,
) -> LoggingConfig:
    """The nautilus `LoggingConfig` matching ours: same level, colours only on a terminal, and,
    when `log_dir` is given, a JSON log file named after the run so its lines join ours by run_id.

    Nautilus initialises logging once per process and the first config wins, so build every
    engine or node of a process from this one helper.
    """
    stream = stream or sys.stdout
    return LoggingConfig(
        log_level=settings.level,
        log_level_file=settings.level if log_dir else None,
        log_directory=str(log_dir) if log_dir else None,
        log_file_name=f"nautilus-{run_id}" if log_dir else None,
        log_file_format="json" if log_dir else None,
        log_colors=_pretty(settings, stream),
        print_config=False,
    )


def _pretty(settings: LoggingSettings, stream: TextIO) -> bool:
    if settings.format == "auto":
        return stream.isatty()
    return settings.format == "pretty"
