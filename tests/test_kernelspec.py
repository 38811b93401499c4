"""The "Python 3 (amldebug)" kernel keeps its remote target across "Restart Kernel and Debug"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel
from support import line_of, write
from support.kernel_harness import JUPYTERLAB_INITIALIZE, LabFrontend

pytestmark = pytest.mark.kernel  # each test drives a real ipykernel as JupyterLab does


def test_restart_kernel_and_debug_returns_to_the_remote(
    tmp_path: Path, amldebug_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = tmp_path / "prefix"
    out = subprocess.run(
        [sys.executable, "-m", "amldebug_jupyter.cli", "kernelspec", "install", "--prefix", str(prefix)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Installed the kernel 'Python 3 (amldebug)'" in out
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    train = write(tmp_path / "src" / "train.py", "total = 0\nfor i in range(3):\n    total += i  # bp\nprint(total)\n")
    km, kc = start_new_kernel(
        kernel_name="amldebug", env=dict(os.environ, AMLDEBUG_HOME=str(amldebug_home), PYDEVD_DISABLE_FILE_VALIDATION="1")
    )
    lab = LabFrontend(km, kc)
    pid = None
    try:
        code = textwrap.dedent(f"""
            from amldebug_jupyter import Pipeline, Step, submit
            run = submit(Pipeline("p", [Step("train", "train.py", {str(train.parent)!r}, debug=True)]),
                         timeout=120, stop_on_entry=False)
            %aml_debug attach train
            print("PID", run.steps["train"].endpoint.pid)
        """)  # no %load_ext: this kernel loads the extension itself
        assert lab.execute(code)["status"] == "ok", lab.output()
        pid = int(lab.output().split("PID", 1)[1].split()[0])

        km.restart_kernel(now=True)
        kc.wait_for_ready(timeout=60)
        # JupyterLab's "Restart Kernel and Debug": restoreDebuggerState after the restart.
        assert lab.request("debugInfo", {})["body"]["isStarted"] is False
        assert lab.request("initialize", JUPYTERLAB_INITIALIZE)["success"]
        lab.request("attach", {})
        bp = line_of(train, "# bp")
        rep = lab.request(
            "setBreakpoints", {"source": {"path": str(train)}, "breakpoints": [{"line": bp}], "sourceModified": False}
        )
        assert rep["body"]["breakpoints"][0]["verified"] is True
        assert lab.request("configurationDone", {})["success"]
        stop = lab.stopped_frame()
        assert (stop["frame"]["source"]["path"], stop["frame"]["line"]) == (str(train), bp)
        lab.request("continue", {"threadId": stop["thread"]})
        lab.request("disconnect", {"restart": False, "terminateDebuggee": False})
        assert not list((amldebug_home / "kernels").glob("*.json"))  # detached: nothing to restore
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
