"""Headless Chromium for the browser tests (JupyterLab's widgets, the course website).

Debian's chromium and chromium-driver, driven by selenium. A missing browser skips a test,
except where ``LABKIT_REQUIRE_BROWSER`` is set (CI sets it): there it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

#: Flags for a browser on a machine with no network beyond 127.0.0.1: without the
#: background-networking ones, Chromium keeps trying Google's hosts.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update",
         "--disable-default-apps", "--disable-extensions", "--disable-sync", "--no-first-run")


def missing() -> str | None:
    """Why no browser test can run here, or None."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        return ("Debian's chromium and chromium-driver are not installed "
                "(apt-get install --no-install-recommends chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def require_or_skip(reason: str | None) -> None:
    """Skip for a missing browser, or fail where LABKIT_REQUIRE_BROWSER says it must be there."""
    if reason is None:
        return
    if os.environ.get("LABKIT_REQUIRE_BROWSER"):
        pytest.fail(f"LABKIT_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


def chromium(*, window: str, profile: Path | None = None, console_log: bool = False) -> Any:
    """A headless Chromium through the Debian driver, named: selenium must not look for (or
    download) a driver of its own."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--window-size={window}"):
        options.add_argument(flag)
    if profile is not None:
        options.add_argument(f"--user-data-dir={profile}")
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
