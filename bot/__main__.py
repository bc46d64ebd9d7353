"""`python -m bot` runs the CLI."""

from bot.app.cli import app

app(prog_name="bot")
