"""The kernel side of a remote debug session: JupyterLab's DAP requests relayed to a remote debugpy.

A :class:`RemoteSession` answers what must stay local (``debugInfo``, ``dumpCell``, notebook
cell breakpoints), forwards the rest over a :class:`~amldebug_jupyter.dap.DapClient`, pairs
replies by ``request_seq`` and bounds every wait, so a dead or frozen remote never wedges the
kernel's control channel. It runs on the kernel's control event loop; the DAP client's reader
thread hands events back to that loop.

The init-sequence trap it fixes: debugpy lets a step waiting in ``wait_for_client()`` run at
``configurationDone``, and JupyterLab sends its breakpoints only *after* ``attach``. So the
session answers ``attach`` as soon as the remote says ``initialized``, forwards the
breakpoints JupyterLab then sends, and sends ``configurationDone`` when JupyterLab's sequence
ends (its ``setExceptionBreakpoints``, or a grace period for other clients). Breakpoints known
before (remembered from earlier sessions, or a stop-on-entry one) are set before all of that.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Set, Tuple

from amldebug_jupyter.dap import DapClient, Message
from amldebug_jupyter.errors import DapError
from amldebug_jupyter.instrument import ENTRY_NAME

log = logging.getLogger(__name__)

_EMPTY_BODIES: Dict[str, Dict[str, Any]] = {
    "setBreakpoints": {"breakpoints": []},
    "stackTrace": {"stackFrames": [], "totalFrames": 0},
    "scopes": {"scopes": []},
    "variables": {"variables": []},
    "modules": {"modules": [], "totalModules": 0},
    "threads": {"threads": []},
    "source": {},
}
"""Bodies for failed replies, so the frontend shows the message instead of a TypeError."""

MAX_OUTPUT_CHARS = 64 * 1024
"""A remote output event longer than this reaches the frontend cut, with a note saying so."""

_LIFECYCLE = {"initialize", "attach", "configurationDone", "setExceptionBreakpoints", "disconnect"}
"""Requests that change the session's state run one at a time, in the order they came."""


@dataclass(frozen=True)
class BridgeTimeouts:
    connect: float = 10.0
    """Seconds to reach the remote and get its ``initialize`` answer."""
    request: float = 10.0
    """Seconds any other request may take."""
    configuration_grace: float = 3.0
    """After ``attach``, how long to wait for the client's breakpoints before releasing the remote."""
    liveness_interval: float = 2.0
    """Once the remote runs: after this many seconds without a word from it, check it still answers."""
    liveness_timeout: float = 3.0
    """Seconds that check may take before the remote counts as lost (frozen, or the link is down)."""


@dataclass(frozen=True)
class Target:
    """A remote debugpy endpoint and how its paths map to the notebook's machine."""

    host: str
    port: int
    label: str = ""
    path_mappings: Sequence[Dict[str, str]] = ()
    just_my_code: bool = True
    entry_breakpoint: Optional[Tuple[str, int]] = None
    """(local path, line): a stop-on-entry breakpoint set before the remote is released."""
    breakpoints: Dict[str, List[int]] = field(default_factory=dict)
    """Breakpoints (local path -> lines) to set before the remote is released."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def name(self) -> str:
        return self.label or self.address


def _is_entry_frame(frame: Dict[str, Any]) -> bool:
    """A frame of the debug entry that runs the user's script (main, run_script, exec_as_main)."""
    return str((frame.get("source") or {}).get("path") or "").endswith(ENTRY_NAME)


def reply(
    request: Message, success: bool = True, body: Optional[Dict[str, Any]] = None, message: Optional[str] = None
) -> Message:
    command = request.get("command", "")
    out: Message = {
        "type": "response",
        "seq": 0,
        "request_seq": request.get("seq", 0),
        "command": command,
        "success": success,
        "body": body if body is not None else dict(_EMPTY_BODIES.get(command, {})),
    }
    if message:
        out["message"] = message
    return out


Publish = Callable[[Message], None]
LocalHandler = Callable[[Message], Awaitable[Message]]


class RemoteSession:
    """One debug session between the notebook's frontend and a remote debugpy adapter."""

    def __init__(
        self,
        target: Target,
        publish: Publish,
        local: LocalHandler,
        is_cell_path: Callable[[str], bool],
        timeouts: BridgeTimeouts = BridgeTimeouts(),
        remembered: Optional[Dict[str, List[Dict[str, Any]]]] = None,
        on_problem: Optional[Callable[[str, str], None]] = None,
        on_state: Optional[Callable[[], None]] = None,
    ) -> None:
        self.target = target
        self._on_state = on_state or (lambda: None)
        """Told when the remote pauses or runs on (the views redraw from :attr:`paused_at`...)."""
        self._on_problem = on_problem or (lambda kind, text: None)
        """Told ('unreachable' | 'remote_gone' | 'ended', text) when the remote cannot be started, is
        lost, or ends."""
        self.timeouts = timeouts
        self._publish = publish
        self._local = local
        self._is_cell_path = is_cell_path
        self.client: Optional[DapClient] = None
        self.started = False
        self.broken: Optional[str] = None
        self.stopped_threads: Set[int] = set()
        self.paused_at: Optional[str] = None
        """'train.py:12' while the remote is stopped (the top frame of the user's code)."""
        self.exception: Optional[str] = None
        """'KeyError: 3' while stopped on an exception (from ``exceptionInfo``)."""
        self.lost: Optional[str] = None
        """Why the connection was lost (frozen remote, dropped link), if it was."""
        self._describing: Set["asyncio.Task[None]"] = set()
        self.file_breakpoints: Dict[str, List[Dict[str, Any]]] = remembered if remembered is not None else {}
        """Breakpoints in files (not cells) by local path, kept across sessions by the bridge."""
        self.cell_breakpoints: Dict[str, List[Dict[str, Any]]] = {}
        self._pinned: Dict[str, List[int]] = {}
        self._source_refs: Dict[str, int] = {}
        self._attach_reply: Optional["asyncio.Future[Message]"] = None
        self._initialized: Optional["asyncio.Future[Message]"] = None
        self._configured: Optional["asyncio.Future[bool]"] = None
        self._capabilities: Dict[str, Any] = {}
        self._releasing = False
        self._grace: Optional[asyncio.TimerHandle] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._lifecycle = asyncio.Lock()
        self.initialize_arguments: Dict[str, Any] = {}
        """What the debugger UI said in its ``initialize``: replayed to start a next target for it."""

    # -- dispatch ------------------------------------------------------------------------
    async def handle(self, msg: Message) -> Message:
        """Answer one request. Several may be in flight (the kernel's control channel does not
        wait for the remote); state changes run one at a time, other requests wait only for one
        that is under way, so what reaches the remote keeps the client's order."""
        command = msg.get("command", "")
        handler = getattr(self, "on_" + command, None)
        try:
            if command in _LIFECYCLE:
                async with self._lifecycle:
                    return await self._run(handler, msg)
            if self._lifecycle.locked():
                async with self._lifecycle:
                    pass
            return await self._run(handler, msg)
        except DapError as e:
            return reply(msg, False, message=str(e))
        except Exception as e:  # a bug here must reach the frontend as an answer, not hang it
            log.exception("debug request %s failed", command)
            return reply(msg, False, message=f"amldebug-jupyter failed on '{command}': {type(e).__name__}: {e}")

    async def _run(self, handler: Optional[Callable[[Message], Awaitable[Message]]], msg: Message) -> Message:
        if handler is not None:
            return await handler(msg)
        return await self._forward(msg)

    # -- lifecycle -----------------------------------------------------------------------
    async def on_initialize(self, msg: Message) -> Message:
        if self.started and self.client is not None and not self.client.closed:
            return reply(msg, True, body=self._capabilities)
        self._loop = asyncio.get_running_loop()
        self.broken = None
        self._initialized = self._loop.create_future()  # an adapter may send it right after this answer
        t = self.target
        try:
            self.client = await self._loop.run_in_executor(
                None,
                lambda: DapClient(
                    t.host,
                    t.port,
                    connect_timeout=self.timeouts.connect,
                    request_timeout=self.timeouts.request,
                    keep_events=False,
                ),
            )
        except DapError as e:
            return self._start_failed(msg, str(e))
        self.client.on_event(self._from_reader_thread(self._on_event))
        self.client.on_close(self._from_reader_thread(self._on_link_lost))
        rep = await self._forward(msg, self.timeouts.connect)
        if not rep.get("success"):
            self._close_client()
            return self._start_failed(msg, rep.get("message", "initialize failed"))
        self._capabilities = rep.get("body") or {}
        self.initialize_arguments = dict(msg.get("arguments") or {})
        self.started = True
        return rep

    async def start_for_open_ui(self, initialize_arguments: Dict[str, Any]) -> None:
        """The debugger UI stayed on from a session that ended: run its start sequence ourselves
        (initialize, attach, the breakpoints it set before, release), so it goes on debugging this
        target with no new click. Failures reach the UI as notes, like a start it asked for."""
        seq = iter(range(1, 1000))

        def request(command: str, arguments: Dict[str, Any]) -> Message:
            return {"seq": next(seq), "type": "request", "command": command, "arguments": arguments}

        async with self._lifecycle:
            arguments = initialize_arguments or {"clientID": "jupyterlab", "adapterID": "python", "pathFormat": "path"}
            if not (await self.on_initialize(request("initialize", arguments))).get("success"):
                return
            if not (await self.on_attach(request("attach", {}))).get("success"):
                return
            await self._release()

    def _start_failed(self, msg: Message, why: str) -> Message:
        text = f"Could not start remote debugging of {self.target.name} at {self.target.address}: {why}"
        self._notify(text)
        self._on_problem("unreachable", text)
        return reply(msg, False, message=text)

    async def on_attach(self, msg: Message) -> Message:
        client = self._require_client()
        args = {
            k: v for k, v in (msg.get("arguments") or {}).items() if k not in ("connect", "rules", "debugOptions", "logToFile")
        }
        args.update(
            justMyCode=self.target.just_my_code,
            redirectOutput=False,
            pathMappings=[dict(m) for m in self.target.path_mappings],
            rules=[{"path": f"**/{ENTRY_NAME}", "include": False}],  # never step into the debug entry
        )
        loop = asyncio.get_running_loop()
        initialized = self._initialized = self._initialized or loop.create_future()
        self._attach_reply = asyncio.wrap_future(client.send("attach", args), loop=loop)
        deadline = loop.time() + self.timeouts.request
        while not initialized.done():  # 'initialized' and the attach answer may come in either order
            waiting = {initialized} if self._attach_reply.done() else {initialized, self._attach_reply}
            await asyncio.wait(waiting, timeout=max(deadline - loop.time(), 0), return_when=asyncio.FIRST_COMPLETED)
            if self._attach_reply.done() and not initialized.done():
                why = self._refusal(self._attach_reply)
                if why is not None:  # a refusal ("already being debugged") or a lost link
                    self._close_client()
                    self.started = False
                    return self._start_failed(msg, why)
            if loop.time() >= deadline and not initialized.done():
                return self._start_failed(msg, f"no 'initialized' event within {self.timeouts.request:g} s")
        await self._set_known_breakpoints()
        self._configured = loop.create_future()
        self._releasing = False
        self._grace = loop.call_later(self.timeouts.configuration_grace, lambda: asyncio.ensure_future(self._release()))
        return reply(msg, True, body={})

    @staticmethod
    def _refusal(answer: "asyncio.Future[Message]") -> Optional[str]:
        """Why an answered ``attach`` failed, or None when it succeeded."""
        try:
            rep = answer.result()
        except DapError as e:
            return str(e)
        return None if rep.get("success") else rep.get("message") or "attach refused"

    async def _set_known_breakpoints(self) -> None:
        """Breakpoints the remote must know before it runs: remembered, given, stop-on-entry."""
        wanted: Dict[str, List[int]] = {p: [int(b["line"]) for b in bps] for p, bps in self.file_breakpoints.items()}
        for path, lines in self.target.breakpoints.items():
            wanted.setdefault(path, [])
            wanted[path] += [n for n in lines if n not in wanted[path]]
        if self.target.entry_breakpoint and not wanted.get(self.target.entry_breakpoint[0]):
            path, line = self.target.entry_breakpoint  # stop on entry only where the user set no breakpoint
            self._pinned = {path: [line]}
            wanted.setdefault(path, [])
        for path, lines in wanted.items():
            all_lines = lines + [n for n in self._pinned.get(path, []) if n not in lines]
            try:
                await self._request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": n} for n in all_lines]})
            except DapError as e:  # one stale breakpoint must not cost the whole session
                self._notify(f"Breakpoints in {path} were not set: {e}")

    async def _release(self) -> None:
        """Send ``configurationDone`` once: this is what lets the waiting step run."""
        if self._configured is None or self._configured.done() or self._releasing:
            return
        self._releasing = True  # the grace timer and the client's sequence may both get here
        if self._grace is not None:
            self._grace.cancel()
        try:
            await self._request("configurationDone", {})
            if self._attach_reply is not None:
                rep = await asyncio.wait_for(self._attach_reply, self.timeouts.request)
                if not rep.get("success"):
                    self._notify(f"The remote refused attach: {rep.get('message')}")
            self._configured.set_result(True)
            if self.client is not None:
                self.client.watch(self.timeouts.liveness_interval, self.timeouts.liveness_timeout)
        except (DapError, asyncio.TimeoutError) as e:
            self._configured.set_result(False)
            self._notify(f"Could not release {self.target.name}: {e or 'timed out'}")

    async def on_configurationDone(self, msg: Message) -> Message:
        await self._release()
        return reply(msg, True, body={})

    async def on_disconnect(self, msg: Message) -> Message:
        await self.close()
        return reply(msg, True, body={})

    async def close(self) -> None:
        """Leave the remote running: disconnect without terminating it."""
        if self._grace is not None:
            self._grace.cancel()
        client = self.client
        if client is not None and not client.closed and self.broken is None:
            if self._configured is not None and not self._configured.done():
                await self._release()
            try:
                fut = asyncio.wrap_future(client.send("disconnect", {"restart": False, "terminateDebuggee": False}))
                await asyncio.wait_for(fut, min(self.timeouts.request, 3.0))
            except (DapError, asyncio.TimeoutError):
                pass
        if self.stopped_threads:
            self._leave_paused_state()
        self._close_client()
        self.started = False

    def _close_client(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            client.close()

    # -- breakpoints and configuration ---------------------------------------------------
    async def on_setBreakpoints(self, msg: Message) -> Message:
        args = msg.get("arguments") or {}
        path = (args.get("source") or {}).get("path", "")
        bps = list(args.get("breakpoints") or [])
        if self._is_cell_path(path):  # notebook cells never run in the remote process
            self.cell_breakpoints[path] = bps
            return reply(
                msg,
                True,
                body={
                    "breakpoints": [
                        {"verified": False, "line": b.get("line"), "message": "cells run locally, not in the remote step"}
                        for b in bps
                    ]
                },
            )
        self.file_breakpoints[path] = bps
        if bps:  # the user's own breakpoints in the script replace the stop on entry there
            self._pinned.pop(path, None)
        pinned = [n for n in self._pinned.get(path, []) if n not in [b.get("line") for b in bps]]
        forwarded = dict(args, breakpoints=bps + [{"line": n} for n in pinned])
        rep = await self._forward(dict(msg, arguments=forwarded))
        if rep.get("success") and pinned:  # the answer lists only what the client asked for
            rep["body"]["breakpoints"] = rep["body"].get("breakpoints", [])[: len(bps)]
        return rep

    async def on_setExceptionBreakpoints(self, msg: Message) -> Message:
        rep = await self._forward(msg)
        await self._release()  # JupyterLab's configuration ends here
        return rep

    # -- inspection ----------------------------------------------------------------------
    async def on_stackTrace(self, msg: Message) -> Message:
        rep = await self._forward(msg)
        body = rep.get("body") or {}
        frames = body.get("stackFrames", [])
        for frame in frames:
            src = frame.get("source") or {}
            if src.get("sourceReference") and src.get("path"):
                self._source_refs[src["path"]] = src["sourceReference"]
        mine = [f for f in frames if not _is_entry_frame(f)]
        self._note_stop_location(msg, mine)
        if mine and len(mine) < len(frames):  # the debug entry's own frames are not the user's code
            hidden = len(frames) - len(mine)
            total = body.get("totalFrames")
            rep = dict(
                rep, body=dict(body, stackFrames=mine, totalFrames=max(len(mine), int(total) - hidden) if total else len(mine))
            )
        return rep

    def _note_stop_location(self, msg: Message, frames: List[Dict[str, Any]]) -> None:
        """Where the remote is stopped, from the UI's own ``stackTrace`` (no request of ours: stepping
        must cost what it costs without the bridge)."""
        args = msg.get("arguments") or {}
        if not frames or args.get("threadId") not in self.stopped_threads or int(args.get("startFrame") or 0) != 0:
            return
        top = frames[0]
        where = f"{Path(str((top.get('source') or {}).get('path') or top.get('name') or '?')).name}:{top.get('line')}"
        if where != self.paused_at:
            self.paused_at = where
            self._on_state()

    async def _describe_exception(self, thread_id: int) -> None:
        """The exception the remote stopped on ('KeyError: 3'), for the panel, sidebar and status."""
        try:
            info = await self._request("exceptionInfo", {"threadId": thread_id})
        except DapError:
            log.debug("could not describe the exception", exc_info=True)
            return
        name, text = info.get("exceptionId") or "Exception", str(info.get("description") or "").strip()
        if thread_id in self.stopped_threads:  # not already running on
            self.exception = f"{name}: {text}"[:200] if text else str(name)
            self._on_state()

    async def on_source(self, msg: Message) -> Message:
        """The remote's copy when it offered one (the path is not mapped here), else the local file."""
        args = msg.get("arguments") or {}
        path = (args.get("source") or {}).get("path", "")
        ref = self._source_refs.get(path) or args.get("sourceReference") or (args.get("source") or {}).get("sourceReference")
        if ref:
            return await self._forward(
                dict(msg, arguments={"source": {"path": path, "sourceReference": ref}, "sourceReference": ref})
            )
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            return reply(
                msg,
                False,
                message=f"Source unavailable: cannot read {path or 'an unnamed source'} "
                f"here ({e.strerror}) and the remote did not offer it.",
            )
        return reply(msg, True, body={"content": text, "mimeType": "text/x-python"})

    async def on_variables(self, msg: Message) -> Message:
        if not self.stopped_threads:
            return reply(msg, True, body={"variables": []})
        return await self._forward(msg)

    async def on_inspectVariables(self, msg: Message) -> Message:
        # The panel lists the *notebook's* globals when not stopped; remote globals need a frame.
        return reply(msg, True, body={"variables": []})

    async def on_richInspectVariables(self, msg: Message) -> Message:
        return reply(msg, False, body={}, message="Rich variable rendering is not available for a remote step.")

    async def on_copyToGlobals(self, msg: Message) -> Message:
        return reply(msg, False, body={}, message="Copy to globals is not available for a remote step.")

    async def on_modules(self, msg: Message) -> Message:
        if not self.started:
            return reply(msg, True, body={"modules": [], "totalModules": 0})
        return await self._forward(msg)

    async def on_debugInfo(self, msg: Message) -> Message:
        rep = await self._local(msg)  # hash and temp-file parameters of *this* kernel
        body = dict(rep.get("body") or {})
        merged = {**self.file_breakpoints, **self.cell_breakpoints}
        body.update(
            isStarted=self.started,
            breakpoints=[{"source": p, "breakpoints": b} for p, b in merged.items()],
            stoppedThreads=sorted(self.stopped_threads),
            richRendering=False,
            copyToGlobals=False,
        )
        return dict(rep, body=body)

    async def on_dumpCell(self, msg: Message) -> Message:
        return await self._local(msg)

    # -- plumbing ------------------------------------------------------------------------
    def _require_client(self) -> DapClient:
        if self.broken:
            raise DapError(self.broken)
        if self.client is None or self.client.closed:
            raise DapError(f"Not connected to {self.target.name}: turn the debugger on for this notebook.")
        return self.client

    async def _request(self, command: str, arguments: Dict[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
        rep = await self._forward({"seq": 0, "type": "request", "command": command, "arguments": arguments}, timeout)
        if not rep.get("success"):
            raise DapError(f"The remote refused '{command}': {rep.get('message')}")
        return rep.get("body") or {}

    async def _forward(self, msg: Message, timeout: Optional[float] = None) -> Message:
        """Send to the remote, wait (bounded) for its answer, re-key it to the client's seq."""
        command = msg.get("command", "")
        try:
            client = self._require_client()
            fut = client.send(command, msg.get("arguments"))
        except DapError as e:
            return reply(msg, False, message=str(e))
        limit = self.timeouts.request if timeout is None else timeout
        try:
            rep = await asyncio.wait_for(asyncio.wrap_future(fut), limit)
        except asyncio.TimeoutError:
            return reply(
                msg,
                False,
                message=f"{self.target.name} did not answer '{command}' within {limit:g} s "
                "(is the remote process frozen or the network down?).",
            )
        except DapError as e:
            return reply(msg, False, message=str(e))
        out = dict(rep, request_seq=msg.get("seq", 0))
        if not out.get("success") and not out.get("body"):
            out["body"] = dict(_EMPTY_BODIES.get(command, {}))
        return out

    def _from_reader_thread(self, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        loop = self._loop

        def call(arg: Any) -> None:
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(fn, arg)

        return call

    def _on_event(self, ev: Message) -> None:
        name = ev.get("event")
        body = ev.get("body") or {}
        if name == "output" and len(str(body.get("output", ""))) > MAX_OUTPUT_CHARS:
            text = str(body["output"])
            cut = f"\n[... {len(text) - MAX_OUTPUT_CHARS} more characters of this output not shown]\n"
            ev = dict(ev, body=dict(body, output=text[:MAX_OUTPUT_CHARS] + cut))
        if name == "initialized" and self._initialized is not None and not self._initialized.done():
            self._initialized.set_result(ev)
        elif name == "stopped":
            self._pinned = {}  # the entry breakpoint did its job (or another stop came first)
            if "threadId" in body:
                self.stopped_threads.add(body["threadId"])
            self.paused_at, self.exception = "?", None
            if body.get("reason") == "exception" and "threadId" in body:
                describing = asyncio.ensure_future(self._describe_exception(int(body["threadId"])))
                self._describing.add(describing)  # a task nobody holds may be collected before it runs
                describing.add_done_callback(self._describing.discard)
            self._on_state()
        elif name == "continued":
            if body.get("allThreadsContinued", True):
                self.stopped_threads.clear()
            else:
                self.stopped_threads.discard(int(body.get("threadId") or 0))
            if not self.stopped_threads:
                self.paused_at = self.exception = None
                self._on_state()
        elif name == "terminated":
            self._leave_paused_state()
            self.broken = f"{self.target.name} has ended; its debug session is over."
            self._on_problem("ended", self.broken)
        self._publish(ev)

    def _on_link_lost(self, reason: str) -> None:
        if self.broken is not None:
            return
        self.broken = self.lost = f"Lost the connection to {self.target.name}: {reason}"
        self._leave_paused_state()
        self._notify(self.broken)
        self._on_problem("remote_gone", self.broken)
        self._publish({"type": "event", "seq": 0, "event": "terminated", "body": {}})

    def _leave_paused_state(self) -> None:
        """JupyterLab leaves 'paused' only on ``continued``; ``terminated`` alone does not do it."""
        for tid in sorted(self.stopped_threads) or []:
            self._publish(
                {"type": "event", "seq": 0, "event": "continued", "body": {"threadId": tid, "allThreadsContinued": True}}
            )
        self.stopped_threads.clear()
        self.paused_at = self.exception = None

    def _notify(self, text: str) -> None:
        """An ``important`` output event: the debug console shows it, the lab extension raises it."""
        log.warning("%s", text)
        self._publish({"type": "event", "seq": 0, "event": "output", "body": {"category": "important", "output": text + "\n"}})
