"""A day's debugging in a real browser: many sessions in one notebook, crashes, a kernel restart
and a notebook closed while paused, each stage checked where the user looks (the sidebar's row,
the panel under the submit cell, the debugger's call stack, the editor tabs). Screenshots of every
stage go to ``test-artifacts/e2e/<test>/``.

The notebook is written by the test (the demo notebook is for people): a pipeline of the demo's
unmodified step scripts, plus one that crashes.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect
from support import line_of
from support.browser_artifacts import Artifacts
from test_browser_e2e import (
    NOTEBOOK,
    Lab,
    click_gutter,
    code_cell,
    continue_,
    debugger_sidebar,
    open_panel,
    remove_all_breakpoints_and_run_to_the_end,
    run_cell,
    show_file_editor,
    view_menu,
    wait_stopped_in,
)

pytestmark = [pytest.mark.timeout(420), pytest.mark.browser]
SESSIONS = "sessions.ipynb"
CRASH = "x = 1\nraise KeyError('no column named price')\n"
CELLS = [
    "%load_ext amldebug_jupyter",
    "import tempfile\n"
    "from amldebug_jupyter import Pipeline, Step\n"
    "data = tempfile.mkdtemp()\n"
    "pipeline = Pipeline('local-demo', [\n"
    "    Step('prep', 'prep.py', 'local-pipeline/prep', arguments=['--out', data]),\n"
    "    Step('train', 'train.py', 'local-pipeline/train', arguments=['--data', data, '--epochs', 2]),\n"
    "])\n"
    "crashing = Pipeline('crashing', [Step('crash', 'crash.py', 'crash')])",
    "run = %aml_debug pipeline submit pipeline --debug train --timeout 300 --attach manual",
    "run.wait_for_endpoint('train')",
    "print(run.wait())",
    "crash_run = %aml_debug pipeline submit crashing --debug crash --timeout 300 --attach manual",
    "pm_run = %aml_debug pipeline submit crashing --debug crash --timeout 300 --attach manual --post-mortem",
    "%aml_debug status",
]


def sessions_notebook(lab: Lab) -> str:
    """Write the test's notebook next to the demo's; its URL."""
    (lab.root / "crash").mkdir()
    (lab.root / "crash" / "crash.py").write_text(CRASH)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, lab.root / SESSIONS)
    return lab.url.replace(NOTEBOOK, SESSIONS)


def open_sessions(page: Any, lab: Lab) -> None:
    page.goto(sessions_notebook(lab))
    expect(code_cell(page, "%load_ext amldebug_jupyter")).to_be_visible(timeout=60_000)
    toolbar = page.locator(".jp-NotebookPanel-toolbar")
    expect(toolbar.locator(".jp-KernelName")).to_have_text(re.compile(r"^Python 3"), timeout=60_000)
    expect(toolbar.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle", timeout=60_000)


def show_sessions(page: Any) -> None:
    tab = page.get_by_role("tab", name=SESSIONS)
    if tab.count():
        tab.click()
        expect(tab).to_have_attribute("aria-selected", "true")


def run(page: Any, first_line: str, timeout: float = 90_000) -> Any:
    show_sessions(page)
    return run_cell(page, code_cell(page, first_line), timeout)


def start_cell(page: Any, first_line: str) -> Any:
    """Run a cell and return while it still runs (its prompt shows [*])."""
    show_sessions(page)
    cell = code_cell(page, first_line)
    cell.locator(".jp-InputPrompt").click()
    page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Run this cell").click()
    expect(cell.locator(".jp-InputPrompt")).to_have_text("[*]:")
    return cell


def rows(page: Any, step: str, state: str) -> Any:
    """The sidebar's rows of ``step`` in ``state`` (one per run of it)."""
    return page.locator(f"#amldebug-targets [data-amldebug-target$=':{step}'][data-amldebug-state='{state}']")


def show_sidebar(page: Any, notebook7: bool) -> None:
    if notebook7:
        if not page.locator("#amldebug-targets").is_visible():
            view_menu(page, "Left Sidebar", "Azure ML debug targets")
        expect(page.locator("#amldebug-targets")).to_be_visible()
    else:
        open_panel(page)


def show_debugger(page: Any, notebook7: bool) -> None:
    if notebook7 and not debugger_sidebar(page).is_visible():
        view_menu(page, "Debugger Panel")


def panel_status(cell: Any, text: str) -> Any:
    """The run panel (ipywidgets, under the submit cell) showing ``text`` as a step's status."""
    return cell.locator(".widget-label", has_text=text)


def editor_tabs(page: Any, name: str) -> Any:
    label = page.locator(".lm-TabBar-tabLabel", has_text=re.compile(rf"^{re.escape(name)}$"))
    return page.locator(".lm-DockPanel .lm-TabBar-tab", has=label)


def jupyterlab_breakpoint(page: Any, artifacts: Artifacts, n: int, loop_line: int) -> None:
    """In the one editor of the script: its stopped line lit, a gutter breakpoint hit, then run to the end."""
    expect(editor_tabs(page, "train.py")).to_have_count(1)  # one editor, not ours plus the debugger's viewer
    # The cell's panel is checked before and after (and while paused in Notebook 7, one page): switching
    # tabs here makes JupyterLab's debugger restore its state, racing the next gutter click.
    editor = show_file_editor(page, "train.py")
    highlighted = editor.locator(".jp-DebuggerEditor-highlight")
    expect(highlighted).to_have_count(1)  # the stopped line, in the one editor of the script
    expect(highlighted).to_contain_text("import argparse")
    artifacts.snap(f"session{n}-stopped-at-entry")
    click_gutter(page, editor, loop_line)
    listed = debugger_sidebar(page).locator(".jp-DebuggerBreakpoint", has_text="train.py")
    expect(listed).to_contain_text(str(loop_line))  # the red dot is listed: the breakpoint reached the kernel
    continue_(page)
    wait_stopped_in(page, "train.py", loop_line)
    expect(highlighted).to_contain_text("w -= lr * grad")
    paused = rows(page, "train", "paused")
    expect(paused.locator(".jp-amldebug-target-detail")).to_contain_text(f"stopped at train.py:{loop_line}")
    artifacts.snap(f"session{n}-stopped-at-breakpoint")
    expect(debugger_sidebar(page).locator(".jp-DebuggerBreakpoint")).to_have_count(1)
    remove_all_breakpoints_and_run_to_the_end(page, rows(page, "train", "completed").nth(n - 1))


def notebook7_stop_and_finish(page: Any, submit: Any, n: int) -> None:
    """Notebook 7 opens the script in a browser tab of its own, once for all sessions (a file
    editor there is another page, without this notebook's debugger); the stop is shown here."""
    editors = [p for p in page.context.pages if p.url.split("?")[0].endswith("/edit/local-pipeline/train/train.py")]
    assert len(editors) == 1, [p.url for p in page.context.pages]
    expect(panel_status(submit, "Running · paused")).to_be_visible()
    expect(submit.locator(".jp-OutputArea-output", has_text="step 'train' paused (stopped at train.py:2)")).to_be_visible()
    continue_(page)


def one_session(page: Any, lab: Lab, artifacts: Artifacts, n: int, notebook7: bool) -> None:
    """Submit, attach with one click, stop (at a file-editor breakpoint in JupyterLab), let the step finish."""
    train = lab.root / "local-pipeline" / "train" / "train.py"
    submit = run(page, "run = %aml_debug pipeline submit pipeline")
    run(page, "run.wait_for_endpoint")
    expect(panel_status(submit, "Running · waiting")).to_be_visible(timeout=30_000)
    expect(submit.locator(".jp-OutputArea-output", has_text="step 'train' waiting")).to_be_visible()
    show_sidebar(page, notebook7)
    waiting = rows(page, "train", "waiting")
    expect(waiting).to_have_count(1, timeout=60_000)
    expect(waiting.locator(".jp-amldebug-target-detail")).to_contain_text("waits for a debugger until")
    expect(rows(page, "train", "completed")).to_have_count(n - 1)
    label = waiting.locator(".jp-amldebug-target-label")
    assert label.evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"  # one line, never three
    artifacts.snap(f"session{n}-waiting")

    busy = start_cell(page, "print(run.wait())") if n == 2 else None  # Attach must not wait for the kernel
    waiting.get_by_role("button", name="Attach").click()  # one click, every session
    show_debugger(page, notebook7)
    wait_stopped_in(page, "train.py", timeout=60_000)  # stop on entry: no breakpoint of the user's yet
    paused = rows(page, "train", "paused")
    expect(paused).to_have_count(1)
    expect(paused.locator(".jp-amldebug-target-detail")).to_contain_text("stopped at train.py:")
    expect(paused.get_by_role("button", name="Attach")).to_be_disabled()
    expect(paused.get_by_role("button", name="Detach")).to_be_enabled()
    if notebook7:
        notebook7_stop_and_finish(page, submit, n)
    else:
        jupyterlab_breakpoint(page, artifacts, n, line_of(train, "a good place for a breakpoint"))
    expect(rows(page, "train", "completed")).to_have_count(n, timeout=60_000)
    show_sessions(page)
    if busy is not None:  # the cell that was running all along ends with the step
        expect(busy.locator(".jp-InputPrompt")).to_have_text(re.compile(r"^\[\d+\]:$"), timeout=30_000)
        expect(busy.locator(".jp-OutputArea-output")).to_contain_text("Completed")
    expect(panel_status(submit, "Completed")).to_have_count(2)  # prep and train
    expect(submit.locator(".jp-OutputArea-output", has_text="completed after")).to_be_visible()
    expect(submit.locator(".jp-OutputArea-output", has_text="waits for a debugger")).to_have_count(0)  # no stale line
    artifacts.snap(f"session{n}-completed")


@pytest.mark.parametrize("app", ["jupyterlab", "notebook7"])
def test_three_sessions_in_a_row_one_click_each(
    app: str, request: pytest.FixtureRequest, page: Any, artifacts: Artifacts
) -> None:
    lab: Lab = request.getfixturevalue("lab_server" if app == "jupyterlab" else "notebook7_server")
    open_sessions(page, lab)
    run(page, "%load_ext amldebug_jupyter")
    run(page, "import tempfile")
    for n in (1, 2, 3):
        one_session(page, lab, artifacts, n, notebook7=app == "notebook7")
    assert not [e for e in artifacts.errors() if "amldebug" in e.lower()], artifacts.errors()


def attach_and_stop_at_entry(page: Any, step: str, script: str) -> Any:
    """One click on the waiting row of ``step``; the debugger stops at the script's first line."""
    show_sidebar(page, notebook7=False)
    waiting = rows(page, step, "waiting")
    expect(waiting).to_have_count(1, timeout=60_000)
    waiting.get_by_role("button", name="Attach").click()
    wait_stopped_in(page, script, timeout=60_000)
    expect(rows(page, step, "paused")).to_have_count(1)
    return rows(page, step, "paused")


def test_a_crash_says_why_with_and_without_post_mortem(lab_server: Lab, page: Any, artifacts: Artifacts) -> None:
    open_sessions(page, lab_server)
    for first_line in ("%load_ext amldebug_jupyter", "import tempfile", "crash_run = "):
        run(page, first_line)
    attach_and_stop_at_entry(page, "crash", "crash.py")
    continue_(page)  # no --post-mortem: the step dies, and the user is told why
    toast = page.locator(".Toastify__toast", has_text="Step 'crash' failed: KeyError: 'no column named price'")
    expect(toast).to_be_visible(timeout=30_000)
    failed = rows(page, "crash", "failed")
    expect(failed).to_have_count(1)
    expect(failed.locator(".jp-amldebug-target-detail")).to_have_text("KeyError: 'no column named price'")
    expect(debugger_sidebar(page).locator(".jp-DebuggerCallstackFrame")).to_have_count(0)  # the debugger let go
    artifacts.snap("crashed-without-post-mortem")

    run(page, "pm_run = ")
    attach_and_stop_at_entry(page, "crash", "crash.py")  # one click again: no detach, no bug icon
    continue_(page)
    wait_stopped_in(page, "crash.py", 2)  # post-mortem: stopped where it raised, with the exception shown
    post_mortem = rows(page, "crash", "post-mortem")
    expect(post_mortem).to_have_count(1)
    expect(post_mortem.locator(".jp-amldebug-target-detail")).to_have_text("KeyError: 'no column named price' (at crash.py:2)")
    artifacts.snap("post-mortem")
    continue_(page)
    expect(rows(page, "crash", "failed")).to_have_count(2, timeout=30_000)
    artifacts.snap("post-mortem-done")


def open_with_train_waiting(page: Any, lab: Lab) -> None:
    """The test's notebook run down to the cell that waits for train's endpoint."""
    open_sessions(page, lab)
    for first_line in (
        "%load_ext amldebug_jupyter",
        "import tempfile",
        "run = %aml_debug pipeline submit pipeline",
        "run.wait_for_endpoint",
    ):
        run(page, first_line)


def test_a_kernel_restart_keeps_the_waiting_step_and_the_new_kernel_attaches(
    lab_server: Lab, page: Any, artifacts: Artifacts
) -> None:
    open_with_train_waiting(page, lab_server)
    show_sidebar(page, notebook7=False)
    expect(rows(page, "train", "waiting")).to_have_count(1, timeout=60_000)
    page.get_by_role("menuitem", name="Kernel", exact=True).click()
    page.locator(".lm-Menu-item", has_text=re.compile(r"^Restart Kernel…")).first.click()
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()  # "Restart" (its name differs by version)
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    expect(page.locator("#amldebug-targets [data-amldebug-target]")).to_have_count(0, timeout=30_000)  # that kernel is gone
    artifacts.snap("restarted")

    run(page, "%load_ext amldebug_jupyter")  # the new kernel finds the step the old one left waiting
    attach_and_stop_at_entry(page, "train", "train.py")
    artifacts.snap("attached-after-restart")
    continue_(page)
    expect(rows(page, "train", "completed")).to_have_count(1, timeout=60_000)
    run(page, "%aml_debug status")
    expect(code_cell(page, "%aml_debug status").locator(".jp-OutputArea-output")).to_contain_text("Completed")
    artifacts.snap("completed-after-restart")


def test_closing_a_paused_notebook_lets_the_step_run_on(
    lab_server: Lab, page: Any, artifacts: Artifacts, amldebug_home: Path
) -> None:
    open_with_train_waiting(page, lab_server)
    attach_and_stop_at_entry(page, "train", "train.py")
    artifacts.snap("paused")
    tab = page.get_by_role("tab", name=SESSIONS)
    tab.hover()
    tab.locator(".lm-TabBar-tabCloseIcon").click()
    dialog = page.locator(".jp-Dialog")
    if dialog.count():  # outputs changed the notebook: close without saving
        dialog.get_by_role("button", name=re.compile(r"^(Discard|Don't Save)")).click()
    expect(page.get_by_role("tab", name=SESSIONS)).to_have_count(0)
    (record,) = amldebug_home.glob("runs/local-demo*/run.json")
    deadline = time.monotonic() + 60
    while json.loads(record.read_text())["status"] != "Completed" and time.monotonic() < deadline:
        time.sleep(0.2)  # the kernel keeps running without the notebook: the step's own record says how it ends
    assert json.loads(record.read_text())["status"] == "Completed", "the step stayed paused after its notebook closed"
    artifacts.snap("closed")
    assert not [e for e in artifacts.errors() if "amldebug" in e.lower() or "Canceled future" in e], artifacts.errors()
    expect(page.locator(".Toastify__toast", has_text="Could not turn the debugger off")).to_have_count(0)
