"""Install the bridge in a running ipykernel and switch its debugger between local and remote.

The seam is the kernel's ``control_handlers["debug_request"]`` (ipykernel 6.30+ and 7.x look
every control message up there, on the control thread, one message at a time): the bridge's
handler leaves requests to the stock handler and the kernel's own debugger (cells) or answers them
from a :class:`RemoteSession`. A remote request is answered by a task of its own, so the control
channel goes on to its next message at once: ``kernel_info``, ``interrupt`` and ``shutdown`` never
wait for a remote that is slow, frozen or gone (JupyterLab pairs replies by message id). No
ipykernel class is swapped or subclassed at runtime, so its own debugger keeps working untouched.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, cast

from ipykernel.jsonutil import json_clean

from amldebug_jupyter.bridge.remote import BridgeTimeouts, RemoteSession, Target
from amldebug_jupyter.bridge.remote import reply as remote_reply
from amldebug_jupyter.core import context
from amldebug_jupyter.core.lifecycle import Attachment
from amldebug_jupyter.errors import UserError

log = logging.getLogger(__name__)

Message = Dict[str, Any]
Command = Callable[[Dict[str, Any]], str]
"""A custom ``debug_request`` command: its arguments in, the line to show out (UserError: refused)."""

_JUPYTERLAB_INITIALIZE = {
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


def _tmp_directory() -> str:
    from ipykernel.compiler import get_tmp_directory

    return str(get_tmp_directory())  # type: ignore[no-untyped-call]


class KernelBridge:
    """Routes one kernel's debug requests to its own debugpy or to a remote step."""

    def __init__(self, kernel: Any, timeouts: Optional[BridgeTimeouts] = None) -> None:
        self.kernel = kernel
        self.timeouts = timeouts or BridgeTimeouts()
        self._stock = kernel.do_debug_request
        self._stock_handler = kernel.control_handlers["debug_request"]
        self._answering: Set["asyncio.Task[None]"] = set()
        self.target: Optional[Target] = None
        self.session: Optional[RemoteSession] = None
        self.remembered: Dict[str, List[Message]] = {}
        """File breakpoints set during remote sessions, replayed before the next one starts."""
        self.on_change: List[Callable[[Optional[Target], str], None]] = []
        """Views (panel, lab extension comm) told (target, what): 'attached', 'detached', or a
        problem, 'unreachable' or 'remote_gone', whose text is in :attr:`last_problem`."""
        self.last_problem: Optional[str] = None
        self.detached_from: Set[str] = set()
        """Addresses the debugger let go of while they ran: shown as 'detached', attachable again."""
        self._state_lock = threading.Lock()
        self._state_pending = False
        self.commands: Dict[str, Command] = {}
        """Custom ``debug_request`` commands (``amldebugAttach``...) answered on the control channel,
        so the lab extension reaches the kernel while a cell runs; each runs in a worker thread."""

    @classmethod
    def install(cls, kernel: Any) -> "KernelBridge":
        bridge = getattr(kernel, "_amldebug_bridge", None)
        if bridge is None:
            bridge = cls(kernel)
            kernel._amldebug_bridge = bridge
            kernel.control_handlers["debug_request"] = bridge.debug_request
            context.current().attachment_of = bridge.attachment_of
        return bridge

    @classmethod
    def uninstall(cls, kernel: Any) -> None:
        """Detach (the remote keeps running) and give the kernel back its own debugger."""
        bridge = getattr(kernel, "_amldebug_bridge", None)
        if bridge is None:
            return
        if bridge.target is not None:
            bridge.detach()
        bridge.on_change.clear()
        if kernel.control_handlers.get("debug_request") == bridge.debug_request:
            kernel.control_handlers["debug_request"] = bridge._stock_handler
        del kernel._amldebug_bridge

    # -- control thread ------------------------------------------------------------------
    async def debug_request(self, stream: Any, ident: Any, parent: Message) -> None:
        """ipykernel's ``debug_request`` handler: local requests as before, remote ones answered
        by their own task so the control channel is free again before the remote replies."""
        command = self.commands.get((parent.get("content") or {}).get("command", ""))
        if command is not None:
            self._spawn(self._answer_command(stream, ident, parent, command))
            return
        if self.target is None:
            await self._stock_handler(stream, ident, parent)
            return
        self._spawn(self._answer(stream, ident, parent))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, stream: Any, ident: Any, parent: Message) -> None:
        content = parent.get("content") or {}
        try:
            reply = await self.do_debug_request(content)
        except Exception as e:  # whatever happens, the frontend gets its answer
            reply = remote_reply(content, False, message=f"amldebug-jupyter failed: {type(e).__name__}: {e}")
        self._send_reply(stream, ident, parent, reply)

    async def _answer_command(self, stream: Any, ident: Any, parent: Message, command: Command) -> None:
        content = parent.get("content") or {}
        loop = asyncio.get_running_loop()
        try:
            text = await loop.run_in_executor(None, command, dict(content.get("arguments") or {}))
            reply = remote_reply(content, True, body={"text": text})
        except UserError as e:
            reply = remote_reply(content, False, body={}, message=str(e))
        except Exception as e:  # a bug must reach the frontend as an answer
            reply = remote_reply(content, False, body={}, message=f"amldebug-jupyter failed: {type(e).__name__}: {e}")
        self._send_reply(stream, ident, parent, reply)

    def _send_reply(self, stream: Any, ident: Any, parent: Message, reply: Message) -> None:
        self.kernel.session.send(stream, "debug_reply", json_clean(reply), parent, ident)  # type: ignore[no-untyped-call]

    def attachment_of(self, address: str) -> Optional[Attachment]:
        """What the debugger holds of the target at ``address`` (None: never held)."""
        target, session = self.target, self.session
        if target is None or target.address != address:
            return Attachment(held=False, was_detached=True) if address in self.detached_from else None
        if session is None:
            return Attachment()
        return Attachment(
            connected=session.started,
            paused_at=session.paused_at,
            exception=session.exception,
            lost=session.lost,
        )

    async def do_debug_request(self, msg: Message) -> Message:
        if self.target is None:
            return cast(Message, await self._stock(msg))
        if self.session is None:
            self.session = self._new_session(self.target)
        reply = await self.session.handle(msg)
        if msg.get("command") == "disconnect":  # the UI's toggle-off detaches
            gone = self.session is not None and self.session.broken is not None
            if self.target is not None and not gone:
                self.detached_from.add(self.target.address)
            self._forget_remote("ended" if gone else "detached")  # the frontend heard of an end already
        return reply

    def _new_session(self, target: Target) -> RemoteSession:
        return RemoteSession(
            target,
            publish=self.kernel._publish_debug_event,
            local=self._kernel_debugger,
            is_cell_path=self._is_cell_path,
            timeouts=self.timeouts,
            remembered=self.remembered,
            on_problem=self._problem,
            on_state=self._state_soon,
        )

    async def _kernel_debugger(self, msg: Message) -> Message:
        """``debugInfo``/``dumpCell`` answered by the kernel's own debugger, started or not."""
        return cast(Message, await getattr(self.kernel.debugger, msg["command"])(msg))

    @staticmethod
    def _is_cell_path(path: str) -> bool:
        return bool(path) and path.startswith(_tmp_directory())

    def _problem(self, kind: str, text: str) -> None:
        self.last_problem = text
        self._changed(self.target, kind)

    def _forget_remote(self, what: str) -> None:
        target, self.target, self.session = self.target, None, None
        self._changed(target, what)

    STATE_COALESCE = 0.1
    """Seconds pause/run changes are gathered before the views redraw: stepping makes two per step,
    and redrawing happens off the control thread, so a step costs what it costs without us."""

    def _state_soon(self) -> None:
        with self._state_lock:
            if self._state_pending:
                return
            self._state_pending = True
        timer = threading.Timer(self.STATE_COALESCE, self._state_now)
        timer.daemon = True
        timer.start()

    def _state_now(self) -> None:
        with self._state_lock:
            self._state_pending = False
        self._changed(self.target, "state")

    def _changed(self, target: Optional[Target], what: str) -> None:
        for callback in list(self.on_change):
            callback(target, what)
        context.current().notify_target_changed()

    # -- shell thread (magics) -----------------------------------------------------------
    def attach(self, target: Target) -> None:
        """Point the kernel's debugger at ``target``; JupyterLab's next session debugs it."""

        async def swap() -> None:
            previous = self.session
            if previous is not None and previous.started and previous.broken:  # it ended or was lost; the UI is on
                self.target, self.session = target, self._new_session(target)
                self.detached_from.discard(target.address)
                self._changed(target, "attached")
                await previous.close()
                task = asyncio.ensure_future(self.session.start_for_open_ui(previous.initialize_arguments))
                self._answering.add(task)  # not awaited: the control channel stays free while it connects
                task.add_done_callback(self._answering.discard)
                return
            if self.kernel.debugger.is_started:
                raise UserError(
                    "JupyterLab's debugger is on for this notebook (debugging its cells): "
                    "turn it off with the bug icon, run the attach again, then turn it back on."
                )
            if self.session is not None and self.session.started:
                raise UserError(
                    f"Already debugging {self.target.name if self.target else 'a remote step'}: run %aml_debug detach first."
                )
            self.target, self.session = target, None
            self.detached_from.discard(target.address)
            self._changed(target, "attached")

        self.run_on_control(swap)

    def detach(self) -> str:
        """Leave the remote running; local cell debugging works again in this kernel."""
        if self.target is None:
            raise UserError("The debugger is not attached to a remote step; nothing to detach.")
        name = self.target.name
        session = self.session
        ui_was_on = session is not None and session.started
        gone = session.broken if session is not None else None

        async def leave() -> None:
            if session is not None:
                await session.close()
            if self.target is not None and not gone:
                self.detached_from.add(self.target.address)
            self._forget_remote("detached")

        self.run_on_control(leave, timeout=self.timeouts.request + 5)
        if gone:  # nothing keeps running: say what happened instead
            ended = f"{name} has ended" if "has ended" in gone else gone.rstrip(".")
            keeps = f"{ended}; the debugger let go of it"
        else:
            keeps = f"Detached from {name} (it keeps running)"
        if ui_was_on:
            self._resume_local_session(session.cell_breakpoints if session else {})
            return f"{keeps}; the debugger now debugs this notebook's cells."
        return f"{keeps}."

    def let_go_of_ended(self, address: str) -> None:
        """The held target's step ended. With no debugger session on it, forget it now; with one,
        the UI's disconnect (the lab extension turns the debugger off) or the next attach does."""
        target, session = self.target, self.session
        if target is None or target.address != address or (session is not None and session.started):
            return

        def forget() -> None:
            if self.target is target:
                self._forget_remote("ended")

        try:
            self.run_on_control(forget)
        except UserError:
            log.debug("could not let go of an ended target", exc_info=True)

    def _resume_local_session(self, cell_breakpoints: Dict[str, List[Message]]) -> None:
        """JupyterLab still has a session open: start the kernel's own debugger behind it."""
        self._ensure_local_debugpy()

        async def start_local() -> None:
            seq = iter(range(1, 10_000))
            await self._stock({"seq": next(seq), "type": "request", "command": "initialize", "arguments": _JUPYTERLAB_INITIALIZE})
            await self._stock({"seq": next(seq), "type": "request", "command": "attach", "arguments": {}})
            for path, bps in cell_breakpoints.items():
                await self._stock(
                    {
                        "seq": next(seq),
                        "type": "request",
                        "command": "setBreakpoints",
                        "arguments": {"source": {"path": path}, "breakpoints": bps, "sourceModified": False},
                    }
                )

        self.run_on_control(start_local, timeout=30)

    def _ensure_local_debugpy(self) -> None:
        """What ipykernel's ``Debugger.start`` asks the shell to run; we are on the shell already.

        (Letting ipykernel do it from the control thread would wait for this very cell.)
        """
        dbg = self.kernel.debugger
        if dbg.debugpy_initialized:
            return
        host, port = self.run_on_control(dbg.debugpy_client.get_host_port)
        Path(_tmp_directory()).mkdir(parents=True, exist_ok=True)
        import debugpy

        debugpy.listen((host, int(port)))
        dbg.debugpy_initialized = True

    def run_on_control(self, fn: Callable[[], Any], timeout: float = 15.0) -> Any:
        """Run ``fn`` (sync or async) on the control thread between two debug requests."""
        kernel = self.kernel
        control = getattr(kernel, "control_thread", None)
        if control is None or threading.current_thread() is control:
            raise UserError("The debugger bridge needs a Jupyter kernel with a control thread (ipykernel 6.30.1+).")

        async def serialized() -> Any:
            async with kernel._control_lock:
                result = fn()
                if inspect.isawaitable(result):
                    result = await result
                return result

        future = asyncio.run_coroutine_threadsafe(serialized(), control.io_loop.asyncio_loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise UserError(
                f"The kernel's control channel stayed busy for {timeout:g} s (a debug request to a frozen remote?); try again."
            ) from None


def current_bridge() -> KernelBridge:
    """The bridge of the kernel this code runs in (installed on first use)."""
    from IPython import get_ipython

    ip = get_ipython()
    kernel = getattr(ip, "kernel", None)
    if kernel is None or not hasattr(kernel, "debugger"):
        raise UserError(
            "Attaching JupyterLab's debugger needs a Jupyter kernel (ipykernel); "
            "outside one, use `amldebug_jupyter.dap.DapClient` or VS Code."
        )
    return KernelBridge.install(kernel)
