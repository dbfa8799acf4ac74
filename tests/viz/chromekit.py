"""Headless Chromium for the page tests (imported as ``chromekit``)."""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlsplit

import pytest

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync")


def driver(tmp_path, height: int = 2400):
    """A Chrome webdriver with the browser console log kept; skips (fails on CI) without
    chromium and chromedriver."""
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
    opts.add_argument(f"--window-size=1300,{height}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_bin), options=opts)


def console_errors(drv) -> list[dict]:
    """The console entries at error level since the last call."""
    return [e for e in drv.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]


def resources(drv) -> list[str]:
    """Every URL the page loaded (navigation and resource timing entries)."""
    return drv.execute_script(
        "return performance.getEntriesByType('navigation').concat("
        "performance.getEntriesByType('resource')).map(e => e.name);")


def outside(urls, allowed_hosts=("127.0.0.1",)) -> list[str]:
    """The URLs that leave the machine: not file:, data:, blob:, about: or an allowed host."""
    out = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("file", "data", "blob", "about"):
            continue
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname in allowed_hosts:
            continue
        out.append(url)
    return out
