"""The comm the JupyterLab extension talks to, in a real kernel: every message checked against
``comm_schema.json`` (the one definition both sides load)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

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


def test_targets_attach_and_detach_through_the_comm(lab: LabFrontend, tmp_path: Path) -> None:
    opened = lab.wait_comm(of_type("targets"))  # the kernel's own comm, opened at %load_ext
    assert opened["targets"] == []
    comm = lab.open_comm("amldebug", {"type": "hello"})  # the extension's comm (e.g. after a page reload)
    lab.wait_comm(of_type("targets"))

    train = submit(lab, tmp_path, timeout=60)
    waiting = lab.wait_comm(a_target("waiting"))
    target = waiting["targets"][0]
    assert target["label"].startswith("step 'train' of ") and target["id"].endswith(":train")
    assert (target["local_root"], target["script"]) == (str(train.parent), str(train))
    assert target["address"].startswith("127.0.0.1:") and 0 < target["deadline"] - waiting["now"] <= 60

    lab.send_comm(comm, {"type": "attach", "target": target["id"]})
    attached = lab.wait_comm(of_type("attached", target=target["id"]))
    assert attached["script"] == str(train)
    lab.wait_comm(a_target("attached"))

    # The extension turns the debugger on; a breakpoint set in the file editor is hit in the step.
    bp = line_of(train, "# bp")
    lab.toggle_on({str(train): [bp]})
    stop = lab.stopped_frame()
    assert (stop["frame"]["source"]["path"], stop["frame"]["line"]) == (str(train), bp)
    lab.request("setBreakpoints", {"source": {"path": str(train)}, "breakpoints": [], "sourceModified": False})
    lab.request("continue", {"threadId": stop["thread"]})
    lab.toggle_off()
    lab.wait_comm(of_type("detached", target=target["id"]))
    lab.wait_comm(a_target("done"), timeout=30)


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
