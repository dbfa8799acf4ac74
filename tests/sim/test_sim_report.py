"""The HTML report is self-contained and renders in headless Chromium without console errors."""

from __future__ import annotations

import os
import re
import shutil

import pytest
import simkit

from greenhop.sim import simulate

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = simkit.micro(policies=["static", "energy-greedy", "feasibility-aware"], horizon="1d",
                     history="1d",
                     sites=[simkit.site("a", power=None, trace={"kind": "solar", "peak": "6kW"}),
                            simkit.site("b", power="4kW", tput=2.0)])
    d["jobs"] = [{"name": f"j{i}", "arrival": f"{i}h", "work_gpu_h": 4.0, "checkpoint": "5GB",
                  "gpus": 1, "origin": "a"} for i in range(3)]
    out = tmp_path_factory.mktemp("report")
    paths = simulate(d).write(out)
    return paths["report"]


def test_report_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text.lower()
    # No external resources of any kind: only inline data URIs.
    assert not re.search(r"(?:src|href)\s*=\s*[\"'](?!data:)", text)
    assert "http://" not in text and "https://" not in text
    for section in ("Policy comparison", "Surplus and load per site", "Job placement",
                    "Feasibility map"):
        assert section in text
    assert text.count("data:image/png;base64,") == 4


def _driver(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver")
    if not chromium or not driver_bin:
        if os.environ.get("CI"):  # CI installs them (.ci/run): a missing browser is a failure
            pytest.fail("chromium and chromedriver are not installed; .ci/run installs them")
        pytest.skip("chromium and chromedriver are not installed (see .ci/run)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    opts.add_argument("--window-size=1300,2400")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_bin), options=opts)


def test_report_renders_in_headless_chromium_without_console_errors(report, tmp_path):
    driver = _driver(tmp_path)
    try:
        driver.get(report.resolve().as_uri())
        title = driver.title
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);")
        logs = driver.get_log("browser")
    finally:
        driver.quit()
    assert title.startswith("greenhop report")
    assert len(images) == 4 and all(ok and width > 100 for ok, width in images)
    errors = [entry for entry in logs if entry.get("level") in ("SEVERE", "ERROR")]
    assert errors == []


def test_the_console_check_catches_a_script_error(tmp_path):
    """The console check is not vacuous: a page with a broken script is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>notDefined();</script></body></html>",
                    encoding="utf-8")
    driver = _driver(tmp_path)
    try:
        driver.get(page.as_uri())
        logs = driver.get_log("browser")
    finally:
        driver.quit()
    assert any(entry.get("level") == "SEVERE" for entry in logs)
