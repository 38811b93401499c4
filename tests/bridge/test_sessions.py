"""Debug sessions one after another in one notebook, as a user works all day."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import line_of
from support.kernel_harness import LabFrontend
from support.steps import HISTORY, notebook_value, submit_and_attach

pytestmark = pytest.mark.kernel


def finish(lab: LabFrontend, first_stop: dict, stops: int = 3) -> None:
    """Continue from each breakpoint hit (one per epoch) until the step ends."""
    stop = first_stop
    for n in range(stops):
        assert lab.request("continue", {"threadId": stop["thread"]})["success"]
        if n < stops - 1:
            stop = lab.stopped_frame()
    lab.wait_event("terminated", 30)
    assert notebook_value(lab, "run.wait(timeout=60)") == "Completed"
    assert HISTORY in notebook_value(lab, "run.logs('train')")


def test_three_sessions_in_a_row_need_no_detach_and_no_new_toggle(lab: LabFrontend, train_py: Path) -> None:
    bp = line_of(train_py, "loop breakpoint")
    for session in range(3):
        submit_and_attach(lab, train_py)  # a new run each time; the previous step has ended
        if session == 0:
            assert lab.toggle_on({str(train_py): [bp]})["attach"]["success"]
        stop = lab.stopped_frame(30)  # the debugger UI stayed on: the new step stops at the same breakpoint
        assert stop["frame"]["line"] == bp and stop["frame"]["source"]["path"] == str(train_py), stop
        variables = lab.frame_variables(stop["frame"]["id"])
        assert variables["epoch"] == "0"
        finish(lab, stop)
        assert lab.kernel_info_seconds() < 1
    lab.streams.clear()
    lab.execute("%aml_debug detach")
    assert "has ended; the debugger let go of it" in lab.output(), lab.output()
    assert "keeps running" not in lab.output()
