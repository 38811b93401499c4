"""JupyterLab's debugger, driven over a real kernel's control channel, debugging a remote step."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

import pytest
from support import line_of
from support.kernel_harness import LabFrontend
from support.steps import remote_pid, submit_and_attach

pytestmark = pytest.mark.kernel  # each test drives a real ipykernel as JupyterLab does


def test_jupyterlab_sequence_debugs_the_remote_step(lab: LabFrontend, train_py: Path) -> None:
    submit_and_attach(lab, train_py)
    bp = line_of(train_py, "loop breakpoint")
    replies = lab.toggle_on({str(train_py): [bp]})
    assert replies["initialize"]["success"], replies["initialize"]
    assert replies["debugInfo"]["body"]["hashMethod"] == "Murmur2"  # stays local
    assert replies[f"setBreakpoints:{train_py}"]["body"]["breakpoints"][0]["verified"] is True
    assert replies["inspectVariables"]["body"]["variables"] == []  # not the notebook's globals

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

    assert lab.request("stepIn", {"threadId": stop["thread"]})["success"]
    inside = lab.stopped_frame()
    assert (inside["frame"]["name"], inside["frame"]["line"]) == ("compute_loss", line_of(train_py, "inside compute_loss"))
    assert lab.request("stepOut", {"threadId": stop["thread"]})["success"]
    assert lab.stopped_frame()["frame"]["line"] == bp
    assert lab.request("next", {"threadId": stop["thread"]})["success"]
    after_next = lab.stopped_frame()
    assert after_next["frame"]["line"] == bp + 1
    assert lab.frame_variables(after_next["frame"]["id"])["loss"] == "1.0"
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


def test_stop_on_entry_gives_way_to_the_users_breakpoints(lab: LabFrontend, train_py: Path) -> None:
    submit_and_attach(lab, train_py, extra="--stop-on-entry")
    loop = line_of(train_py, "loop breakpoint")
    lab.toggle_on({str(train_py): [loop]})
    stop = lab.stopped_frame()
    assert stop["frame"]["line"] == loop  # not the first statement: the user said where to stop
    assert lab.request("setBreakpoints", {"source": {"path": str(train_py)}, "breakpoints": []})["success"]
    lab.request("continue", {"threadId": stop["thread"]})
    lab.toggle_off()
    lab.execute("print(run.wait(30))")
    assert "Completed" in lab.output()


def test_nothing_listening_fails_initialize_within_the_timeout(lab: LabFrontend) -> None:
    from support import free_port

    port = free_port()
    lab.execute(f"%config AmlDebugConfig.connect_timeout = 2\n%aml_debug attach --host 127.0.0.1 --port {port}")
    t0 = time.monotonic()
    replies = lab.toggle_on()
    elapsed = time.monotonic() - t0
    init = replies["initialize"]
    assert init["success"] is False
    assert f"Nothing is listening at 127.0.0.1:{port} (waited 2 s)" in init["message"]
    assert 1.5 < elapsed < 4
    important = lab.wait_event("output", 5, lambda e: e["body"].get("category") == "important")
    assert "Could not start remote debugging" in important["body"]["output"]
    assert lab.kernel_info_seconds() < 1


def test_default_connect_timeout_is_10_seconds(lab: LabFrontend) -> None:
    from support import free_port

    lab.execute(f"%aml_debug attach --host 127.0.0.1 --port {free_port()}")
    t0 = time.monotonic()
    assert lab.request("initialize", {}, timeout=30)["success"] is False
    assert 9.5 < time.monotonic() - t0 < 12
    assert lab.kernel_info_seconds() < 1


def test_remote_killed_mid_session(lab: LabFrontend, train_py: Path) -> None:
    submit_and_attach(lab, train_py)
    lab.toggle_on({str(train_py): [line_of(train_py, "loop breakpoint")]})
    stop = lab.stopped_frame()
    os.kill(remote_pid(lab), signal.SIGKILL)
    continued = lab.wait_event("continued", 10)
    assert continued["body"]["threadId"] == stop["thread"]
    lab.wait_event("terminated", 10)
    t0 = time.monotonic()
    later = lab.request("stackTrace", {"threadId": stop["thread"]})
    assert later["success"] is False and time.monotonic() - t0 < 1
    assert later["body"] == {"stackFrames": [], "totalFrames": 0}
    assert lab.kernel_info_seconds() < 1
    assert lab.toggle_off()["success"]


def test_frozen_remote_times_out_each_request(lab: LabFrontend, train_py: Path) -> None:
    lab.execute("%config AmlDebugConfig.request_timeout = 1.5")
    submit_and_attach(lab, train_py)
    lab.toggle_on({str(train_py): [line_of(train_py, "loop breakpoint")]})
    stop = lab.stopped_frame()
    pid = remote_pid(lab)
    os.kill(pid, signal.SIGSTOP)
    try:
        for command, args in (("stackTrace", {"threadId": stop["thread"]}), ("scopes", {"frameId": stop["frame"]["id"]})):
            t0 = time.monotonic()
            rep = lab.request(command, args)
            assert rep["success"] is False and "did not answer" in rep["message"]
            assert 1.3 < time.monotonic() - t0 < 3
        assert lab.kernel_info_seconds() < 1
    finally:
        os.kill(pid, signal.SIGCONT)
    assert lab.request("continue", {"threadId": stop["thread"]})["success"]
    lab.toggle_off()


def test_another_client_already_attached(lab: LabFrontend, train_py: Path) -> None:
    from amldebug_jupyter.dap import DapClient, attach

    submit_and_attach(lab, train_py)
    lab.streams.clear()
    lab.execute("e = run.steps['train'].endpoint; print('AT', e.host, e.port, e.remote_root)")
    host, port, remote_root = lab.output().split("AT", 1)[1].split()[:3]
    with DapClient(host, int(port)) as vscode:
        attach(
            vscode,
            breakpoints={str(train_py): [line_of(train_py, "loop breakpoint")]},
            path_mappings=[{"localRoot": str(train_py.parent), "remoteRoot": remote_root}],
        )
        vscode.wait_for_event("stopped", 20)  # VS Code holds the step
        replies = lab.toggle_on()
        failed = replies.get("attach") or replies["initialize"]
        assert failed["success"] is False
        assert "already being debugged" in failed["message"]
        assert lab.kernel_info_seconds() < 1
        vscode.request("disconnect", {"terminateDebuggee": False})


def test_attach_while_the_local_debugger_is_on_says_what_to_do(lab: LabFrontend, train_py: Path) -> None:
    assert lab.toggle_on()["initialize"]["success"]  # debugging cells locally
    lab.streams.clear()
    code = textwrap.dedent(f"""
        from amldebug_jupyter import Pipeline, Step, submit
        run = submit(Pipeline("p", [Step("train", "train.py", {str(train_py.parent)!r}, debug=True)]), timeout=5)
        %aml_debug attach train
    """)
    assert lab.execute(code)["status"] == "error"  # the cell fails, with one line
    out = lab.output()
    assert "JupyterLab's debugger is on for this notebook (debugging its cells): turn it off" in out
    assert "Traceback" not in out
    assert lab.kernel_info_seconds() < 1


CELL = "a = 1\nb = a + 1\nprint('cell done', b)\n"


def hit_cell_breakpoint(lab: LabFrontend) -> None:
    """Local cell debugging: the breakpoint on line 2 of a cell stops its execution."""
    path = lab.request("dumpCell", {"code": CELL})["body"]["sourcePath"]
    rep = lab.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": 2}], "sourceModified": False})
    assert rep["body"]["breakpoints"][0]["verified"] is True, rep
    msg_id = lab.kc.execute(CELL)
    stop = lab.stopped_frame()
    assert (stop["frame"]["source"]["path"], stop["frame"]["line"]) == (path, 2)
    lab.request("continue", {"threadId": stop["thread"]})
    assert lab.wait_execute(msg_id)["status"] == "ok"


def test_detach_by_toggling_off_restores_cell_debugging(lab: LabFrontend, train_py: Path) -> None:
    submit_and_attach(lab, train_py)
    lab.toggle_on()
    assert lab.toggle_off()["success"]  # the UI's toggle-off detaches
    lab.toggle_on()
    hit_cell_breakpoint(lab)
    lab.toggle_off()
    lab.execute("print(run.wait(30))")
    assert "Completed" in lab.output()  # the remote kept running and finished


def test_detach_magic_with_the_debugger_on_restores_cell_debugging(lab: LabFrontend, train_py: Path) -> None:
    submit_and_attach(lab, train_py)
    lab.toggle_on({str(train_py): [line_of(train_py, "loop breakpoint")]})
    stop = lab.stopped_frame()
    lab.streams.clear()
    assert lab.execute("%aml_debug detach")["status"] == "ok"
    assert "Detached from step 'train' (it keeps running); the debugger now debugs this notebook's cells." in lab.output()
    lab.wait_event("continued", 5, lambda e: e["body"]["threadId"] == stop["thread"])
    hit_cell_breakpoint(lab)  # same frontend session, now local
    lab.toggle_off()
    lab.execute("print(run.wait(30))")
    assert "Completed" in lab.output()


def test_unmapped_remote_source_is_served_by_reference(lab: LabFrontend, train_py: Path, tmp_path: Path) -> None:
    submit_and_attach(lab, train_py)
    lab.streams.clear()
    lab.execute("e = run.steps['train'].endpoint; print('AT', e.host, e.port)")
    host, port = lab.output().split("AT", 1)[1].split()[:2]
    elsewhere = tmp_path / "unrelated"
    elsewhere.mkdir()
    lab.execute(
        f"%aml_debug detach\n%aml_debug attach --host {host} --port {port} "
        f"--local-root {elsewhere} --remote-root /opt/not-this-step"
    )
    # No usable mapping, so the breakpoint goes on the path the remote runs (its snapshot).
    lab.execute("snapshot_train = str(run.steps['train'].remote_root / 'train.py'); print('SNAP', snapshot_train)")
    snapshot_train = lab.output().split("SNAP", 1)[1].split()[0]
    lab.toggle_on({snapshot_train: [line_of(train_py, "loop breakpoint")]})
    stop = lab.stopped_frame()
    ref = stop["frame"]["source"].get("sourceReference", 0)
    assert ref > 0, stop["frame"]
    source = lab.request("source", {"source": {"path": stop["frame"]["source"]["path"]}, "sourceReference": 0})
    assert source["success"] and "loop breakpoint" in source["body"]["content"]
    lab.request("setBreakpoints", {"source": {"path": snapshot_train}, "breakpoints": [], "sourceModified": False})
    lab.request("continue", {"threadId": stop["thread"]})
    lab.toggle_off()


def test_a_client_that_never_ends_its_configuration_releases_the_step_after_the_grace(lab: LabFrontend, train_py: Path) -> None:
    from support.kernel_harness import JUPYTERLAB_INITIALIZE

    lab.execute("%config AmlDebugConfig.configuration_grace = 0.5")
    submit_and_attach(lab, train_py)
    assert lab.request("initialize", JUPYTERLAB_INITIALIZE)["success"]
    assert lab.request("attach", {})["success"]  # and nothing more: no setExceptionBreakpoints
    lab.streams.clear()
    assert lab.execute("print(run.wait(20))")["status"] == "ok"
    assert "Completed" in lab.output()
    lab.request("disconnect", {"restart": False, "terminateDebuggee": False})
