"""The comm the JupyterLab extension talks to, in a real kernel: every message checked against
``comm_schema.json`` (the one definition both sides load)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Tuple

import jsonschema
import pytest
from support import free_port, line_of, write
from support.kernel_harness import LabFrontend, lab_kernel
from support.steps import kill_adapter

from amldebug_jupyter.notebook.comm import SCHEMA_FILE

pytestmark = pytest.mark.kernel  # each test drives a real ipykernel as JupyterLab does

SCHEMA = json.loads(SCHEMA_FILE.read_text())
KERNEL_MESSAGE = {"$ref": "#/$defs/kernel_message", "$defs": SCHEMA["$defs"]}


def of_type(message_type: str, **fields: Any) -> Callable[[Dict[str, Any]], bool]:
    return lambda data: data.get("type") == message_type and all(data.get(k) == v for k, v in fields.items())


def a_target(state: str) -> Callable[[Dict[str, Any]], bool]:
    return lambda data: data.get("type") == "targets" and any(t["state"] == state for t in data["targets"])


@pytest.fixture
def lab(amldebug_home: Path) -> Iterator[LabFrontend]:
    with lab_kernel({"AMLDEBUG_HOME": str(amldebug_home), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}) as fe:
        assert fe.execute("%load_ext amldebug_jupyter")["status"] == "ok"
        yield fe
        for content in fe.comm_messages:  # everything the kernel said follows the schema
            jsonschema.validate(content["data"], KERNEL_MESSAGE)


def submit(lab: LabFrontend, tmp_path: Path, timeout: int) -> Path:
    train = write(
        tmp_path / "proj" / "train" / "train.py", "data = [1, 2, 3]\nfor x in data:\n    y = x * 2  # bp\nprint('done', y)\n"
    )
    code = textwrap.dedent(f"""
        from amldebug_jupyter import Pipeline, Step
        pipeline = Pipeline("p", [Step("train", "train.py", {str(train.parent)!r})])
        run = %aml_debug pipeline submit pipeline --debug train --timeout {timeout} --no-stop-on-entry --attach manual --no-panel
    """)
    assert lab.execute(code)["status"] == "ok", lab.output()
    return train


def the_target(state: str, **fields: Any) -> Callable[[Dict[str, Any]], bool]:
    """A snapshot whose (only) target is in ``state`` with these fields."""
    return lambda data: (
        data.get("type") == "targets"
        and len(data["targets"]) == 1
        and data["targets"][0]["state"] == state
        and all(data["targets"][0].get(k) == v for k, v in fields.items())
    )


def test_one_lifecycle_from_waiting_to_completed(lab: LabFrontend, tmp_path: Path) -> None:
    opened = lab.wait_comm(of_type("targets"))  # the kernel's own comm, opened at %load_ext
    assert opened["targets"] == [] and opened["cwd"]
    lab.open_comm("amldebug", {"type": "hello"})  # the extension's comm (e.g. after a page reload)
    lab.wait_comm(of_type("targets"))

    train = submit(lab, tmp_path, timeout=60)
    waiting = lab.wait_comm(the_target("waiting", can_attach=True, can_detach=False))
    target = waiting["targets"][0]
    assert target["label"].startswith("train · ") and target["id"].endswith(":train")
    assert target["detail"].startswith("waits for a debugger until ")
    assert (target["local_root"], target["script"]) == (str(train.parent), str(train))
    assert target["address"].startswith("127.0.0.1:") and 0 < target["deadline"] - waiting["now"] <= 60

    # The sidebar's Attach goes over the control channel: it is answered while a cell runs.
    busy = lab.kc.execute("import time; time.sleep(4)")
    answer = lab.request("amldebugAttach", {"target": target["id"]}, timeout=3)
    assert answer["success"] and "Debugger retargeted to step 'train'" in answer["body"]["text"], answer
    assert "turns on for this notebook" in answer["body"]["text"]  # the extension said hello: no bug-icon advice
    attached = lab.wait_comm(of_type("attached", target=target["id"]))
    assert attached["script"] == str(train)
    lab.wait_comm(the_target("attached", can_attach=False, can_detach=True))
    lab.wait_execute(busy)

    # The extension turns the debugger on; a breakpoint set in the file editor is hit in the step.
    bp = line_of(train, "# bp")
    lab.toggle_on({str(train): [bp]})
    stop = lab.stopped_frame()
    assert (stop["frame"]["source"]["path"], stop["frame"]["line"]) == (str(train), bp)
    lab.wait_comm(the_target("paused", detail=f"stopped at train.py:{bp}"))
    lab.request("setBreakpoints", {"source": {"path": str(train)}, "breakpoints": [], "sourceModified": False})
    lab.request("continue", {"threadId": stop["thread"]})

    # The step ends: the kernel lets go (the extension turns the debugger off), every view says so.
    lab.wait_comm(of_type("detached", target=target["id"], reason="ended"), timeout=30)
    lab.wait_comm(the_target("completed", can_attach=False, can_detach=False, detail=None), timeout=30)
    lab.toggle_off()
    assert lab.request("amldebugDetach", {})["message"].startswith("The debugger is not attached")
    status = lab.execute("%aml_debug status")
    assert status["status"] == "ok"


def submit_crash(lab: LabFrontend, tmp_path: Path, options: str = "") -> Tuple[Path, Dict[str, Any]]:
    crash = write(tmp_path / "proj" / "crash" / "crash.py", "x = 1\nraise KeyError('no column named price')\n")
    code = textwrap.dedent(f"""
        from amldebug_jupyter import Pipeline, Step
        pipeline = Pipeline("p", [Step("crash", "crash.py", {str(crash.parent)!r})])
        run = %aml_debug pipeline submit pipeline --debug crash --timeout 60 --attach auto --no-panel {options}
    """)
    lab.open_comm("amldebug", {"type": "hello"})
    assert lab.execute(code)["status"] == "ok", lab.output()
    attached = lab.wait_comm(of_type("attached"))
    lab.toggle_on()
    return crash, attached


def test_a_crash_under_the_debugger_is_never_silent(lab: LabFrontend, tmp_path: Path) -> None:
    crash, attached = submit_crash(lab, tmp_path)
    stop = lab.stopped_frame()  # stop on entry: the user set no breakpoint
    assert stop["frame"]["source"]["path"] == str(crash)
    trace = lab.request("stackTrace", {"threadId": stop["thread"]})["body"]["stackFrames"]
    assert [f["source"]["path"] for f in trace] == [str(crash)]  # the debug entry's frames are hidden
    lab.request("continue", {"threadId": stop["thread"]})
    ended = lab.wait_comm(of_type("problem", kind="ended", target=attached["target"]), timeout=30)
    assert ended["message"] == "Step 'crash' failed: KeyError: 'no column named price'", ended
    lab.wait_comm(the_target("failed", detail="KeyError: 'no column named price'"), timeout=30)


def test_post_mortem_stops_at_the_crash_and_shows_the_exception(lab: LabFrontend, tmp_path: Path) -> None:
    crash, attached = submit_crash(lab, tmp_path, "--post-mortem")
    lab.request("continue", {"threadId": lab.stopped_frame()["thread"]})  # past the stop on entry
    stop = lab.stopped_frame()
    assert stop["event"]["body"]["reason"] == "exception"
    assert (stop["frame"]["source"]["path"], stop["frame"]["line"]) == (str(crash), 2)
    info = lab.request("exceptionInfo", {"threadId": stop["thread"]})["body"]
    assert info["exceptionId"] == "KeyError" and "no column named price" in info["description"]
    lab.wait_comm(the_target("post-mortem", detail="KeyError: 'no column named price' (at crash.py:2)"))
    lab.request("continue", {"threadId": stop["thread"]})
    lab.wait_comm(of_type("problem", kind="ended", target=attached["target"]), timeout=30)
    lab.wait_comm(the_target("failed"), timeout=30)


def test_problems_become_notifications(lab: LabFrontend, tmp_path: Path) -> None:
    comm = lab.open_comm("amldebug", {"type": "hello"})
    lab.send_comm(comm, {"type": "attach", "target": "no-such-run:train"})
    failed = lab.wait_comm(of_type("problem", kind="attach_failed", target="no-such-run:train"))
    assert "No debug target 'no-such-run:train'" in failed["details"]

    # Nobody attaches: a warning before the step stops waiting.
    submit(lab, tmp_path, timeout=33)
    soon = lab.wait_comm(of_type("problem", kind="deadline_soon"), timeout=15)
    assert "stops waiting for a debugger in" in soon["message"] and soon["target"].endswith(":train")

    # The attach target is not listening: the debugger cannot start.
    port = free_port()
    lab.execute(f"%aml_debug attach --host 127.0.0.1 --port {port}")
    assert not lab.toggle_on()["initialize"]["success"]
    unreachable = lab.wait_comm(of_type("problem", kind="unreachable"), timeout=30)
    assert f"127.0.0.1:{port}" in unreachable["message"]


def test_a_remote_that_goes_away_is_reported(lab: LabFrontend, tmp_path: Path) -> None:
    comm = lab.open_comm("amldebug", {"type": "hello"})
    train = submit(lab, tmp_path, timeout=60)
    target = lab.wait_comm(a_target("waiting"))["targets"][0]
    lab.send_comm(comm, {"type": "attach", "target": target["id"]})
    lab.wait_comm(of_type("attached", target=target["id"]))
    lab.toggle_on({str(train): [line_of(train, "# bp")]})
    lab.stopped_frame()
    kill_adapter(int(target["address"].rsplit(":", 1)[1]))  # the node goes away: the debug link drops
    gone = lab.wait_comm(of_type("problem", kind="remote_gone", target=target["id"]), timeout=30)
    assert gone["message"].startswith("Lost the connection to step 'train'"), gone
