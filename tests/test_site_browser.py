"""The course website in a real browser: headless Chromium opens three pages and finds them rendered.

The site (built by test_site.built_site) is served on 127.0.0.1; Debian's ``chromium`` and
``chromium-driver`` are driven through selenium, as in tests/test_browser.py. Each page must
load with its title, its theme (the navigation sidebar) and every image decoded, and the
browser console must hold no error except failed requests to outside hosts: the theme loads
MathJax, require.js and the widget manager from CDNs, which CI and this machine cannot reach
(docs/deploying.md says what a published site needs).

Without the browser the test is skipped, unless ``LABKIT_REQUIRE_BROWSER`` is set (``.ci/run``
sets it): then a missing browser is a failure.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from browser_support import chromium, missing, require_or_skip
from test_site import built_site

#: page -> the words its first heading holds.
PAGES = {
    "index.html": "labkit: a hands-on networking course",
    "course/01-physical-layer.html": "The physical layer",
    "hardware/README.html": "",  # the hardware guide: its own first heading
}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    require_or_skip(missing())
    handler = functools.partial(_QuietHandler, directory=str(built_site()))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def browser(server):
    driver = chromium(window="1280,1000", console_log=True)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _outside(message: str) -> bool:
    """Whether a console message is a request to a host other than this machine failing."""
    urls = re.findall(r"https?://[^\s'\"]+", message)
    return bool(urls) and all(urlsplit(u).hostname not in LOCAL_HOSTS for u in urls[:1])


def test_outside_requests_are_told_from_our_own_errors():
    assert _outside("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js - "
                    "Failed to load resource: net::ERR_NAME_NOT_RESOLVED")
    assert not _outside("http://127.0.0.1:8000/_static/x.js - Failed to load resource: 404")
    assert not _outside("http://127.0.0.1:8000/course/01.html 12:5 Uncaught TypeError: x is null")


@pytest.mark.parametrize("page", sorted(PAGES))
def test_a_page_renders_without_console_errors(browser, server, page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # forget the previous page's messages
    browser.get(server + page)
    WebDriverWait(browser, 60).until(
        lambda d: d.execute_script("return document.readyState") == "complete")
    headings = [h.text.rstrip("#").strip() for h in browser.find_elements(By.CSS_SELECTOR, "article h1")
                if h.is_displayed()]
    heading = headings[0] if headings else ""
    assert heading and PAGES[page] in heading, (page, heading)
    # the theme ran: its navigation sidebar holds the table of contents, with every lesson
    nav = browser.find_elements(By.CSS_SELECTOR, ".bd-sidebar-primary a.reference.internal")
    assert len(nav) >= 10, (page, len(nav))
    # every image on the page was fetched and decoded
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src)")
    assert broken == [], (page, broken)
    images = browser.execute_script("return document.querySelectorAll('article img').length")
    if page.startswith("course/"):
        assert images >= 5, (page, images)
    errors = [entry["message"] for entry in browser.get_log("browser")
              if entry["level"] == "SEVERE"]
    ours = [m for m in errors if not _outside(m)]
    assert ours == [], (page, ours)
