"""Drive a real ipykernel the way JupyterLab 4's debugger does (jupyter_client, control channel)."""

from __future__ import annotations

import itertools
import os
import queue
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional

from jupyter_client.manager import start_new_kernel

Message = Dict[str, Any]

JUPYTERLAB_INITIALIZE = {
    "clientID": "jupyterlab",
    "clientName": "JupyterLab",
    "adapterID": "python",
    "pathFormat": "path",
    "linesStartAt1": True,
    "columnsStartAt1": True,
    "supportsVariableType": True,
    "supportsVariablePaging": True,
    "supportsRunInTerminalRequest": True,
    "locale": "en",
}


class LabFrontend:
    """The debugger frontend's side of the wire, plus just enough notebook to run cells."""

    def __init__(self, km: Any, kc: Any) -> None:
        self.km, self.kc = km, kc
        self._seq = itertools.count(1)
        self.events: List[Message] = []
        self._claimed: set = set()
        self.streams: List[str] = []
        self.displays: List[str] = []
        self.comm_messages: List[Message] = []
        """comm_open and comm_msg contents from the kernel, in order (what a lab extension receives)."""
        self.comm_closed: List[str] = []
        """Ids of comms the kernel closed."""
        self._control_replies: Dict[str, Message] = {}

    # -- iopub ---------------------------------------------------------------------------
    def pump(self, timeout: float = 0.0) -> None:
        """Handle iopub: wait up to ``timeout`` for a message, then take what is queued (as a websocket would)."""
        wait = timeout
        while True:
            try:
                msg = self.kc.iopub_channel.get_msg(timeout=wait)
            except queue.Empty:
                return
            wait = 0
            kind = msg["header"]["msg_type"]
            if kind == "debug_event":
                self.events.append(msg["content"])
            elif kind == "stream":
                self.streams.append(msg["content"]["text"])
            elif kind == "error":
                self.streams.append("\n".join(msg["content"]["traceback"]))
            elif kind in ("display_data", "update_display_data", "execute_result"):
                self.displays.append(msg["content"]["data"].get("text/plain", ""))
            elif kind in ("comm_open", "comm_msg"):
                self.comm_messages.append(msg["content"])
            elif kind == "comm_close":
                self.comm_closed.append(msg["content"]["comm_id"])

    def wait_event(self, name: str, timeout: float = 20, where: Callable[[Message], bool] = lambda e: True) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if i not in self._claimed and ev.get("event") == name and where(ev):
                    self._claimed.add(i)
                    return ev
            if time.monotonic() > deadline:
                raise AssertionError(f"no {name!r} event in {timeout} s; got {[e.get('event') for e in self.events]}")
            self.pump(0.05)

    def wait_display(self, text: str, timeout: float = 30) -> str:
        """Wait until some cell shows ``text`` (a display or an update of one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for shown in self.displays:
                if text in shown:
                    return shown
            self.pump(0.05)
        raise AssertionError(f"nothing displayed {text!r} in {timeout} s; displays: {self.displays[-5:]}")

    def open_comm(self, target_name: str, data: Message) -> str:
        """Open a comm from the frontend's side, as a lab extension does; returns its id."""
        comm_id = uuid.uuid4().hex
        self.kc.shell_channel.send(
            self.kc.session.msg("comm_open", {"comm_id": comm_id, "target_name": target_name, "data": data})
        )
        return comm_id

    def send_comm(self, comm_id: str, data: Message) -> None:
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))

    def wait_comm(self, where: Callable[[Message], bool], timeout: float = 20) -> Message:
        """The first comm data (from any comm, in order) that satisfies ``where``; claimed once."""
        deadline = time.monotonic() + timeout
        while True:
            for i, content in enumerate(self.comm_messages):
                if ("comm", i) not in self._claimed and where(content.get("data") or {}):
                    self._claimed.add(("comm", i))
                    return content["data"]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no such comm message in {timeout} s; got {[c.get('data') for c in self.comm_messages][-5:]}"
                )
            self.pump(0.05)

    def forget_comms(self) -> None:
        """Leave what the kernel said so far unclaimed for good (e.g. an old kernel's snapshots)."""
        self.pump(0.1)
        self._claimed.update(("comm", i) for i in range(len(self.comm_messages)))

    def output(self) -> str:
        self.pump(0.1)
        return "".join(self.streams)

    # -- control -------------------------------------------------------------------------
    def request(self, command: str, arguments: Optional[Message] = None, timeout: float = 30) -> Message:
        return self.reply_to(self.send_request(command, arguments), timeout)

    def send_request(self, command: str, arguments: Optional[Message] = None) -> str:
        """Send a debug request without waiting (JupyterLab may have several in flight); its msg_id."""
        content = {"seq": next(self._seq), "type": "request", "command": command}
        if arguments is not None:
            content["arguments"] = arguments
        msg = self.kc.session.msg("debug_request", content)
        self.kc.control_channel.send(msg)
        return str(msg["header"]["msg_id"])

    def reply_to(self, msg_id: str, timeout: float = 30) -> Message:
        """The debug reply to a request :meth:`send_request` sent."""
        return self._control_reply(msg_id, timeout)["content"]

    def _control_reply(self, msg_id: str, timeout: float) -> Message:
        """The control reply to ``msg_id``; replies to other requests are kept for their askers."""
        deadline = time.monotonic() + timeout
        while True:
            if msg_id in self._control_replies:
                return self._control_replies.pop(msg_id)
            if time.monotonic() >= deadline:
                raise AssertionError(f"no control reply in {timeout} s")
            self.pump(0)
            try:
                reply = self.kc.control_channel.get_msg(timeout=0.05)
            except queue.Empty:
                continue
            self._control_replies[reply["parent_header"].get("msg_id")] = reply

    def kernel_info_seconds(self, timeout: float = 5) -> float:
        """How long the control channel takes to answer kernel_info (it must never be wedged)."""
        msg = self.kc.session.msg("kernel_info_request")
        t0 = time.monotonic()
        self.kc.control_channel.send(msg)
        self._control_reply(msg["header"]["msg_id"], timeout)
        return time.monotonic() - t0

    # -- the debugger toggle ---------------------------------------------------------------
    def toggle_on(
        self, breakpoints: Optional[Dict[str, List[int]]] = None, exception_filters: Optional[List[str]] = None
    ) -> Dict[str, Message]:
        """JupyterLab 4's exact order when the bug icon is clicked."""
        replies: Dict[str, Message] = {}
        self.request("debugInfo", {})
        replies["debugInfo"] = self.request("debugInfo", {})
        replies["initialize"] = self.request("initialize", JUPYTERLAB_INITIALIZE)
        if not replies["initialize"].get("success"):
            return replies
        replies["attach"] = self.request("attach", {})
        for path, lines in (breakpoints or {}).items():
            replies[f"setBreakpoints:{path}"] = self.request(
                "setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": n} for n in lines], "sourceModified": False}
            )
        replies["setExceptionBreakpoints"] = self.request("setExceptionBreakpoints", {"filters": exception_filters or []})
        replies["inspectVariables"] = self.request("inspectVariables", {})
        replies["modules"] = self.request("modules", {})
        return replies

    def toggle_off(self) -> Message:
        self.request("debugInfo", {})
        return self.request("disconnect", {"restart": False, "terminateDebuggee": False})

    def stopped_frame(self, timeout: float = 20) -> Message:
        ev = self.wait_event("stopped", timeout)
        thread = ev["body"]["threadId"]
        trace = self.request("stackTrace", {"threadId": thread})
        assert trace["success"], trace
        frame = trace["body"]["stackFrames"][0]
        return {"thread": thread, "frame": frame, "event": ev}

    def frame_variables(self, frame_id: int) -> Dict[str, str]:
        scopes = self.request("scopes", {"frameId": frame_id})["body"]["scopes"]
        found: Dict[str, str] = {}
        for scope in scopes:
            body = self.request("variables", {"variablesReference": scope["variablesReference"]})["body"]
            for v in body["variables"]:
                found.setdefault(v["name"], v["value"])
        return found

    # -- notebook --------------------------------------------------------------------------
    def execute(self, code: str, timeout: float = 60) -> Message:
        msg_id = self.kc.execute(code)
        return self.wait_execute(msg_id, timeout)

    def wait_execute(self, msg_id: str, timeout: float = 60) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0)
            try:
                reply = self.kc.shell_channel.get_msg(timeout=0.05)
            except queue.Empty:
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                self.pump(0.1)
                return reply["content"]
        raise AssertionError(f"cell did not finish in {timeout} s; output so far:\n{self.output()}")


@contextmanager
def lab_kernel(env: Optional[Dict[str, str]] = None) -> Iterator[LabFrontend]:
    km, kc = start_new_kernel(kernel_name="python3", env=dict(os.environ, **(env or {})))
    try:
        yield LabFrontend(km, kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
