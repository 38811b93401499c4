"""The whole product in a real browser: JupyterLab or Notebook 7 served here, Playwright driving
Debian's Chromium headless, the extension from the installed package, a real kernel and a real step.

Things are found by role, label and the extension's ``data-amldebug-*`` attributes, and every
wait is on a state a user would see (a cell's execution count, a row's state, the debugger's
call stack), each bounded. Each test's folder ``test-artifacts/e2e/<test>/`` (gitignored) gets
screenshots of its stages and the server's log; a failing test also leaves its last screenshot and
the page's console log there, and its report names them (tests/browser_artifacts.py).
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from playwright.sync_api import expect, sync_playwright
from support import free_port, line_of
from support.browser_artifacts import KEY, ROOT, Artifacts

pytestmark = [pytest.mark.timeout(300), pytest.mark.browser]
REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "01-local-pipeline-debug.ipynb"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]
SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False}}
ACTIVE = re.compile(r"\bjp-mod-active\b")
COUNTED = re.compile(r"^\[\d+\]:$")  # an input prompt once its cell ran


class Lab(NamedTuple):
    url: str
    root: Path


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Artifacts:
    request.node.stash[KEY] = found = Artifacts(request.node.name)
    return found


@pytest.fixture
def lab_server(tmp_path: Path, amldebug_home: Path, artifacts: Artifacts) -> Iterator[Lab]:
    with serve("jupyterlab", "lab/tree", tmp_path, amldebug_home, artifacts.server_log) as lab:
        yield lab


@pytest.fixture
def notebook7_server(tmp_path: Path, amldebug_home: Path, artifacts: Artifacts) -> Iterator[Lab]:
    with serve("notebook", "notebooks", tmp_path, amldebug_home, artifacts.server_log) as lab:
        yield lab


@contextmanager
def serve(app: str, page_path: str, tmp_path: Path, amldebug_home: Path, log_path: Path) -> Iterator[Lab]:
    """JupyterLab or Notebook 7 on 127.0.0.1 over a copy of notebooks/ (the repository is never written)."""
    root = tmp_path / "root"
    shutil.copytree(REPO / "notebooks", root)
    settings = tmp_path / "settings"
    for name, value in SETTINGS.items():
        write_json(settings / name, value)
    port, token = free_port(), "amldebug-e2e-token"
    env = dict(
        os.environ,
        AMLDEBUG_HOME=str(amldebug_home),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
    )
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                app,
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--ServerApp.port_retries=0",
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise AssertionError(f"{app} did not start: {log_path.read_text()[-2000:]}") from None
                    time.sleep(0.3)
            yield Lab(f"{base}/{page_path}/{NOTEBOOK}?token={token}", root)
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


@pytest.fixture
def page(artifacts: Artifacts) -> Iterator[Any]:
    assert os.path.exists(CHROMIUM), "Debian's chromium is not installed (scripts/test installs it)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
            page.set_default_timeout(30_000)
            artifacts.watch(page)
            yield page
        finally:
            browser.close()


# -- the notebook ---------------------------------------------------------------------------------
def open_notebook(page: Any, lab: Lab) -> None:
    page.goto(lab.url)
    expect(code_cell(page, "%load_ext amldebug_jupyter")).to_be_visible(timeout=60_000)
    # The session has its kernel (a cell run under "No Kernel" is dropped), and the kernel is idle:
    # the toolbar's indicator reads "idle" before the session exists too, hence the name first.
    toolbar = page.locator(".jp-NotebookPanel-toolbar")
    expect(toolbar.locator(".jp-KernelName")).to_have_text(re.compile(r"^Python 3"), timeout=60_000)
    expect(toolbar.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle", timeout=60_000)


def code_cell(page: Any, source: str) -> Any:
    """The notebook's code cell whose source contains ``source``."""
    return page.locator(".jp-Notebook .jp-CodeCell").filter(has=page.locator(".jp-InputArea-editor", has_text=source))


def show_notebook(page: Any) -> None:
    """JupyterLab: bring the notebook's tab to the front (Notebook 7 shows one document per page)."""
    tab = page.get_by_role("tab", name=NOTEBOOK)
    if tab.count():
        tab.click()
        expect(tab).to_have_attribute("aria-selected", "true")


def select_cell(page: Any, cell: Any) -> None:
    """Make ``cell`` the active cell (a click on its prompt: command mode, nothing typed)."""
    cell.locator(".jp-InputPrompt").click()
    expect(cell).to_have_class(ACTIVE)


def run_cell(page: Any, cell: Any, timeout: float = 60_000) -> Any:
    """Run ``cell`` with the toolbar's Run button; return it once its prompt shows its execution count."""
    prompt = cell.locator(".jp-InputPrompt")
    before = prompt.inner_text()
    select_cell(page, cell)
    page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Run this cell").click()
    expect(prompt).not_to_have_text(before, timeout=timeout)  # queued or running: [*]:
    expect(prompt).to_have_text(COUNTED, timeout=timeout)
    return cell


def run_cells_through(page: Any, marker: str, timeout: float = 90_000) -> Any:
    """Run the notebook's code cells in order, each to completion, through the one containing ``marker``."""
    import nbformat

    show_notebook(page)
    cells = nbformat.read(REPO / "notebooks" / NOTEBOOK, as_version=4).cells
    for source in [c.source for c in cells if c.cell_type == "code"]:
        cell = run_cell(page, code_cell(page, source.splitlines()[0]), timeout)
        if marker in source:
            return cell
    raise AssertionError(f"no code cell contains {marker!r}")


def type_cell_below(page: Any, above: Any, source: str) -> Any:
    """A new code cell below ``above`` holding ``source``, typed into its editor once that has focus."""
    select_cell(page, above)
    page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Insert a cell below").click()
    expect(above).not_to_have_class(ACTIVE)
    new = page.locator(".jp-Notebook .jp-CodeCell.jp-mod-active")
    editor = new.locator(".cm-content")
    expect(editor).to_have_text("")
    editor.click()
    expect(page.locator(".jp-Notebook.jp-mod-editMode")).to_have_count(1)
    expect(new.locator(".cm-editor")).to_have_class(re.compile(r"\bcm-focused\b"))
    editor.press_sequentially(source)
    expect(editor).to_have_text(source)
    return code_cell(page, source)


# -- the panel and the debugger -------------------------------------------------------------------
def target_row(page: Any, step: str, state: str) -> Any:
    return page.locator(f"#amldebug-targets [data-amldebug-target$=':{step}'][data-amldebug-state='{state}']")


def open_panel(page: Any) -> None:
    """JupyterLab: the targets panel from its tab in the left sidebar."""
    tab = page.get_by_role("tab", name="Azure ML debug targets")
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    expect(page.locator("#amldebug-targets")).to_be_visible()


def view_menu(page: Any, *items: str) -> None:
    """Notebook 7: View > ITEM (> SUBITEM), each menu waited for before it is used."""
    page.get_by_role("menuitem", name="View", exact=True).click()
    for depth, item in enumerate(items):
        menu = page.locator(".lm-Menu").nth(depth)
        expect(menu).to_be_visible()
        entry = menu.locator(".lm-Menu-item", has_text=item).first
        entry.hover() if depth < len(items) - 1 else entry.click()
    expect(page.locator(".lm-Menu")).to_have_count(0)


def debugger_sidebar(page: Any) -> Any:
    return page.locator("#jp-debugger-sidebar")


def continue_(page: Any) -> None:
    debugger_sidebar(page).get_by_role("button", name=re.compile(r"^Continue")).click()


def wait_stopped_in(page: Any, script: str, line: int | None = None, timeout: float = 30_000) -> None:
    """The debugger's call stack shows its top frame in ``script`` (at ``line``)."""
    where = re.escape(script) + (rf":{line}\b" if line else r":\d+")
    top = debugger_sidebar(page).locator(".jp-DebuggerCallstackFrame").first
    expect(top).to_contain_text(re.compile(where), timeout=timeout)


def click_gutter(page: Any, editor: Any, line: int) -> None:
    """A click in the breakpoint gutter of ``line`` (1-based) of a CodeMirror editor."""
    row = editor.locator(".cm-line").nth(line - 1)
    row.scroll_into_view_if_needed()
    gutter = editor.locator(".cm-breakpoint-gutter").first.bounding_box()
    box = row.bounding_box()
    page.mouse.click(gutter["x"] + gutter["width"] / 2, box["y"] + box["height"] / 2)


def show_file_editor(page: Any, name: str) -> Any:
    """JupyterLab: bring the regular (editable) file editor of ``name`` to the front; return its editor.

    JupyterLab 4.6 also opens a read-only preview of a stopped frame's source, a second tab of the
    same name that may be in front of ours (4.0 shows it in the debugger sidebar instead).
    """
    document = page.locator(".jp-MainAreaWidget", has=page.locator(".jp-FileEditor"))
    expect(document).to_have_count(1, timeout=30_000)
    tab = page.locator(f".lm-TabBar-tab[data-id='{document.get_attribute('id')}']")
    expect(tab).to_have_text(name)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    editor = document.locator(".cm-editor")
    expect(editor).to_be_visible()
    return editor


def remove_all_breakpoints_and_run_to_the_end(page: Any, done: Any) -> None:
    """Remove All Breakpoints (confirmed in its dialog), then Continue: the step runs to its end.

    The step must not stop again: a breakpoint that comes back after Remove All (a gutter that
    re-sends what it showed, crossing the removal) is a bug a user would notice.
    """
    breakpoints = debugger_sidebar(page).locator(".jp-DebuggerBreakpoint")
    stopped_again = debugger_sidebar(page).locator(".jp-DebuggerVariables", has_text=re.compile(r"epoch\W*[1-9]"))
    dialog = page.locator(".jp-Dialog")
    debugger_sidebar(page).get_by_role("button", name="Remove All Breakpoints").click()
    dialog.get_by_role("button", name="Remove breakpoints").click()
    expect(dialog).to_have_count(0)
    expect(breakpoints).to_have_count(0)
    continue_(page)
    expect(done.or_(stopped_again)).to_be_visible(timeout=60_000)
    listed = breakpoints.all_inner_texts()
    assert done.is_visible(), f"after Remove All Breakpoints the step stopped again (the list shows {listed})"


def assert_no_extension_errors(artifacts: Artifacts) -> None:
    errors = artifacts.errors()
    assert not [e for e in errors if "amldebug" in e.lower()], errors


# -- the tests ------------------------------------------------------------------------------------
def test_attach_from_the_panel_and_stop_at_a_file_editor_breakpoint(lab_server: Lab, page: Any, artifacts: Artifacts) -> None:
    train = lab_server.root / "local-pipeline" / "train" / "train.py"
    loop_line = line_of(train, "a good place for a breakpoint")
    open_notebook(page, lab_server)
    artifacts.snap("notebook-open")
    run_cells_through(page, "run.wait_for_endpoint")
    open_panel(page)
    row = target_row(page, "train", "waiting")
    expect(row).to_be_visible(timeout=60_000)
    artifacts.snap("panel-waiting")

    row.get_by_role("button", name="Attach").click()
    wait_stopped_in(page, "train.py", timeout=60_000)  # the debugger turned itself on: stop-on-entry
    expect(target_row(page, "train", "paused")).to_be_visible()
    editor = show_file_editor(page, "train.py")  # opened by the extension at attach
    artifacts.snap("attached-stopped-at-entry")

    click_gutter(page, editor, loop_line)
    breakpoint_row = debugger_sidebar(page).locator(".jp-DebuggerBreakpoint", has_text="train.py")
    expect(breakpoint_row).to_contain_text(str(loop_line))
    artifacts.snap("breakpoint-set-in-file-editor")
    continue_(page)
    wait_stopped_in(page, "train.py", loop_line)
    expect(breakpoint_row).to_contain_text(str(loop_line))  # still listed at its stop (JupyterLab 4.0 dropped it)
    variables = debugger_sidebar(page).locator(".jp-DebuggerVariables")
    expect(variables).to_contain_text(re.compile(r"\bepoch\W*0\b"), use_inner_text=True)
    expect(variables).to_contain_text(re.compile(r"\bw\b"), use_inner_text=True)
    artifacts.snap("stopped-at-breakpoint")

    remove_all_breakpoints_and_run_to_the_end(page, target_row(page, "train", "completed"))
    show_notebook(page)
    wait_cell = run_cell(page, code_cell(page, "run.wait()"))
    expect(wait_cell.locator(".jp-OutputArea-output")).to_contain_text("'Completed'")
    artifacts.snap("run-completed")
    assert_no_extension_errors(artifacts)


def test_a_failed_attach_becomes_a_notification(lab_server: Lab, page: Any, artifacts: Artifacts) -> None:
    open_notebook(page, lab_server)
    load = run_cell(page, code_cell(page, "%load_ext amldebug_jupyter"))
    nobody = f"%aml_debug attach --host 127.0.0.1 --port {free_port()}"  # an address nobody listens on
    run_cell(page, type_cell_below(page, load, nobody))
    toast = page.locator(".Toastify__toast", has_text="Could not start remote debugging")
    expect(toast).to_be_visible(timeout=60_000)
    artifacts.snap("notification")
    toast.get_by_role("button", name="Details").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("127.0.0.1")
    artifacts.snap("notification-details")


def test_notebook_7_lists_targets_and_attaches(notebook7_server: Lab, page: Any, artifacts: Artifacts) -> None:
    open_notebook(page, notebook7_server)
    run_cells_through(page, "run.wait_for_endpoint")
    view_menu(page, "Left Sidebar", "Azure ML debug targets")
    row = target_row(page, "train", "waiting")
    expect(row).to_be_visible(timeout=60_000)
    artifacts.snap("notebook7-panel-waiting")
    row.get_by_role("button", name="Attach").click()
    view_menu(page, "Debugger Panel")
    wait_stopped_in(page, "train.py", timeout=60_000)  # the debugger turned itself on: stop-on-entry
    expect(target_row(page, "train", "paused")).to_be_visible()
    artifacts.snap("notebook7-stopped-at-entry")
    continue_(page)
    expect(target_row(page, "train", "completed")).to_be_visible(timeout=60_000)
    assert_no_extension_errors(artifacts)


INNER = """
from playwright.sync_api import expect
from test_browser_e2e import artifacts, lab_server, page  # noqa: F401  (the real fixtures)

def test_inner_check_fails(lab_server, page):
    page.goto(lab_server.url)
    page.evaluate("console.info('the inner page says hello')")
    expect(page.get_by_role("tab", name="no-such-notebook.ipynb")).to_be_visible(timeout=2000)
"""


def test_a_failing_browser_test_keeps_its_screenshot_and_logs_and_says_where(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER)
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "test_inner.py"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(str(REPO / "tests" / d) for d in ("", "labextension"))),
    )
    kept = ROOT / "test_inner_check_fails"
    try:
        assert inner.returncode == 1, inner.stdout + inner.stderr
        assert (
            "artifacts: test-artifacts/e2e/test_inner_check_fails/ (screenshot last.png, console.log, jupyter-server.log)"
        ) in inner.stdout, inner.stdout
        assert (kept / "last.png").read_bytes().startswith(b"\x89PNG")
        assert "info: the inner page says hello" in (kept / "console.log").read_text()
        assert "is running at" in (kept / "jupyter-server.log").read_text()
    finally:
        shutil.rmtree(kept, ignore_errors=True)
