"""The run panel as a view of run state, with a dummy comm (no frontend)."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Iterator, List

import pytest
from ipywidgets.widgets.tests.utils import setup_test_comm, teardown_test_comm
from support import write

from amldebug_jupyter import Pipeline, Step, submit
from amldebug_jupyter.core.events import LogLine
from amldebug_jupyter.errors import UserError
from amldebug_jupyter.notebook.panel import DebugPanel


@pytest.fixture(autouse=True)
def dummy_comm() -> Iterator[None]:
    setup_test_comm()
    yield
    teardown_test_comm()


class RecordingActions:
    def __init__(self) -> None:
        self.calls: List[tuple] = []

    def attach(self, run, step):
        self.calls.append(("attach", step))
        return f"attached {step}"

    def detach(self):
        self.calls.append(("detach",))
        raise UserError("The debugger is not attached to a remote step; nothing to detach.")

    def cancel(self, run):
        self.calls.append(("cancel", run.id))
        run.cancel()
        return "canceling"


@pytest.fixture
def waiting_run(tmp_path: Path):
    src = write(tmp_path / "src" / "train.py", "print('hello')\n").parent
    run = submit(Pipeline("p", [Step("train", "train.py", src, debug=True)]), timeout=60)
    yield run
    if not run.done:
        run.cancel()
        run.wait(30)


def test_rows_follow_run_state_and_buttons_call_the_session(waiting_run) -> None:
    actions = RecordingActions()
    panel = DebugPanel(waiting_run, actions=actions, log_lines=50)
    row = panel.rows["train"]
    endpoint = waiting_run.wait_for_endpoint("train", timeout=30)
    panel.render()
    assert row.status.value == "Running · waiting"  # the step's status, then where its debugging is
    assert row.status.tooltip.startswith("waits for a debugger until ")
    assert row.endpoint.value == endpoint.address
    assert row.countdown.value.endswith("left") and row.countdown.value.startswith(("0:5", "1:00"))
    assert row.buttons["Attach"].disabled is False and row.buttons["Detach"].disabled is True
    assert f"[amldebug] train waits for a debugger at {endpoint.address}" in panel.log.value  # readable, not JSON
    assert "AMLDEBUG_ENDPOINT" not in panel.log.value

    row.buttons["Attach"].click()
    assert actions.calls == [("attach", "train")] and "attached train" in panel.message.value
    row.buttons["Detach"].click()
    assert "nothing to detach" in panel.message.value and "error" in panel.message.value
    row.buttons["Cancel"].click()
    assert waiting_run.wait(30) == "Canceled"
    panel.render()
    assert row.status.value == "Canceled" and row.buttons["Cancel"].disabled and row.buttons["Attach"].disabled
    assert row.buttons["Detach"].disabled and row.countdown.value == ""
    assert panel.message.value == ""  # "canceling" and the detach error were about states now gone
    assert "Canceled" in panel.header.value


def test_background_refresh_picks_up_events(waiting_run) -> None:
    panel = DebugPanel(waiting_run, actions=RecordingActions(), refresh=0.05).start()
    try:
        waiting_run.wait_for_endpoint("train", timeout=30)
        deadline = time.monotonic() + 5
        while panel.rows["train"].endpoint.value == "" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert panel.rows["train"].endpoint.value.startswith("127.0.0.1:")
    finally:
        panel.close()


def test_ten_thousand_log_lines_keep_the_panel_bounded(waiting_run) -> None:
    panel = DebugPanel(waiting_run, actions=RecordingActions(), log_lines=200)
    line = "epoch 12 loss 0.123456 " + "x" * 60
    tracemalloc.start()
    for i in range(10_000):
        panel._on_event(LogLine("train", "user_logs/std_log.txt", f"{i:05d} {line}"))
        if i % 1000 == 0:
            panel.render()
            if i == 1000:
                baseline = tracemalloc.get_traced_memory()[0]
    panel.render()
    grown = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    assert len(panel.log_lines) == 200
    assert panel.log.value.splitlines()[-1].startswith("09999 ") and panel.log.value.splitlines()[0].startswith("09800 ")
    assert len(panel.log.value) < 200 * (len(line) + 10)
    assert grown < 2_000_000, grown  # 9,000 more lines cost no more memory than the first 1,000


def test_logs_button_switches_the_tailed_step(tmp_path: Path) -> None:
    a = write(tmp_path / "a" / "a.py", "print('from a')\n").parent
    b = write(tmp_path / "b" / "b.py", "print('from b')\n").parent
    run = submit(Pipeline("p", [Step("a", "a.py", a), Step("b", "b.py", b)]))
    run.wait(30)
    panel = DebugPanel(run, actions=RecordingActions())
    assert panel.selected == "a" and "from a" in panel.log.value
    panel.rows["b"].buttons["Logs"].click()
    assert panel.selected == "b" and panel.log.value == "from b" and "Log of b" in panel.log_title.value
