"""`bot dashboard` in Debian's headless Chromium: the runs and a report, the decision explorer
and a paper node's live view show the journal's and Redis' numbers, and a dashboard bound
beyond loopback answers nothing without its token."""

import json
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import redis
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bot.app.explain import pnl_from_fills
from bot.core.settings import PersistenceSettings
from bot.engine.backtest import run_backtest
from bot.engine.backtest_report import write_backtest_report
from bot.engine.backtest_request import BacktestRequest, symbol_run_id
from bot.engine.journal import Journal
from bot.model.policy import load_policy
from tests.support.dashboard import (
    SESSION,
    TRADER,
    chromium,
    save_guard_state,
    serve_dashboard,
    write_paper_session,
)
from tests.support.records import start, static_decision

POLICY = "model:models/daily-equities"
TOKEN = "t0ken-for-the-dashboard-test"
pytestmark = pytest.mark.integration

OFFLINE = PersistenceSettings(redis_port=1, connect_timeout_s=0.2)  # no Redis: backtests only


@pytest.fixture(scope="module")
def backtest(tmp_path_factory) -> dict:
    """A real half-year backtest of SPX routed by the shipped model, journalled (charts
    included) under the printed id `bt1`, with its report written."""
    folder = tmp_path_factory.mktemp("dashboard")
    journal, report = folder / "journal.sqlite", folder / "reports" / "bt1"
    request = BacktestRequest(
        symbol="SPX",
        policy=POLICY,
        start=date(2019, 7, 1),
        end=date(2019, 12, 31),
        journal=str(journal),
        run_id=symbol_run_id("bt1", "SPX", POLICY),
        report_dir=str(report),
    )
    write_backtest_report([run_backtest(request, load_policy)], report)
    return {"journal": journal, "run": request.run_id, "report": report}


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def _wait(browser, condition, timeout: float = 10):
    return WebDriverWait(browser, timeout).until(lambda _: condition())


def _cells(browser, table: str, column: str) -> dict[str, str]:
    """The cells of class `column` in `table`, by the strategy of their row."""
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
    return {
        row.get_attribute("data-strategy"): row.find_element(By.CLASS_NAME, column).text
        for row in rows
    }


def _money(x: float) -> str:
    return f"{x:,.2f}"


def _loaded_images(browser) -> list[int]:
    return browser.execute_script(
        "return [...document.images].map((img) => img.complete ? img.naturalWidth : 0)"
    )


def test_runs_page_lists_the_backtest_and_opens_its_report(backtest, browser):
    with serve_dashboard(backtest["journal"], OFFLINE) as url:
        browser.get(url + "/")
        row = _wait(browser, lambda: browser.find_element(By.CSS_SELECTOR, "tr[data-run=bt1]"))
        cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        decisions = len(Journal(backtest["journal"]).decision_records(backtest["run"]))
        row.find_element(By.LINK_TEXT, "report").click()
        _wait(browser, lambda: "backtest" in browser.title)
        images = _loaded_images(browser)
        # The tear sheet's interactive charts: plotly, loaded from the report folder, drew them.
        _wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot svg")))
        plots = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
        table = browser.find_element(By.TAG_NAME, "table")
        header = [cell.text for cell in table.find_elements(By.TAG_NAME, "th")]
        shown = {
            tr.find_element(By.TAG_NAME, "td").text: [
                td.text for td in tr.find_elements(By.TAG_NAME, "td")
            ]
            for tr in table.find_elements(By.TAG_NAME, "tr")[1:]
        }

    assert cells[:4] == ["bt1", "backtest", "SPX", POLICY]
    assert cells[-1] == str(decisions) and decisions > 0
    assert browser.current_url.endswith("/reports/bt1/index.html")
    assert "SPX 1d backtest" in browser.find_element(By.TAG_NAME, "body").text
    assert images and all(width > 0 for width in images)
    assert len(plots) >= 5 and all(p.find_elements(By.CSS_SELECTOR, "svg") for p in plots)
    metrics = json.loads((backtest["report"] / "metrics.json").read_text())["metrics"]
    sharpe = header.index("Sharpe (annualised, risk-free 0)")
    for run, row in metrics.items():  # the page's numbers are the run's
        assert shown[run][sharpe] == f"{row['sharpe']:.2f}", run


def test_decision_explorer_shows_the_journals_chart_weights_and_outcome(backtest, browser):
    run_id = backtest["run"]
    with Journal(backtest["journal"], read_only=True) as journal:
        records = journal.decision_records(run_id)
        outcome = pnl_from_fills(journal.fills(run_id), records[1], records[2])
    with serve_dashboard(backtest["journal"], OFFLINE) as url:
        browser.get(f"{url}/decision?run={run_id}&n=2")
        _wait(browser, lambda: _cells(browser, "outcome", "pnl"))
        weights, pnl = _cells(browser, "weights", "weight"), _cells(browser, "outcome", "pnl")
        chart = _loaded_images(browser)
        browser.find_element(By.ID, "next").click()
        _wait(browser, lambda: "Decision 3 at" in browser.find_element(By.ID, "summary").text)

    assert weights == {name: f"{w:.4f}" for name, w in records[1].weights.items()}
    assert pnl == {name: _money(v) for name, v in outcome.items()} | {
        "total": _money(sum(outcome.values()))
    }
    assert chart and chart[0] > 0  # the chart the model saw, served from the journal's path


def test_live_view_shows_the_nodes_state_and_follows_it(redis_server, browser, tmp_path):
    journal = tmp_path / "journal.sqlite"
    persistence = PersistenceSettings(redis_port=redis_server.port)
    now = pd.Timestamp.now(tz="UTC")
    last_bar = write_paper_session(journal, persistence, now)
    with Journal(journal, read_only=True) as reader:
        decided = reader.decision_records(SESSION)[-1].weights
    with serve_dashboard(journal, persistence) as url:
        browser.get(url + "/live")
        equity = browser.find_element(By.ID, "equity")
        _wait(browser, lambda: equity.text == _money(last_bar["equity"]))
        shown = {
            "weights": _cells(browser, "weights", "weight"),
            "positions": _cells(browser, "positions", "qty"),
            "staleness": browser.find_element(By.ID, "staleness").text,
            "kill": browser.find_element(By.ID, "kill-switch").text,
            "events": browser.find_element(By.ID, "events").text,
        }
        # The node trips its kill switch on the next bar: the page follows without a reload.
        tripped = {"reason": "drawdown 12.0% reached max_drawdown 10.0%", "peak": 101_000.0}
        tripped["tripped_at"] = now.isoformat()
        save_guard_state(persistence, last_bar | {"equity": 88_880.0}, tripped)
        _wait(browser, lambda: browser.find_element(By.ID, "kill-switch").text == "TRIPPED")
        after = equity.text

    assert shown["weights"] == {name: f"{w:.4f}" for name, w in decided.items()}
    assert shown["positions"] == {"LongOnly": "0.25", "MACross": "0.5"}
    assert "fresh" in shown["staleness"] and shown["kill"] == "armed"
    assert "kill_switch_armed" in shown["events"] and "node_started" in shown["events"]
    assert after == "88,880.00"


def _status(url: str, headers: dict | None = None, method: str = "GET") -> int:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_beyond_loopback_nothing_is_reachable_without_the_token(backtest, browser):
    run_id = backtest["run"]
    paths = [
        "/",
        "/live",
        f"/decision?run={run_id}&n=1",
        "/static/app.js",
        "/api/runs",
        "/api/status",
        f"/api/decisions/{run_id}",
        f"/api/decisions/{run_id}/1",
        f"/api/decisions/{run_id}/1/chart",
        "/reports/bt1/index.html",
        "/reports/bt1/equity.png",
    ]
    with serve_dashboard(backtest["journal"], OFFLINE, token=TOKEN, host="0.0.0.0") as url:
        anonymous = {path: _status(url + path) for path in paths}
        wrong = {path: _status(url + path, {"Authorization": "Bearer nope"}) for path in paths}
        bearer = {path: _status(url + path, {"Authorization": f"Bearer {TOKEN}"}) for path in paths}
        browser.delete_all_cookies()
        browser.get(url + "/")
        refused = browser.find_element(By.TAG_NAME, "body").text
        browser.get(f"{url}/?token={TOKEN}")
        _wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "tr[data-run=bt1]"))
        landed = browser.current_url
        browser.get(url + "/reports/bt1/index.html")  # the cookie opens the report and its images
        images = _loaded_images(browser)

    assert set(anonymous.values()) == {401} and set(wrong.values()) == {401}
    # With the token every route answers; /api/status that this journal holds no session.
    assert bearer == dict.fromkeys(paths, 200) | {"/api/status": 404}
    assert refused.startswith("Unauthorized")
    assert landed == url + "/"  # the token left the address bar for a cookie
    assert images and all(width > 0 for width in images)


def test_on_loopback_a_request_naming_another_host_is_refused(backtest):
    # Arrange: attacker.example is what a browser names for a page whose DNS was rebound to
    # 127.0.0.1; the dashboard asks no token on loopback.
    hosts = ("127.0.0.1", "localhost", "attacker.example")

    # Act
    with serve_dashboard(backtest["journal"], OFFLINE) as url:
        port = url.rsplit(":", 1)[1]
        codes = {host: _status(url + "/api/runs", {"Host": f"{host}:{port}"}) for host in hosts}

    # Assert
    assert codes == {"127.0.0.1": 200, "localhost": 200, "attacker.example": 403}


def test_a_report_serves_its_own_files_but_no_hidden_one(backtest):
    # Arrange: a hidden file in the report folder (a report written with --out . beside a .env)
    hidden = backtest["report"] / ".env"
    hidden.write_text("SECRET=1\n")

    # Act
    try:
        with serve_dashboard(backtest["journal"], OFFLINE) as url:
            codes = [_status(f"{url}/reports/bt1/{name}") for name in ("metrics.txt", ".env")]
    finally:
        hidden.unlink()

    # Assert
    assert codes == [200, 404]


def test_the_api_has_no_write_route(backtest):
    with serve_dashboard(backtest["journal"], OFFLINE) as url:
        codes = {
            _status(url + path, method=method)
            for path in ("/", "/api/runs", "/api/status", f"/api/decisions/{backtest['run']}")
            for method in ("POST", "PUT", "PATCH", "DELETE")
        }

    assert codes == {405}


def test_with_redis_down_the_live_view_says_so_and_keeps_the_journals_part(
    redis_server, browser, tmp_path
):
    journal = tmp_path / "journal.sqlite"
    write_paper_session(
        journal, PersistenceSettings(redis_port=redis_server.port), pd.Timestamp.now(tz="UTC")
    )
    with serve_dashboard(journal, OFFLINE) as url:  # the node's Redis is not reachable
        browser.get(url + "/live")
        error = browser.find_element(By.ID, "error")
        _wait(browser, lambda: error.is_displayed())
        shown = {
            "error": error.text,
            "equity": browser.find_element(By.ID, "equity").text,
            "weights": _cells(browser, "weights", "weight"),
        }

    assert shown["error"].startswith("Redis: ")
    assert shown["equity"] == "unknown (Redis)"
    assert shown["weights"]["LongOnly"] == "0.5000"  # the last decision, from the journal


def test_a_redis_holding_nothing_of_the_session_answers_its_state_unknown(redis_server, tmp_path):
    journal = tmp_path / "journal.sqlite"
    persistence = PersistenceSettings(redis_port=redis_server.port)
    write_paper_session(journal, persistence, pd.Timestamp.now(tz="UTC"))
    redis.Redis(host=redis_server.host, port=redis_server.port).flushall()  # not the node's
    with serve_dashboard(journal, persistence) as url:
        with urllib.request.urlopen(url + "/api/status") as answer:
            status = json.load(answer)

    assert status["redis_error"].startswith(f"no state for trader {TRADER}")
    assert "kill_switch" not in status and "positions" not in status  # not "armed", not flat
    assert status["router"]["weights"]["LongOnly"] == 0.5  # the journal's part stays


def test_a_static_decision_answers_why_it_has_no_attributions(tmp_path):
    journal = tmp_path / "journal.sqlite"
    with Journal(journal) as writer:
        start(writer, "static-run")
        writer.record_decision(static_decision("static-run", 0))
    with serve_dashboard(journal, OFFLINE) as url:
        with urllib.request.urlopen(url + "/api/decisions/static-run/1/attributions") as answer:
            lines = json.load(answer)["lines"]
        missing = _status(url + "/api/decisions/static-run/2")

    assert lines == ["none: the policy 'uniform' is static and reads no inputs."]
    assert missing == 404


def test_a_journal_it_cannot_read_answers_503_with_what_to_do_and_a_missing_run_404(tmp_path):
    corrupt, good = tmp_path / "corrupt.sqlite", tmp_path / "journal.sqlite"
    corrupt.write_bytes(b"not an SQLite file " * 100)
    with Journal(good) as writer:
        start(writer, "static-run")
    with serve_dashboard(corrupt, OFFLINE) as url:
        answers = {path: _answer(url + path) for path in ("/api/runs", "/api/decisions/any")}
    with serve_dashboard(good, OFFLINE) as url:
        missing = _answer(url + "/api/decisions/no-such-run")

    for status, error in answers.values():
        assert status == 503
        assert error.startswith(f"{corrupt} is not a readable journal")
        assert "move this one aside" in error
    assert missing[0] == 404 and "no-such-run" in missing[1]
    assert corrupt.read_bytes() == b"not an SQLite file " * 100  # left as it was


def test_the_status_of_a_run_that_is_not_a_session_answers_404(tmp_path):
    with serve_dashboard(_backtest_journal(tmp_path), OFFLINE) as url:
        status, error = _answer(url + "/api/status?run=backtest-run")

    # Not a 200 for a trader "?" (with Redis up, reading it aborted the dashboard's process).
    assert status == 404
    assert "backtest-run is a backtest run, not a paper or live session" in error


def test_runs_of_a_mode_no_run_can_have_answer_what_to_pass(tmp_path):
    with serve_dashboard(_backtest_journal(tmp_path), OFFLINE) as url:
        status, error = _answer(url + "/api/runs?mode=bogus")

    # As `bot runs list --mode bogus` says, not an empty list.
    assert status == 404
    assert "mode 'bogus' is not a run mode: pass one of backtest" in error


def _backtest_journal(tmp_path) -> Path:
    """A journal holding one backtest run, `backtest-run`."""
    journal = tmp_path / "journal.sqlite"
    with Journal(journal) as writer:
        start(writer, "backtest-run")
    return journal


def _answer(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)["error"]
