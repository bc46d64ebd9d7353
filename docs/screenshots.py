"""Screenshots of the dashboard and of a backtest report for the README, taken with Debian's
headless Chromium: `.venv/bin/python -m docs.screenshots` (about two minutes) writes
docs/img/{report,dashboard-runs,dashboard-decision,dashboard-live}.png.

It runs a real backtest as a user would (`bot backtest`, SPX 2019-2020, the shipped model against
uniform) into a journal of its own, writes a paper session as a node leaves it (journal and a
private redis-server; skipped without one) and serves the dashboard over both.
"""

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bot.core.settings import PersistenceSettings
from bot.engine.journal import Journal
from tests.conftest import free_port
from tests.support.dashboard import chromium, serve_dashboard, write_paper_session

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"
MODEL = "model:models/daily-equities"
SETTLE_S = 2.0  # the pages' first API answers and a report's scripts
ATTRIBUTION_S = 180.0


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        folder = Path(tmp)
        journal = folder / "journal.sqlite"
        report = _backtest(folder, journal)
        with _redis(folder) as persistence:
            live = persistence is not None
            if live:
                write_paper_session(journal, persistence, pd.Timestamp.now(tz="UTC"))
            browser = chromium(width=1400, height=900)
            try:
                with serve_dashboard(journal, persistence or PersistenceSettings()) as url:
                    _shoot(browser, report.as_uri(), "report.png", full_page=True)
                    _shoot(browser, url + "/", "dashboard-runs.png")
                    decision = f"{url}/decision?run={_model_run(journal)}&n=8"
                    _shoot(browser, decision, "dashboard-decision.png", _attribute, full_page=True)
                    if live:
                        _shoot(browser, url + "/live", "dashboard-live.png")
            finally:
                browser.quit()
    if not live:
        print("No redis-server here: dashboard-live.png was not taken.")


def _backtest(folder: Path, journal: Path) -> Path:
    reports = folder / "reports"
    command = [sys.executable, "-m", "bot", "--set", f"journal.path={journal}", "backtest"]
    command += ["--symbols", "SPX", "--start", "2019-01-01", "--end", "2020-12-31"]
    command += ["--compare", f"{MODEL},uniform", "--workers", "1", "--report-dir", str(reports)]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    (page,) = reports.glob("*/index.html")
    return page


def _model_run(journal: Path) -> str:
    with Journal(journal, read_only=True) as reader:
        runs = reader.runs()
    return runs[runs["policy"] == MODEL]["run_id"].iloc[-1]


class _redis:
    """A private redis-server in `folder` for the paper session; None without one."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.process = folder, None

    def __enter__(self) -> PersistenceSettings | None:
        executable = shutil.which("redis-server")
        if executable is None:
            return None
        port = free_port()
        args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.folder), "--save", ""]
        self.process = subprocess.Popen([executable, *args], stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        return PersistenceSettings(redis_port=port)

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _attribute(browser) -> None:
    """Compute the decision's attributions (the page loads the model: seconds)."""
    browser.find_element("id", "attribute").click()
    done = "return document.getElementById('attributions').textContent !== 'computing...'"
    deadline = time.monotonic() + ATTRIBUTION_S
    while not browser.execute_script(done) and time.monotonic() < deadline:
        time.sleep(0.5)


def _shoot(browser, url: str, name: str, prepare=None, full_page: bool = False) -> None:
    browser.get(url)
    time.sleep(SETTLE_S)
    if prepare is not None:
        prepare(browser)
    if full_page:  # headless Chromium shoots the window: make it as tall as the page
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1400, min(height + 150, 6000))  # + the window frame
        time.sleep(0.5)
    browser.save_screenshot(str(OUT / name))
    browser.set_window_size(1400, 900)
    print(f"Wrote {OUT / name}")


if __name__ == "__main__":
    main()
