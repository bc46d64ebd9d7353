"""The README's pictures: `python -m docs.screenshots` (see docs/screenshots.py)."""
