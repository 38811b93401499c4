"""A kernel restart while a local step waits: the step lives on and the new kernel adopts it; a
shutdown stops what the kernel started. A real kernel restarted by jupyter_client, as JupyterLab's
"Restart Kernel" does (a shutdown_request with restart=True, then a new process)."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest
from support import line_of, write
from support.kernel_harness import LabFrontend, lab_kernel
from support.steps import HISTORY, TRAIN, remote_pid
from test_frontend_comm import the_target

pytestmark = pytest.mark.kernel


@pytest.fixture
def lab(amldebug_home: Path) -> Iterator[LabFrontend]:
    with lab_kernel({"AMLDEBUG_HOME": str(amldebug_home), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}) as fe:
        assert fe.execute("%load_ext amldebug_jupyter")["status"] == "ok"
        yield fe


def submit_waiting(lab: LabFrontend, tmp_path: Path) -> Path:
    train = write(tmp_path / "proj" / "train" / "train.py", textwrap.dedent(TRAIN))
    code = textwrap.dedent(f"""
        from amldebug_jupyter import Pipeline, Step
        pipeline = Pipeline("p", [Step("train", "train.py", {str(train.parent)!r})])
        run = %aml_debug pipeline submit pipeline --debug train --timeout 120 --no-stop-on-entry --attach manual --no-panel
        run.wait_for_endpoint("train")
    """)
    assert lab.execute(code)["status"] == "ok", lab.output()
    return train


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


def test_a_waiting_step_survives_a_restart_and_the_new_kernel_attaches(lab: LabFrontend, tmp_path: Path) -> None:
    train = submit_waiting(lab, tmp_path)
    pid = remote_pid(lab)
    lab.km.restart_kernel(now=False)  # what JupyterLab's Restart Kernel does
    assert alive(pid), "the restart stopped the waiting step"
    lab.forget_comms()  # the old kernel's snapshots

    assert lab.execute("%load_ext amldebug_jupyter")["status"] == "ok", lab.output()
    lab.open_comm("amldebug", {"type": "hello"})
    waiting = lab.wait_comm(the_target("waiting", can_attach=True))["targets"][0]
    status = lab.execute("%aml_debug status")
    assert status["status"] == "ok" and "No run yet" not in lab.output(), (status, lab.output())

    answer = lab.request("amldebugAttach", {"target": waiting["id"]})
    assert answer["success"], answer
    bp = line_of(train, "# loop breakpoint")
    lab.toggle_on({str(train): [bp]})
    stop = lab.stopped_frame()
    assert (stop["frame"]["source"]["path"], stop["frame"]["line"]) == (str(train), bp)
    lab.request("setBreakpoints", {"source": {"path": str(train)}, "breakpoints": [], "sourceModified": False})
    lab.request("continue", {"threadId": stop["thread"]})
    lab.wait_comm(the_target("completed"), timeout=30)
    lab.streams.clear()
    code = "from amldebug_jupyter import api\nrun = api.find_run()  # the adopted run is the current one\n"
    assert lab.execute(code + "print(run.wait(30)); print(run.logs('train'))")["status"] == "ok", lab.output()
    assert "Completed" in lab.output() and HISTORY in lab.output()


def test_a_shutdown_stops_the_steps_the_kernel_started(lab: LabFrontend, tmp_path: Path, amldebug_home: Path) -> None:
    submit_waiting(lab, tmp_path)
    pid = remote_pid(lab)
    lab.km.shutdown_kernel(now=False)  # closing the notebook with "shut down the kernel"
    assert gone_within(pid, 15), "the step outlived the kernel's shutdown"
    (record,) = amldebug_home.glob("runs/*/run.json")
    saved = json.loads(record.read_text())  # what a next kernel reads: nothing left to adopt
    assert saved["status"] == "Canceled" and saved["steps"][0]["status"] == "Canceled"
