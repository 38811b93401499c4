"""%aml_debug in a real kernel: submit with --attach auto, then JupyterLab's debugger stops in the step."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest
from support import line_of, write
from support.kernel_harness import LabFrontend, lab_kernel

pytestmark = pytest.mark.kernel  # each test drives a real ipykernel as JupyterLab does


@pytest.fixture
def lab(amldebug_home: Path) -> Iterator[LabFrontend]:
    with lab_kernel({"AMLDEBUG_HOME": str(amldebug_home), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}) as fe:
        assert fe.execute("%load_ext amldebug_jupyter")["status"] == "ok"
        yield fe


def wait_until_retargeted(lab: LabFrontend, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lab.streams.clear()
        lab.execute("from amldebug_jupyter.bridge.kernel import current_bridge; print('TARGET', current_bridge().target)")
        if "TARGET Target(" in lab.output():
            return
        time.sleep(0.2)
    raise AssertionError("the kernel's debugger was not retargeted automatically")


def test_submit_with_attach_auto_then_the_debugger_stops_in_the_step(lab: LabFrontend, tmp_path: Path) -> None:
    train = write(
        tmp_path / "proj" / "train" / "train.py", "data = [1, 2, 3]\nfor x in data:\n    y = x * 2  # bp\nprint('done', y)\n"
    )
    write(tmp_path / "proj" / "prep" / "prep.py", "print('prep')\n")
    code = textwrap.dedent(f"""
        from amldebug_jupyter import Pipeline, Step
        pipeline = Pipeline("p", [Step("prep", "prep.py", {str(train.parent.parent / "prep")!r}),
                                  Step("train", "train.py", {str(train.parent)!r})])
        run = %aml_debug pipeline submit pipeline --debug train --timeout 60 --no-stop-on-entry
    """)
    assert lab.execute(code)["status"] == "ok", lab.output()
    wait_until_retargeted(lab)
    bp = line_of(train, "# bp")
    lab.toggle_on({str(train): [bp]})
    stop = lab.stopped_frame()
    assert (stop["frame"]["source"]["path"], stop["frame"]["line"]) == (str(train), bp)
    assert lab.frame_variables(stop["frame"]["id"])["x"] == "1"
    lab.request("setBreakpoints", {"source": {"path": str(train)}, "breakpoints": [], "sourceModified": False})
    lab.request("continue", {"threadId": stop["thread"]})
    lab.toggle_off()
    lab.streams.clear()
    assert lab.execute("print(run.wait(30))\n%aml_debug status")["status"] == "ok"
    assert "Completed" in lab.output()


def test_bad_input_in_a_kernel_is_one_line_and_the_kernel_stays_usable(lab: LabFrontend) -> None:
    for line, expected in [
        ("%aml_debug frobnicate", "UsageError: %aml_debug: unknown subcommand 'frobnicate'"),
        ("%aml_debug pipeline submit nosuch", "is not defined in the notebook"),
        ("%aml_debug cancel", "aml_debug: No run yet"),
    ]:
        lab.streams.clear()
        reply = lab.execute(line)
        out = lab.output()
        assert expected in out, out
        assert "Traceback" not in out and "---------" not in out
        assert reply["status"] in ("ok", "error")
    assert lab.execute("print(1 + 1)")["status"] == "ok"
    assert lab.kernel_info_seconds() < 1


def test_unload_takes_back_what_load_added_and_load_works_again(lab: LabFrontend, tmp_path: Path) -> None:
    """%unload_ext: the magic is gone, the comm closed, the kernel debugs its own cells; a waiting
    step keeps waiting, and after %load_ext it is listed and attachable again."""
    write(tmp_path / "proj" / "train.py", "x = 1\nprint('trained', x)\n")
    code = textwrap.dedent(f"""
        from amldebug_jupyter import Pipeline, Step
        pipeline = Pipeline("p", [Step("train", "train.py", {str(tmp_path / "proj")!r})])
        run = %aml_debug pipeline submit pipeline --debug train --timeout 60 --attach manual --no-panel --no-stop-on-entry
        run.wait_for_endpoint("train", 30)
    """)
    assert lab.execute(code)["status"] == "ok", lab.output()
    lab.pump(0.5)
    opened = [m["comm_id"] for m in lab.comm_messages if m.get("target_name") == "amldebug"]
    assert len(opened) == 1

    assert lab.execute("%unload_ext amldebug_jupyter")["status"] == "ok", lab.output()
    lab.pump(0.5)
    assert lab.comm_closed == opened
    lab.streams.clear()
    assert lab.execute("%aml_debug status")["status"] == "error"
    assert "Line magic function `%aml_debug` not found" in lab.output()
    lab.streams.clear()
    lab.execute(
        "k = get_ipython().kernel\nprint('HOOKED', 'do_debug_request' in vars(k), hasattr(k, '_amldebug_bridge'), run.status)"
    )
    assert "HOOKED False False Running" in lab.output()  # the step still waits for a debugger

    assert lab.execute("%load_ext amldebug_jupyter")["status"] == "ok", lab.output()
    lab.pump(0.5)
    reopened = [m for m in lab.comm_messages if m.get("target_name") == "amldebug" and m["comm_id"] not in opened]
    assert len(reopened) == 1
    targets = reopened[0]["data"]["targets"]
    assert [(t["id"].rpartition(":")[2], t["state"]) for t in targets] == [("train", "waiting")]
    lab.streams.clear()
    assert lab.execute("%aml_debug attach train")["status"] == "ok", lab.output()
    assert lab.toggle_on()["attach"]["success"]
    assert lab.execute("print(run.wait(30))")["status"] == "ok", lab.output()
    assert "Completed" in lab.output()
