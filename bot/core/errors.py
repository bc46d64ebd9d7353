"""The error hierarchy. `bot.app.cli` is the one place that turns these into messages and exit
codes.

Every message says what happened, why it matters, and what to do.
"""


class BotError(Exception):
    """Base of every expected error. Never shown with a traceback."""

    exit_code = 1


class ConfigError(BotError):
    """Bad configuration or command-line input: the user must fix a file, flag or variable."""

    exit_code = 2


class DataError(BotError):
    """Market data that is missing, malformed or fails validation."""

    exit_code = 3


class VenueError(BotError):
    """An operational venue error that needs a person (auth, rejection, unknown outcome)."""

    exit_code = 4


class OperationalError(BotError):
    """A service the bot depends on (other than the venue) is down or unreachable, e.g. the
    Redis that holds a live node's state: a person must start it or fix its address."""

    exit_code = 7


class TemporaryError(VenueError):
    """A transient condition (rate limit, timeout, 5xx) that a retry may clear."""

    exit_code = 5


class StrategyError(BotError):
    """An error raised inside user strategy or router code."""

    exit_code = 6


class CheckpointError(ConfigError):
    """A model checkpoint that is missing, corrupt, or made for another strategy table or
    feature schema."""


class JournalError(ConfigError):
    """A journal file that is there but cannot be read as one: corrupt, not a database, not a
    bot journal, or of another schema version. A person must point journal.path elsewhere or
    move the file aside; a reader such as the dashboard is unavailable until then."""
