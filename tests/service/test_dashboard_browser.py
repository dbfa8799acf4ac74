"""The dashboard in headless Chromium on a live 3-site run (``greenhop run`` with real
trainers, ``greenhop serve`` beside it on its database): it updates as the run progresses
(a migration appears, then completes), an operator drains a site from the page with the
token and its jobs leave it, without the token the page shows the refusal; no console
errors, nothing loaded from outside the machine."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
from servicekit import TOKEN, rows, served
from test_controller_kit import LIVE, db_jobs, kill_all_under, start_run, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "viz"))
import chromekit

pytestmark = pytest.mark.slow

# Records what the page showed over time: every job seen in the in-flight table and in the
# completed table, and the steps shown (the page may redraw between two looks of the test).
WATCH = """
window.__seen = {inflight: [], done: [], steps: []};
const note = () => {
  const s = window.__seen;
  document.querySelectorAll('#migrations-inflight tbody tr').forEach(
    r => { if (!s.inflight.includes(r.dataset.job)) s.inflight.push(r.dataset.job); });
  document.querySelectorAll('#migrations-done tbody tr').forEach(
    r => { if (!s.done.includes(r.dataset.job)) s.done.push(r.dataset.job); });
  const step = document.getElementById('run-step').textContent;
  if (!s.steps.includes(step)) s.steps.push(step);
};
new MutationObserver(note).observe(document.body, {subtree: true, childList: true,
                                                   characterData: true});
note();
"""

POINTS = ("const f = document.getElementById('fig-timeline');"
          "return f.data ? Math.max(0, ...f.data.map(t => (t.y || []).length)) : 0;")


def _text(drv, css: str) -> str:
    return drv.execute_script(f"const e = document.querySelector({css!r});"
                              "return e ? e.textContent : '';")


def _click(drv, css: str) -> None:
    """Click the element at ``css``; the page redraws its tables on every event, so an
    element found may be replaced before the click lands: find it again then."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(20):
        try:
            drv.find_element(By.CSS_SELECTOR, css).click()
            return
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"could not click {css}")


def _page_jobs(drv) -> list[list[str]]:
    return drv.execute_script(
        "return Array.from(document.querySelectorAll('#jobs tbody tr')).map("
        "r => [r.dataset.job, r.cells[1].textContent, r.cells[2].textContent]);")


def _started(db: Path) -> bool:
    try:
        return db.exists() and bool(rows(db, "SELECT step FROM run"))
    except sqlite3.OperationalError:  # the controller is still creating its tables
        return False


def _message(drv, word: str) -> str | None:
    text = _text(drv, "#op-message")
    return text if word in text else None


def test_the_dashboard_follows_a_live_run_and_drains_a_site(tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    drv = chromekit.driver(tmp_path, height=3000)
    proc = start_run(work, LIVE, 3600, "--step-sleep", "0.04")
    db = work / "run.db"
    try:
        wait_for(lambda: _started(db), 120, "the run database", poll_s=0.05)
        with served(db, token=TOKEN) as base:
            drv.get(base + "/")
            drv.execute_script(WATCH)
            wait_for(lambda: _text(drv, 'tr[data-site="tokyo-jp"]'), 60, "the sites table",
                     poll_s=0.1)
            points_before = drv.execute_script(POINTS)

            # Without the token the page says the action was refused; nothing is filed.
            _click(drv, 'button[data-action="drain"][data-site="tokyo-jp"]')
            refused = wait_for(lambda: _message(drv, "refused"), 30, "the refusal", 0.05)
            assert "401" in refused and "no token" in refused
            assert rows(db, "SELECT * FROM operator_actions") == []

            # With the token, once a job runs at Tokyo, the drain is accepted and applied.
            wait_for(lambda: any(j["site"] == 1 and j["phase"] == "running"
                                 for j in db_jobs(db)), 120, "a job at tokyo-jp")
            drv.find_element("id", "token").send_keys(TOKEN)
            _click(drv, 'button[data-action="drain"][data-site="tokyo-jp"]')
            accepted = wait_for(lambda: _message(drv, "accepted"), 30, "the acceptance", 0.05)
            assert accepted.startswith("drain tokyo-jp: accepted")
            wait_for(lambda: "drained" in _text(drv, 'tr[data-site="tokyo-jp"]'), 60,
                     "the page to show tokyo-jp drained", poll_s=0.1)

            code = proc.wait(timeout=300)
            assert code == 0, (work / "controller.log").read_text()[-3000:]
            wait_for(lambda: _text(drv, "#run-status") == "done", 60, "the page to show done",
                     poll_s=0.2)
            sites = [r["name"] for r in rows(db, "SELECT name FROM sites ORDER BY idx")]
            final = [[j["name"], j["phase"], "–" if j["site"] is None else sites[j["site"]]]
                     for j in db_jobs(db)]
            wait_for(lambda: _page_jobs(drv) == final, 60, "the page to show the jobs' end",
                     poll_s=0.2)
            seen = drv.execute_script("return window.__seen;")
            tokyo_jobs = _text(drv, 'tr[data-site="tokyo-jp"] td.jobs')
            points_after = drv.execute_script(POINTS)
            marks = drv.execute_script(
                "const f = document.getElementById('fig-placement');"
                "const m = f.data.find(t => t.type === 'scatter'); return m ? m.y.length : 0;")
            errors = chromekit.console_errors(drv)
            loaded = chromekit.resources(drv)
            drv.get("about:blank")  # close the event stream before the server stops
    finally:
        drv.quit()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all_under(work)

    # It updated as the run went: several steps shown, the timelines grew, a migration was
    # seen in flight and then among the completed ones, every migration is on the placement.
    assert len(seen["steps"]) >= 3, seen
    assert points_after > points_before
    assert set(seen["inflight"]) & set(seen["done"]), seen
    migrated = rows(db, "SELECT job FROM events WHERE kind = 'migrate'")
    assert marks == len(migrated) > 0
    # The drained site's jobs left it: the page and the database agree.
    assert tokyo_jobs == "–"
    assert final and all(site != "tokyo-jp" for _, _, site in final), final
    assert rows(db, "SELECT body FROM events WHERE kind = 'migrate' AND body LIKE "
                    "'%\"by\": \"operator\"%'")
    # The refused request is the only console error (Chromium logs the 401 response).
    assert [e for e in errors if "401 (Unauthorized)" not in e["message"]] == []
    assert loaded and chromekit.outside(loaded) == []
