"""JupyterLab's debugger, driven over a real kernel's control channel, debugging a remote step."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import line_of, write
from kernel_harness import LabFrontend, lab_kernel

TRAIN = """
    import json                                 # first statement
    params = {"lr": 0.1, "epochs": 3}
    history = []
    for epoch in range(params["epochs"]):
        loss = round(1.0 / (epoch + 1), 3)     # loop breakpoint
        history.append(loss)
    print("history", json.dumps(history))
"""


@pytest.fixture
def train_py(tmp_path: Path) -> Path:
    return write(tmp_path / "project" / "train" / "train.py", TRAIN)


@pytest.fixture
def lab(amldebug_home: Path) -> Iterator[LabFrontend]:
    with lab_kernel({"AMLDEBUG_HOME": str(amldebug_home), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}) as fe:
        assert fe.execute("%load_ext amldebug_jupyter")["status"] == "ok"
        yield fe


def submit_and_attach(lab: LabFrontend, train_py: Path, timeout: float = 60, extra: str = "") -> None:
    code = textwrap.dedent(f"""
        from amldebug_jupyter import Pipeline, Step, submit
        run = submit(Pipeline("p", [Step("train", "train.py", {str(train_py.parent)!r}, debug=True)]),
                     timeout={timeout}, stop_on_entry=False)
        %aml_debug attach train {extra}
    """)
    reply = lab.execute(code)
    assert reply["status"] == "ok", lab.output()
    assert "Debugger retargeted to step 'train'" in lab.output()


def test_jupyterlab_sequence_debugs_the_remote_step(lab: LabFrontend, train_py: Path) -> None:
    submit_and_attach(lab, train_py)
    bp = line_of(train_py, "loop breakpoint")
    replies = lab.toggle_on({str(train_py): [bp]})
    assert replies["initialize"]["success"], replies["initialize"]
    assert replies["debugInfo"]["body"]["hashMethod"] == "Murmur2"        # stays local
    assert replies[f"setBreakpoints:{train_py}"]["body"]["breakpoints"][0]["verified"] is True
    assert replies["inspectVariables"]["body"]["variables"] == []          # not the notebook's globals

    stop = lab.stopped_frame()
    frame = stop["frame"]
    assert (frame["source"]["path"], frame["line"]) == (str(train_py), bp)  # the local path
    info = lab.request("debugInfo", {})["body"]
    assert info["isStarted"] is True and info["stoppedThreads"] == [stop["thread"]]
    assert info["richRendering"] is False and info["copyToGlobals"] is False
    variables = lab.frame_variables(frame["id"])
    assert variables["epoch"] == "0" and variables["params"] == "{'lr': 0.1, 'epochs': 3}"
    evaluated = lab.request("evaluate", {"expression": "params['lr'] * 10", "frameId": frame["id"], "context": "repl"})
    assert evaluated["body"]["result"] == "1.0"
    source = lab.request("source", {"source": {"path": str(train_py)}, "sourceReference": 0})
    assert "loop breakpoint" in source["body"]["content"]

    assert lab.request("next", {"threadId": stop["thread"]})["success"]
    after_next = lab.stopped_frame()
    assert after_next["frame"]["line"] == bp + 1
    lab.request("setBreakpoints", {"source": {"path": str(train_py)}, "breakpoints": [], "sourceModified": False})
    assert lab.request("continue", {"threadId": stop["thread"]})["success"]
    assert lab.toggle_off()["success"]
    assert lab.execute("print(run.wait(30))")["status"] == "ok"
    assert "Completed" in lab.output()
    assert lab.kernel_info_seconds() < 1


def test_breakpoint_on_the_first_statement_is_hit(lab: LabFrontend, train_py: Path) -> None:
    submit_and_attach(lab, train_py)
    first = line_of(train_py, "first statement")
    lab.toggle_on({str(train_py): [first]})
    stop = lab.stopped_frame()
    assert stop["frame"]["line"] == first
    lab.request("continue", {"threadId": stop["thread"]})
    lab.toggle_off()


def test_stop_on_entry_without_any_breakpoint(lab: LabFrontend, train_py: Path) -> None:
    submit_and_attach(lab, train_py, extra="--stop-on-entry")
    lab.toggle_on()
    stop = lab.stopped_frame()
    assert (stop["frame"]["source"]["path"], stop["frame"]["line"]) == (str(train_py), line_of(train_py, "first statement"))
    lab.request("continue", {"threadId": stop["thread"]})
    lab.toggle_off()
    lab.execute("print(run.wait(30))")
    assert "Completed" in lab.output()
