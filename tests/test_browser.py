"""The course's widgets in a real browser: JupyterLab in headless Chromium, driven by selenium.

Their callbacks are tested without a browser elsewhere; this test checks what only a browser
shows: that a widget renders as real controls (not as its text repr, nor "Loading widget..."),
and that moving one of its controls redraws its figure. For each notebook in ``WIDGETS`` it
starts its own JupyterLab on 127.0.0.1 with a token, on a copy of the notebook in a temporary
folder, runs every cell there, finds the control by its kind and description, moves it and
waits for the figure's image to change; then it stops the server.

It needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` of the test extra.
Without them it is skipped, unless ``LABKIT_REQUIRE_BROWSER`` is set (``.ci/run`` sets it):
then a missing browser is a failure. docs/testing.md says how to add a notebook.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_support import chromium, missing, require_or_skip

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Control:
    """How to find one control of a notebook's widget, and how to move it.

    ``kind`` is ``"slider"`` (an IntSlider or FloatSlider: one step with the arrow key),
    ``"toggle"`` (ToggleButtons: click the first button not selected) or ``"button"`` (click
    the Button whose text is ``description``); ``description`` is the control's label as
    ipywidgets shows it.
    """

    kind: str
    description: str


#: notebook -> the control to move. One line per notebook.
WIDGETS: dict[str, Control] = {
    "01-physical-layer.ipynb": Control("slider", "SNR (dB)"),  # viz.phy_panel
    "03-data-link.ipynb": Control("slider", "frame"),  # labkit.viz.link.SwitchStepper
    "09-capstone.ipynb": Control("slider", "hop"),  # labkit.viz.capstone.HopStepper
    "12-routing-nat.ipynb": Control("toggle", "split horizon"),  # labkit.viz.routing.SplitHorizonPanel
}

#: Seconds: a whole notebook run in the browser, and one redraw after a move.
RUN_TIMEOUT = 600
REDRAW_TIMEOUT = 60


@pytest.fixture(scope="module")
def browser_ready() -> None:
    require_or_skip(missing())


def test_a_missing_browser_skips_only_where_it_is_not_required(monkeypatch):
    monkeypatch.delenv("LABKIT_REQUIRE_BROWSER", raising=False)
    require_or_skip(None)  # present: nothing happens
    with pytest.raises(pytest.skip.Exception):
        require_or_skip("chromium is not installed")
    monkeypatch.setenv("LABKIT_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="LABKIT_REQUIRE_BROWSER is set but chromium"):
        require_or_skip("chromium is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server of our own on 127.0.0.1, serving one folder, with a token."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.log = folder.parent / "jupyterlab.log"
        state = folder.parent / "jupyter"
        env = {
            **os.environ,
            # the kernel imports the labkit of this checkout, wherever it is installed from
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
            "JUPYTER_PLATFORM_DIRS": "1",
            "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
        }
        args = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={folder}",
            f"--IdentityProvider.token={self.token}",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run all cells
            "--LabApp.news_url=None",  # no traffic but to 127.0.0.1
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        # No "would you like Jupyter news?" toast over the controls, and no fetching of it;
        # every cell kept in the page (no windowing), so a widget far down is there to find.
        for plugin, settings in (("apputils-extension/notification", {"fetchNews": "false"}),
                                 ("notebook-extension/tracker", {"windowingMode": "none"})):
            path = state / "settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings))
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")
        self._log = self.log.open("w")
        self.process = subprocess.Popen(args, cwd=folder, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/api/status?token={self.token}"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    json.load(reply)
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer in {timeout} s:\n{self.log.read_text()}")

    def url(self, notebook: str) -> str:
        return f"http://127.0.0.1:{self.port}/lab/tree/{notebook}?token={self.token}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


def _chromium(profile: Path):  # type: ignore[no-untyped-def]
    return chromium(window="1400,1000", profile=profile)


RUN_ALL = """
const done = arguments[arguments.length - 1];
const app = window.jupyterapp;
const panel = app.shell.currentWidget;
panel.sessionContext.ready
  .then(() => app.commands.execute("notebook:run-all-cells"))
  .then(() => done("ran"), (e) => done("error: " + e));
"""

KERNEL_IDLE = """
const app = window.jupyterapp;
const panel = app && app.shell.currentWidget;
const kernel = panel && panel.sessionContext && panel.sessionContext.session
  && panel.sessionContext.session.kernel;
return Boolean(kernel && kernel.connectionStatus === "connected" && kernel.status === "idle"
  && panel.content && panel.content.widgets.length > 0);
"""

BUSY_CELLS = """
return Array.from(document.querySelectorAll(".jp-CodeCell .jp-InputPrompt"))
  .filter((p) => p.textContent.includes("*")).length;
"""


def _control_xpath(control: Control) -> str:
    d = json.dumps(control.description)  # an XPath string literal (no quotes in descriptions)
    if control.kind == "slider":
        return (f"//div[contains(@class,'widget-slider')]"
                f"[.//label[normalize-space()={d}]]")
    if control.kind == "toggle":
        return (f"//div[contains(@class,'widget-toggle-buttons')]"
                f"[.//label[normalize-space()={d}]]")
    if control.kind == "button":
        return f"//button[contains(@class,'widget-button')][normalize-space()={d}]"
    raise ValueError(f"unknown control kind {control.kind!r}")


def _move(driver, control: Control, element) -> str:  # type: ignore[no-untyped-def]
    """Move the control; returns what was done, for the failure message."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    if control.kind == "slider":
        handle = element.find_element(By.CSS_SELECTOR, ".noUi-handle")
        before = handle.get_attribute("aria-valuenow")
        handle.click()
        handle.send_keys(Keys.ARROW_RIGHT)
        if handle.get_attribute("aria-valuenow") == before:  # at the top end: step down
            handle.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
        return f"slider {control.description!r} from {before} to {handle.get_attribute('aria-valuenow')}"
    if control.kind == "toggle":
        button = element.find_element(
            By.XPATH, ".//button[not(contains(@class,'mod-active'))]")
        button.click()
        return f"toggle {control.description!r} to {button.text!r}"
    element.click()
    return f"button {control.description!r} clicked"


def _figure_sources(cell) -> list[str]:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return [img.get_attribute("src") or "" for img in
            cell.find_elements(By.CSS_SELECTOR, ".jp-Cell-outputArea img")]


@pytest.mark.parametrize("notebook", sorted(WIDGETS))
def test_widget_renders_and_redraws_in_jupyterlab(browser_ready, notebook, tmp_path):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    source = ROOT / "course" / notebook
    if not source.exists():
        pytest.fail(f"course/{notebook} is in WIDGETS but does not exist")
    control = WIDGETS[notebook]
    folder = tmp_path / "course"
    folder.mkdir()
    shutil.copy(source, folder / notebook)
    shots = ROOT / "build" / "browser-test"

    lab = Lab(folder)
    driver = None
    try:
        driver = _chromium(tmp_path / "chromium")
        driver.set_script_timeout(RUN_TIMEOUT)
        driver.get(lab.url(notebook))
        WebDriverWait(driver, 120).until(lambda d: d.execute_script(KERNEL_IDLE))
        ran = driver.execute_async_script(RUN_ALL)
        assert ran == "ran", ran
        WebDriverWait(driver, RUN_TIMEOUT).until(lambda d: d.execute_script(BUSY_CELLS) == 0)
        errors = driver.find_elements(
            By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert not errors, f"{notebook} wrote to stderr or raised in the browser: " + \
            " | ".join(e.text[:300] for e in errors)

        # Real controls: the slider (or buttons) drawn by ipywidgets, not a text repr.
        found = driver.find_elements(By.XPATH, _control_xpath(control))
        assert len(found) == 1, (f"{notebook}: expected one {control.kind} {control.description!r}, "
                                 f"found {len(found)}; widget text: " + " | ".join(
                                     e.text[:200] for e in driver.find_elements(
                                         By.CSS_SELECTOR, ".jp-OutputArea-output")
                                     if "widget" in e.text.lower()))
        element = found[0]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        assert element.is_displayed()
        if control.kind == "slider":
            value = element.find_element(By.CSS_SELECTOR, ".noUi-handle").get_attribute("aria-valuenow")
            float(value)  # a live slider reports its value
        cell = element.find_element(By.XPATH, "./ancestor::div[contains(@class,'jp-CodeCell')][1]")
        before = _figure_sources(cell)
        assert before, f"{notebook}: the widget's cell shows no figure"
        keep = os.environ.get("LABKIT_BROWSER_SHOTS")  # set it to look at the widget
        if keep:
            shots.mkdir(parents=True, exist_ok=True)
            cell.screenshot(str(shots / f"{Path(notebook).stem}-before.png"))
        moved = _move(driver, control, element)
        try:
            WebDriverWait(driver, REDRAW_TIMEOUT).until(
                lambda d: (now := _figure_sources(cell)) and now != before)
        except TimeoutException:
            pytest.fail(f"{notebook}: {moved}, but the figure did not change in "
                        f"{REDRAW_TIMEOUT} s")
        assert len(_figure_sources(cell)) == len(before)
        if keep:
            cell.screenshot(str(shots / f"{Path(notebook).stem}-after.png"))
            print(moved)
    except BaseException:
        if driver is not None:
            shots.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(shots / f"{Path(notebook).stem}.png"))
        raise
    finally:
        if driver is not None:
            driver.quit()
        lab.stop()
