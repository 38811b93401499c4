"""Remote faults, tried as a tester would: the kernel's control channel always answers at once.

Each test drives a real kernel as JupyterLab does, debugging a real step (or, for protocol
faults, a scripted adapter), injects one fault (SIGSTOP/SIGCONT, SIGKILL, a link that silently
stops forwarding, garbage or oversized frames, an unusual message order) and checks what a user
would notice: ``kernel_info`` answered within 1 s during and after the fault, pending debugger
requests failing within seconds with a message that says what happened, ``terminated`` sent, the
extension told the target is lost, and the step's own output intact.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import List, Optional

import pytest
from support import line_of
from support.kernel_harness import LabFrontend
from support.steps import HISTORY, listener_pid, notebook_value, remote_pid, submit_and_attach

from amldebug_jupyter.dap import FrameDecoder, encode

pytestmark = pytest.mark.kernel

LIVENESS = "%config AmlDebugConfig.liveness_interval = 1.0\n%config AmlDebugConfig.liveness_timeout = 1.5"
"""Faster than the defaults (2 s + 3 s), so a lost link shows within ~3 s here."""


def control_answers_at_once(lab: LabFrontend, times: int = 3) -> None:
    for _ in range(times):
        assert lab.kernel_info_seconds() < 1


def step_output_is_intact(lab: LabFrontend) -> None:
    assert notebook_value(lab, "run.wait(timeout=60)") == "Completed"
    assert HISTORY in notebook_value(lab, "run.logs('train')")


def paused_session(lab: LabFrontend, train_py: Path) -> dict:
    """A step paused at its loop breakpoint, JupyterLab's debugger on it."""
    lab.execute(LIVENESS)
    submit_and_attach(lab, train_py)
    lab.toggle_on({str(train_py): [line_of(train_py, "loop breakpoint")]})
    return lab.stopped_frame()


def inspect_requests(lab: LabFrontend, stop: dict) -> List[str]:
    """What JupyterLab sends when it shows a stopped frame, all in flight at once."""
    return [
        lab.send_request("stackTrace", {"threadId": stop["thread"]}),
        lab.send_request("scopes", {"frameId": stop["frame"]["id"]}),
        lab.send_request("threads", {}),
    ]


def lost_within(lab: LabFrontend, pending: List[str], seconds: float, why: str) -> None:
    t0 = time.monotonic()
    for msg_id in pending:
        rep = lab.reply_to(msg_id, timeout=seconds + 5)
        assert rep["success"] is False and why in rep["message"], rep
    assert time.monotonic() - t0 < seconds
    lab.wait_event("terminated", 5)
    t0 = time.monotonic()
    later = lab.request("stackTrace", {"threadId": 1})
    assert later["success"] is False and time.monotonic() - t0 < 1, later
    lab.execute("from amldebug_jupyter.bridge.kernel import current_bridge")
    assert why in notebook_value(lab, "current_bridge().last_problem")


@pytest.mark.parametrize("who", ["step", "adapter"])
def test_a_frozen_remote_never_holds_the_control_channel(lab: LabFrontend, train_py: Path, who: str) -> None:
    lab.open_comm("amldebug", {"type": "hello"})
    stop = paused_session(lab, train_py)
    port = int(notebook_value(lab, "run.steps['train'].endpoint.port"))
    pid = remote_pid(lab) if who == "step" else listener_pid(port)
    os.kill(pid, signal.SIGSTOP)
    try:
        pending = inspect_requests(lab, stop)
        control_answers_at_once(lab)
        lost_within(lab, pending, 6, "stopped answering")
        gone = lab.wait_comm(lambda d: d.get("type") == "problem" and d.get("kind") == "remote_gone", timeout=5)
        assert "stopped answering" in gone["details"]
        lab.wait_comm(lambda d: d.get("type") == "targets" and any(t["state"] == "lost" for t in d["targets"]), 5)
        control_answers_at_once(lab)
    finally:
        os.kill(pid, signal.SIGCONT)
    step_output_is_intact(lab)  # with the debugger gone, the step runs to its end
    control_answers_at_once(lab)


class StallingProxy:
    """A TCP relay to a debug endpoint that can stop forwarding, keeping both connections open:
    a VPN that drops packets, as the kernel sees it (TCP keepalives from the kernel are still
    answered by this relay, so only the bridge's liveness check can notice)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        client, _ = self.server.accept()
        upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
        upstream.settimeout(None)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            self.flowing.wait(120)
            try:
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
            except OSError:
                return


def test_a_link_that_silently_drops_packets_is_lost_within_seconds(lab: LabFrontend, train_py: Path) -> None:
    lab.execute(LIVENESS)
    submit_and_attach(lab, train_py, extra="--wait 30")
    endpoint = notebook_value(lab, "(run.steps['train'].endpoint.port, run.steps['train'].endpoint.remote_root)")
    port, remote_root = eval(endpoint)
    proxy = StallingProxy(port)
    lab.streams.clear()
    lab.execute(
        f"%aml_debug attach --host 127.0.0.1 --port {proxy.port} --local-root {train_py.parent} --remote-root {remote_root}"
    )
    assert "Debugger retargeted" in lab.output(), lab.output()
    lab.toggle_on({str(train_py): [line_of(train_py, "loop breakpoint")]})
    stop = lab.stopped_frame()
    proxy.flowing.clear()
    try:
        pending = inspect_requests(lab, stop)
        control_answers_at_once(lab)
        lost_within(lab, pending, 6, "stopped answering")
        control_answers_at_once(lab)
    finally:
        proxy.flowing.set()  # the link comes back: the kernel's hang-up reaches the step
    step_output_is_intact(lab)


@pytest.mark.parametrize("phase", ["before the debugger is on", "paused", "running"])
def test_the_node_dies_at_any_phase(lab: LabFrontend, train_py: Path, phase: str) -> None:
    lab.execute(LIVENESS)
    submit_and_attach(lab, train_py)
    port = int(notebook_value(lab, "run.steps['train'].endpoint.port"))
    step, adapter = remote_pid(lab), listener_pid(port)
    if phase != "before the debugger is on":
        lab.toggle_on({str(train_py): [line_of(train_py, "loop breakpoint")]})
        stop = lab.stopped_frame()
        if phase == "running":
            lab.execute("import time")  # a cell in between, as a user would
            assert lab.request("setBreakpoints", {"source": {"path": str(train_py)}, "breakpoints": []})["success"]
            assert lab.request("continue", {"threadId": stop["thread"]})["success"]
    for pid in (step, adapter):
        os.kill(pid, signal.SIGKILL)
    control_answers_at_once(lab)
    if phase == "before the debugger is on":  # the kernel sees the step end and lets go of it
        deadline = time.monotonic() + 10
        while notebook_value(lab, "run.steps['train'].status") != "Failed":
            assert time.monotonic() < deadline, "the step's death went unnoticed"
        deadline = time.monotonic() + 10
        held = "__import__('amldebug_jupyter.bridge.kernel', fromlist=['_']).current_bridge().target is not None"
        while notebook_value(lab, held) == "True":
            assert time.monotonic() < deadline, "the kernel still holds the dead step"
        rep = lab.toggle_on()["initialize"]  # the bug icon now debugs the notebook's own cells
        assert rep["success"] is True, rep
    else:
        lab.wait_event("terminated", 10)
        rep = lab.request("threads", {})
        assert rep["success"] is False
    control_answers_at_once(lab)
    assert lab.execute("1 + 1")["status"] == "ok"


# -- protocol faults, against a scripted adapter ------------------------------------------------


class ScriptedAdapter:
    """A DAP adapter on 127.0.0.1 that answers every request with success, in the order a test picks
    for ``attach`` and ``initialized``, and can be told to answer one command with raw bytes."""

    def __init__(self, order: str = "debugpy", poison: Optional[tuple] = None) -> None:
        self.order = order
        self.poison = poison
        self.seen: List[str] = []
        self.hung_up = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        decoder = FrameDecoder()
        seq = iter(range(1, 10_000))
        attach: Optional[dict] = None

        def answer(req: dict) -> None:
            conn.sendall(
                encode(
                    {
                        "type": "response",
                        "seq": next(seq),
                        "request_seq": req["seq"],
                        "success": True,
                        "command": req["command"],
                        "body": {},
                    }
                )
            )

        def initialized() -> None:
            conn.sendall(encode({"type": "event", "seq": next(seq), "event": "initialized"}))

        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.hung_up.set()
                    return
                for req in decoder.feed(data):
                    command = req["command"]
                    self.seen.append(command)
                    if self.poison and command == self.poison[0]:
                        poison = self.poison[1]
                        conn.sendall(poison(req) if callable(poison) else poison)
                    elif command == "initialize":
                        answer(req)
                        if self.order == "initialized before attach":
                            initialized()
                    elif command == "attach":
                        if self.order == "attach answered first":
                            answer(req)
                            time.sleep(0.2)
                            initialized()
                        elif self.order == "debugpy":  # answered only after configurationDone
                            attach = req
                            initialized()
                    elif command == "configurationDone":
                        answer(req)
                        if attach is not None:
                            answer(attach)
                    else:
                        answer(req)


def attach_to(lab: LabFrontend, port: int) -> None:
    lab.streams.clear()
    lab.execute(f"%aml_debug attach --host 127.0.0.1 --port {port}")
    assert "Debugger retargeted" in lab.output(), lab.output()


@pytest.mark.parametrize("order", ["debugpy", "attach answered first", "initialized before attach"])
def test_any_legal_order_of_attach_answer_and_initialized(lab: LabFrontend, order: str) -> None:
    adapter = ScriptedAdapter(order)
    attach_to(lab, adapter.port)
    replies = lab.toggle_on()
    assert replies["initialize"]["success"] and replies["attach"]["success"], replies
    deadline = time.monotonic() + 5
    while "configurationDone" not in adapter.seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "configurationDone" in adapter.seen  # the remote was released
    control_answers_at_once(lab)


GARBAGE = {
    "not JSON": (b"Content-Length: 5\r\n\r\n{{{{{", "not JSON"),
    "bad length": (b"Content-Length: abc\r\n\r\n", "bad Content-Length"),
    "oversized": (b"Content-Length: 999999999999\r\n\r\n", "over the limit"),
}


@pytest.mark.parametrize("frame, why", GARBAGE.values(), ids=GARBAGE.keys())
@pytest.mark.parametrize("when", ["initialize", "stackTrace"])
def test_garbage_from_the_remote_ends_the_session_at_once(lab: LabFrontend, frame: bytes, why: str, when: str) -> None:
    adapter = ScriptedAdapter(poison=(when, frame))
    attach_to(lab, adapter.port)
    t0 = time.monotonic()
    replies = lab.toggle_on() if when == "initialize" else None
    if replies is None:
        assert lab.toggle_on()["attach"]["success"]
        t0 = time.monotonic()
        rep = lab.request("stackTrace", {"threadId": 1})
        lab.wait_event("terminated", 5)
    else:
        rep = replies["initialize"]
    assert rep["success"] is False and "broke the protocol" in rep["message"] and why in rep["message"], rep
    assert time.monotonic() - t0 < 2
    assert adapter.hung_up.wait(2), "the kernel kept a connection that broke the protocol"
    control_answers_at_once(lab)
    assert lab.execute("1 + 1")["status"] == "ok"


@pytest.mark.parametrize("host, port", [("10..0.0.1", "5678"), ("a" * 64 + ".example.com", "5678"), ("127.0.0.1", "99999")])
def test_a_mistyped_address_is_one_line_and_the_debugger_stays_local(lab: LabFrontend, host: str, port: str) -> None:
    lab.streams.clear()
    lab.execute(f"%aml_debug attach --host {host} --port {port}")  # a usage error (bad port) or one line
    out = lab.output()
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out, out
    control_answers_at_once(lab, 1)
    info = lab.request("debugInfo", {})
    assert info["success"]
    rep = lab.request("initialize", {"clientID": "jupyterlab", "adapterID": "python"})
    assert rep["success"], rep  # the kernel's own debugger: nothing was retargeted
    lab.request("disconnect", {"restart": False, "terminateDebuggee": False})


def test_a_flood_of_output_reaches_the_frontend_cut_to_size(lab: LabFrontend) -> None:
    def flood(req: dict) -> bytes:
        event = {"type": "event", "seq": 90, "event": "output", "body": {"category": "stdout", "output": "x" * 5_000_000}}
        answer = {"type": "response", "seq": 91, "request_seq": req["seq"], "success": True, "command": "threads"}
        return encode(event) + encode(dict(answer, body={"threads": []}))

    adapter = ScriptedAdapter(poison=("threads", flood))
    attach_to(lab, adapter.port)
    assert lab.toggle_on()["attach"]["success"]
    assert lab.request("threads", {})["success"]
    shown = lab.wait_event("output", 10, where=lambda e: e["body"].get("category") == "stdout")["body"]["output"]
    assert shown.startswith("x" * 1000) and len(shown) < 70_000
    assert "more characters of this output not shown" in shown
    control_answers_at_once(lab)
