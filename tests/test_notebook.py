"""notebooks/01-local-pipeline-debug.ipynb runs top to bottom; the test plays the debugger's part."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Dict, List

import nbformat
import pytest
from jupyter_client.blocking import BlockingKernelClient
from nbclient import NotebookClient
from support import line_of
from support.kernel_harness import LabFrontend

pytestmark = pytest.mark.kernel  # runs the demo notebook's cells in a real ipykernel

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TRAIN = NOTEBOOKS / "local-pipeline" / "train" / "train.py"


def play_debugger(lab: LabFrontend, seen: Dict[str, object], errors: List[BaseException]) -> None:
    """What the notebook's "Debug it" section asks the user to do, as JupyterLab sends it."""
    try:
        deadline = time.monotonic() + 60
        while "Debugger retargeted to step 'train'" not in lab.output():  # the Attach the user clicks
            assert time.monotonic() < deadline, "the kernel was never retargeted to 'train'"
        lab.toggle_on()
        entry = lab.stopped_frame(timeout=30)
        seen["entry"] = (entry["frame"]["source"]["path"], entry["frame"]["line"])
        loop_line = line_of(TRAIN, "a good place for a breakpoint")
        rep = lab.request(
            "setBreakpoints", {"source": {"path": str(TRAIN)}, "breakpoints": [{"line": loop_line}], "sourceModified": False}
        )
        seen["verified"] = rep["body"]["breakpoints"][0]["verified"]
        lab.request("continue", {"threadId": entry["thread"]})
        stop = lab.stopped_frame(timeout=30)
        seen["loop"] = stop["frame"]["line"]
        seen["variables"] = lab.frame_variables(stop["frame"]["id"])
        seen["console"] = lab.request("evaluate", {"expression": "w * 2", "frameId": stop["frame"]["id"], "context": "repl"})[
            "body"
        ]["result"]
        lab.request("setBreakpoints", {"source": {"path": str(TRAIN)}, "breakpoints": [], "sourceModified": False})
        lab.request("continue", {"threadId": stop["thread"]})
        lab.toggle_off()
    except BaseException as e:  # reported by the main thread
        errors.append(e)


def test_walkthrough_notebook_runs_top_to_bottom(amldebug_home: Path) -> None:
    nb = nbformat.read(NOTEBOOKS / "01-local-pipeline-debug.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    env = dict(os.environ, AMLDEBUG_HOME=str(amldebug_home), PYDEVD_DISABLE_FILE_VALIDATION="1")
    seen: Dict[str, object] = {}
    errors: List[BaseException] = []
    with client.setup_kernel(env=env):
        debugger_client = BlockingKernelClient()  # a second frontend: JupyterLab's debugger
        debugger_client.load_connection_info(client.km.get_connection_info())
        debugger_client.start_channels()
        debugger_client.wait_for_ready(timeout=30)
        lab = LabFrontend(client.km, debugger_client)
        player = threading.Thread(target=play_debugger, args=(lab, seen, errors), daemon=True)
        player.start()
        try:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
                if "run.wait_for_endpoint" in cell.source:  # "Debug it": the user attaches (the panel's Attach)
                    client.execute_cell(nbformat.v4.new_code_cell("%aml_debug attach train"), index)
        finally:
            player.join(60)
            debugger_client.stop_channels()
    assert not errors, errors
    assert seen["entry"] == (str(TRAIN), line_of(TRAIN, "import argparse"))
    assert seen["verified"] is True and seen["loop"] == line_of(TRAIN, "a good place for a breakpoint")
    assert seen["variables"]["epoch"] == "0" and seen["variables"]["w"] == "0.0"
    assert seen["console"] == "0.0"
    outputs = {
        i: "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in c.get("outputs", []))
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
    }
    text = "\n".join(outputs.values())
    assert "'Completed'" in text  # run.wait()
    assert "train (debug)  Completed" in text  # %aml_debug status
    assert "train: done, w=" in text  # %aml_debug logs train
    assert not any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code" for o in c["outputs"])
