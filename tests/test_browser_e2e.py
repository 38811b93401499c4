"""The whole product in a real browser: JupyterLab served here, Playwright driving Debian's
Chromium headless, the extension from the installed package, a real kernel and a real step.

Screenshots of each stage go to ``test-artifacts/e2e/`` (gitignored) for a human to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import pytest

from conftest import free_port, line_of

pytestmark = [pytest.mark.timeout(300), pytest.mark.browser]
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-quic", "--no-first-run", "--disable-sync"]
SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                                 "checkForUpdates": False}}


class Lab(NamedTuple):
    url: str
    root: Path


@pytest.fixture
def lab_server(tmp_path: Path, amldebug_home: Path) -> Iterator[Lab]:
    with serve("jupyterlab", "lab/tree", tmp_path, amldebug_home) as lab:
        yield lab


@pytest.fixture
def notebook7_server(tmp_path: Path, amldebug_home: Path) -> Iterator[Lab]:
    with serve("notebook", "notebooks", tmp_path, amldebug_home) as lab:
        yield lab


@contextmanager
def serve(app: str, page_path: str, tmp_path: Path, amldebug_home: Path) -> Iterator[Lab]:
    """JupyterLab or Notebook 7 on 127.0.0.1 over a copy of notebooks/ (the repository is never written)."""
    root = tmp_path / "root"
    shutil.copytree(REPO / "notebooks", root)
    settings = tmp_path / "settings"
    for name, value in SETTINGS.items():
        write_json(settings / name, value)
    port, token = free_port(), "amldebug-e2e-token"
    env = dict(os.environ, AMLDEBUG_HOME=str(amldebug_home), PYDEVD_DISABLE_FILE_VALIDATION="1",
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    log = open(tmp_path / "jupyterlab.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", app, "--no-browser", "--ServerApp.ip=127.0.0.1",
                               f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
                               f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
                               *(["--allow-root"] if os.geteuid() == 0 else [])],
                              env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(f"JupyterLab did not start: {(tmp_path / 'jupyterlab.log').read_text()[-2000:]}")
                time.sleep(0.3)
        yield Lab(f"{base}/{page_path}/01-local-pipeline-debug.ipynb?token={token}", root)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is not installed (scripts/test installs it)"
    shots = ARTIFACTS / request.node.name
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        errors: list = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.shots, page.console_errors, page.step = shots, errors, iter(range(1, 100))  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            snap(page, "last")
            browser.close()


def snap(page: Any, stage: str) -> None:
    page.screenshot(path=str(page.shots / f"{next(page.step):02d}-{stage}.png"))


def open_notebook(page: Any, lab: Lab) -> None:
    page.goto(lab.url)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    wait_idle(page)
    snap(page, "notebook-open")


def wait_idle(page: Any, timeout: float = 60_000) -> None:
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout)


def run_cells_until(page: Any, text: str, from_cell: int = 0) -> None:
    """Shift+Enter from cell ``from_cell`` through the notebook's cell whose source contains ``text``."""
    import nbformat

    cells = nbformat.read(REPO / "notebooks" / "01-local-pipeline-debug.ipynb", as_version=4).cells
    last = next(i for i, cell in enumerate(cells) if text in cell.source)
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="01-local-pipeline-debug")
    if tab.count():  # JupyterLab (Notebook 7 shows one document per page)
        tab.first.click()
    cell = page.locator(".jp-Notebook .jp-Cell").nth(from_cell)
    cell.scroll_into_view_if_needed()
    cell.click()
    page.keyboard.press("Escape")
    for _ in range(from_cell, last + 1):
        page.keyboard.press("Shift+Enter")


def open_panel(page: Any) -> Any:
    panel = page.locator("#amldebug-targets")
    if not panel.is_visible():  # its tab toggles it
        page.locator(".jp-SideBar.jp-mod-left [data-id='amldebug-targets']").click()
    return panel


def click_gutter(page: Any, editor: Any, line: int) -> None:
    """A click in the breakpoint gutter of ``line`` (1-based) of a CodeMirror editor."""
    row = editor.locator(".cm-line").nth(line - 1)
    row.scroll_into_view_if_needed()
    gutter = editor.locator(".cm-breakpoint-gutter").first.bounding_box()
    box = row.bounding_box()
    page.mouse.click(gutter["x"] + gutter["width"] / 2, box["y"] + box["height"] / 2)


def test_attach_from_the_panel_and_stop_at_a_file_editor_breakpoint(lab_server: Lab, page: Any) -> None:
    train = lab_server.root / "local-pipeline" / "train" / "train.py"
    loop_line = line_of(train, "a good place for a breakpoint")
    open_notebook(page, lab_server)
    run_cells_until(page, "run.wait_for_endpoint")
    wait_idle(page, 90_000)
    panel = open_panel(page)
    row = panel.locator("[data-amldebug-target$=':train'][data-amldebug-state='waiting']")
    row.wait_for(timeout=60_000)
    snap(page, "panel-waiting")

    row.get_by_role("button", name="Attach").click()
    sidebar = page.locator("#jp-debugger-sidebar")
    frames = sidebar.locator(".jp-DebuggerCallstackFrame")
    frames.first.wait_for(timeout=60_000)  # the debugger turned itself on and stopped at the entry
    editor = page.locator(".jp-FileEditor:visible .cm-editor")
    editor.wait_for(timeout=30_000)
    assert "train.py" in page.locator(".lm-DockPanel-tabBar .lm-mod-current").first.inner_text()
    snap(page, "attached-stopped-at-entry")

    click_gutter(page, editor, loop_line)
    sidebar.locator(".jp-DebuggerBreakpoint").first.wait_for(timeout=15_000)
    snap(page, "breakpoint-set-in-file-editor")
    sidebar.locator("[title^='Continue']").first.click()
    page.wait_for_function(
        """(line) => [...document.querySelectorAll('#jp-debugger-sidebar .jp-DebuggerCallstackFrame')]
                     .some(f => f.textContent.includes('train.py') && f.textContent.includes(':' + line))""",
        arg=loop_line, timeout=30_000)
    variables = sidebar.locator(".jp-DebuggerVariables")
    page.wait_for_function(
        """() => /epoch\\s*:?\\s*0/.test(document.querySelector('#jp-debugger-sidebar .jp-DebuggerVariables')?.innerText || '')""",
        timeout=30_000)
    assert re.search(r"\bw\b", variables.inner_text())
    snap(page, "stopped-at-breakpoint")

    sidebar.locator("[title^='Remove All Breakpoints']").first.click()  # then let the step finish
    page.locator(".jp-Dialog").get_by_role("button", name="Remove breakpoints").click()
    sidebar.locator(".jp-DebuggerBreakpoint").first.wait_for(state="detached", timeout=15_000)
    sidebar.locator("[title^='Continue']").first.click()
    panel = open_panel(page)
    panel.locator("[data-amldebug-target$=':train'][data-amldebug-state='done']").wait_for(timeout=60_000)
    run_cells_until(page, "run.wait()", from_cell=7)
    wait_idle(page, 60_000)
    assert "'Completed'" in page.locator(".jp-Notebook").inner_text()
    snap(page, "run-completed")
    assert not [e for e in page.console_errors if "amldebug" in e.lower()], page.console_errors


def test_a_failed_attach_becomes_a_notification(lab_server: Lab, page: Any) -> None:
    open_notebook(page, lab_server)
    run_cells_until(page, "%load_ext amldebug_jupyter")
    wait_idle(page)
    cell = page.locator(".jp-Notebook .jp-Cell").nth(2)  # type a new cell below: an address nobody listens on
    cell.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type(f"%aml_debug attach --host 127.0.0.1 --port {free_port()}")
    page.keyboard.press("Shift+Enter")
    toast = page.locator(".Toastify__toast", has_text="Could not start remote debugging")
    toast.wait_for(timeout=60_000)
    snap(page, "notification")
    toast.get_by_role("button", name="Details").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=10_000)
    assert "127.0.0.1" in dialog.inner_text()
    snap(page, "notification-details")


def view_menu(page: Any, *items: str) -> None:
    """Notebook 7: View > ITEM (> SUBITEM)."""
    page.locator(".lm-MenuBar-item", has_text="View").first.click()
    for depth, item in enumerate(items):
        entry = page.locator(".lm-Menu").nth(depth).locator(".lm-Menu-item", has_text=item).first
        entry.hover() if depth < len(items) - 1 else entry.click()


def test_notebook_7_lists_targets_and_attaches(notebook7_server: Lab, page: Any) -> None:
    open_notebook(page, notebook7_server)
    run_cells_until(page, "run.wait_for_endpoint")
    wait_idle(page, 90_000)
    view_menu(page, "Left Sidebar", "Azure ML debug targets")
    panel = page.locator("#amldebug-targets")
    row = panel.locator("[data-amldebug-target$=':train'][data-amldebug-state='waiting']")
    row.wait_for(timeout=60_000)
    snap(page, "notebook7-panel-waiting")
    row.get_by_role("button", name="Attach").click()
    panel.locator("[data-amldebug-target$=':train'][data-amldebug-state='attached']").wait_for(timeout=30_000)
    view_menu(page, "Debugger Panel")
    frames = page.locator("#jp-debugger-sidebar .jp-DebuggerCallstackFrame")
    frames.first.wait_for(timeout=60_000)  # the debugger turned itself on and stopped at the entry
    assert "train.py" in frames.first.inner_text()
    snap(page, "notebook7-stopped-at-entry")
    page.locator("#jp-debugger-sidebar [title^='Continue']").first.click()
    panel.locator("[data-amldebug-target$=':train'][data-amldebug-state='done']").wait_for(timeout=60_000)
    assert not [e for e in page.console_errors if "amldebug" in e.lower()], page.console_errors
