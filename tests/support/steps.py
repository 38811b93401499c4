"""A real local debug step waiting for the notebook's debugger, and the processes behind it.

The step runs under the debug entry; its debugpy adapter is a process of its own (outside the
step's process group), found here the way ``ss -ltnp`` finds it.
"""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

from support.kernel_harness import LabFrontend

TRAIN = """
    import json                                 # first statement
    params = {"lr": 0.1, "epochs": 3}
    history = []

    def compute_loss(epoch):
        value = 1.0 / (epoch + 1)               # inside compute_loss
        return round(value, 3)

    for epoch in range(params["epochs"]):
        loss = compute_loss(epoch)             # loop breakpoint
        history.append(loss)
    print("history", json.dumps(history))
"""
HISTORY = "history [1.0, 0.5, 0.333]"
"""What TRAIN prints when it ran to its end."""


def submit_and_attach(lab: LabFrontend, train_py: Path, timeout: float = 60, extra: str = "") -> None:
    """Submit TRAIN as a debug step and retarget the kernel's debugger at it."""
    code = textwrap.dedent(f"""
        from amldebug_jupyter import Pipeline, Step, submit
        run = submit(Pipeline("p", [Step("train", "train.py", {str(train_py.parent)!r}, debug=True)]),
                     timeout={timeout}, stop_on_entry=False)
        %aml_debug attach train {extra}
    """)
    reply = lab.execute(code)
    assert reply["status"] == "ok", lab.output()
    assert "Debugger retargeted to step 'train'" in lab.output()


def notebook_value(lab: LabFrontend, expression: str) -> str:
    """``str(expression)`` evaluated in the notebook."""
    lab.streams.clear()
    lab.execute(f"print('VALUE', {expression})")
    return lab.output().split("VALUE ", 1)[1].rstrip("\n")


def remote_pid(lab: LabFrontend) -> int:
    return int(notebook_value(lab, "run.steps['train'].endpoint.pid"))


def listener_pid(port: int) -> int:
    """The process listening on 127.0.0.1:``port`` (for a step: its debugpy adapter)."""
    inodes = {
        line.split()[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
    }
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            return int(pid)
    raise AssertionError(f"nothing listens on port {port}")


def kill_adapter(port: int) -> None:
    """SIGKILL the step's debugpy adapter: the node goes away and the debug link drops."""
    os.kill(listener_pid(port), signal.SIGKILL)
