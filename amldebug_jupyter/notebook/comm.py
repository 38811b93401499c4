"""The kernel's side of the comm with the JupyterLab extension (``labextension/``).

Messages follow ``comm_schema.json``, defined once for both sides. The channel is a view: it
reads run and bridge state and tells the extension what changed (targets, attached, detached,
problems); the extension's attach and detach requests go to the same library calls as the
magics. The comm is opened from both ends (the kernel at ``%load_ext``; the extension when it
connects, e.g. after a page reload), and every open comm gets the same messages.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set

from amldebug_jupyter.core.context import Context
from amldebug_jupyter.core.events import Event, LogLine, StatusChanged
from amldebug_jupyter.core.lifecycle import TargetState, describe
from amldebug_jupyter.core.report import step_view
from amldebug_jupyter.core.status import TERMINAL, StepStatus
from amldebug_jupyter.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from amldebug_jupyter.bridge.remote import Target
    from amldebug_jupyter.core.run import DebugRun

log = logging.getLogger(__name__)

SCHEMA_FILE = Path(__file__).with_name("comm_schema.json")
_SCHEMA = json.loads(SCHEMA_FILE.read_text())
COMM_TARGET: str = _SCHEMA["x-comm-target"]
PROTOCOL_VERSION: int = _SCHEMA.get("x-protocol-version", 1)
"""Sent in every snapshot and checked against the extension's ``hello`` (a missing one means 1)."""
DEADLINE_WARNING_S = 30.0
"""A waiting target nobody attached to gets a 'deadline soon' notification this long before it gives up."""


def install(ipython: Any, ctx: Context) -> Optional["FrontendChannel"]:
    """Open the channel in a Jupyter kernel as ``ctx``'s frontend, closed with it; outside a kernel
    there is no frontend to talk to."""
    kernel = getattr(ipython, "kernel", None)
    if kernel is None or not hasattr(kernel, "debugger"):
        return None
    try:
        import comm
    except ImportError:  # pragma: no cover - ipykernel >= 6.22 brings it
        return None
    channel = FrontendChannel(comm, ctx)
    channel.start()
    ctx.frontend = channel
    ctx.on_close(channel.stop)
    return channel


def step_target_id(run_id: str, step: str) -> str:
    return f"{run_id}:{step}"


class FrontendChannel:
    def __init__(self, comm_module: Any, ctx: Context) -> None:
        self._comm_module = comm_module
        self._runs = ctx.runs
        self._comms: List[Any] = []
        self._lock = threading.Lock()
        self._warned: Set[str] = set()
        self.frontend_seen = False
        """An extension said hello: it turns JupyterLab's debugger on and off by itself."""
        self._unsubscribe: List[Callable[[], None]] = []
        self._stopped = threading.Event()

    # -- wiring --------------------------------------------------------------------------
    def start(self) -> None:
        from amldebug_jupyter.bridge.kernel import current_bridge

        self._comm_module.get_comm_manager().register_target(COMM_TARGET, self._on_open)
        self._add(self._comm_module.create_comm(target_name=COMM_TARGET, data=self.snapshot()))
        self._runs.added.append(self._watch_run)
        for run in self._runs.all():
            self._watch_run(run)
        bridge = current_bridge()
        bridge.on_change.append(self._on_bridge_change)
        bridge.commands.update(amldebugAttach=self._attach_command, amldebugDetach=self._detach)
        threading.Thread(target=self._tick, name="amldebug-frontend", daemon=True).start()

    def stop(self) -> None:
        """Undo :meth:`start`: no comm target, no open comms, no subscriptions, no ticking thread."""
        from amldebug_jupyter.bridge.kernel import current_bridge

        self._stopped.set()
        try:
            self._comm_module.get_comm_manager().unregister_target(COMM_TARGET, self._on_open)
        except Exception:  # already gone with the kernel
            log.debug("unregister_target failed", exc_info=True)
        if self._watch_run in self._runs.added:
            self._runs.added.remove(self._watch_run)
        bridge = current_bridge()
        if self._on_bridge_change in bridge.on_change:
            bridge.on_change.remove(self._on_bridge_change)
        for name in ("amldebugAttach", "amldebugDetach"):
            bridge.commands.pop(name, None)
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        with self._lock:
            comms, self._comms = self._comms, []
        for comm in comms:
            try:
                comm.close()
            except Exception:
                log.debug("comm close failed", exc_info=True)

    def _on_open(self, comm: Any, open_msg: Dict[str, Any]) -> None:
        self.frontend_seen = True
        self._add(comm)
        comm.send(self.snapshot())
        self._check_protocol(comm, (open_msg.get("content") or {}).get("data") or {})

    def _check_protocol(self, comm: Any, hello: Dict[str, Any]) -> None:
        """One clear line, to the extension that said hello, when it and this kernel's package speak
        different protocols (other tabs on this kernel may speak ours)."""
        theirs = hello.get("protocol", 1)
        if hello.get("type") == "hello" and theirs != PROTOCOL_VERSION:
            comm.send(
                self._problem(
                    "protocol_mismatch",
                    None,
                    f"The JupyterLab extension speaks comm protocol {theirs}, this kernel's amldebug_jupyter speaks "
                    f"{PROTOCOL_VERSION}: install the same amldebug-jupyter version in the kernel's environment and "
                    "in JupyterLab's.",
                )
            )

    def _add(self, comm: Any) -> None:
        comm.on_msg(lambda msg, c=comm: self._on_msg(c, msg))
        comm.on_close(lambda msg, c=comm: self._drop(c))
        with self._lock:
            self._comms.append(comm)

    def _drop(self, comm: Any) -> None:
        with self._lock:
            if comm in self._comms:
                self._comms.remove(comm)
            last = not self._comms
        if last and not self._stopped.is_set():  # the notebook closed: let a paused step run on
            threading.Thread(target=self._detach_quietly, name="amldebug-closed", daemon=True).start()

    @staticmethod
    def _detach_quietly() -> None:
        from amldebug_jupyter.bridge.kernel import current_bridge

        bridge = current_bridge()
        if bridge.target is not None and bridge.session is not None and bridge.session.started:
            try:
                bridge.detach()
            except UserError:
                log.debug("detach after the notebook closed failed", exc_info=True)

    def send(self, message: Dict[str, Any]) -> None:
        with self._lock:
            comms = list(self._comms)
        for comm in comms:
            try:
                comm.send(message)
            except Exception:  # a closed frontend must not break the run's thread
                log.debug("comm send failed", exc_info=True)

    def _watch_run(self, run: "DebugRun") -> None:
        def on_event(event: Event) -> None:
            if isinstance(event, LogLine):  # not per line
                return
            if isinstance(event, StatusChanged) and event.step is not None and event.status in TERMINAL:
                self._step_ended(run, event.step)
            self.publish_targets()

        self._unsubscribe.append(run.subscribe(on_event))
        self.publish_targets()

    def _step_ended(self, run: "DebugRun", step: str) -> None:
        """The debugger lets go of a step that ended; a crash is never silent."""
        from amldebug_jupyter.bridge.kernel import current_bridge

        state = run.steps[step]
        bridge = current_bridge()
        if state.endpoint is None or bridge.target is None or bridge.target.address != state.endpoint.address:
            return
        target_id = step_target_id(run.id, step)
        self.send({"type": "detached", "target": target_id, "reason": "ended"})
        view = step_view(state)
        if view.state == TargetState.FAILED:
            self.report_problem("ended", target_id, f"Step '{step}' failed: {view.detail or 'see its log'}"[:140], view.detail)
        threading.Thread(target=bridge.let_go_of_ended, args=(state.endpoint.address,), daemon=True).start()

    # -- from the extension --------------------------------------------------------------
    def _on_msg(self, comm: Any, msg: Dict[str, Any]) -> None:
        """Comm requests (protocol 1 and extensions without control-channel access); a newer
        extension sends attach/detach as custom debug requests (:meth:`attach`, :meth:`_detach`)."""
        data = (msg.get("content") or {}).get("data") or {}
        kind = data.get("type")
        if kind == "hello":
            self.frontend_seen = True
            self.publish_targets()
            self._check_protocol(comm, data)
            return
        target_id = str(data.get("target") or "") or None
        try:
            if kind == "attach":
                print(self.attach(target_id or ""))
            elif kind == "detach":
                self._detach({})
        except UserError as e:
            title = f"Could not attach to {target_id}" if kind == "attach" else "Could not detach"
            self.report_problem("attach_failed", target_id, title, str(e))

    def attach(self, target_id: str) -> str:
        """Attach to a target by its id; returns what to tell the user (UserError: why not)."""
        from amldebug_jupyter import bridge

        run_id, _, step = target_id.rpartition(":")
        run = self._runs.get(run_id)
        if run is None or step not in run.steps:
            raise UserError(f"No debug target {target_id!r} in this kernel (it may belong to an older session).")
        return bridge.attach_step(run, step)

    def _attach_command(self, arguments: Dict[str, Any]) -> str:
        return self.attach(str(arguments.get("target") or ""))

    @staticmethod
    def _detach(arguments: Dict[str, Any]) -> str:
        from amldebug_jupyter import bridge

        return bridge.detach()

    # -- to the extension ----------------------------------------------------------------
    def _on_bridge_change(self, target: Optional["Target"], what: str) -> None:
        from amldebug_jupyter.bridge.kernel import current_bridge

        target_id = self._id_of(target)
        if what == "attached" and target is not None:
            script, line = self._script_of(target_id), None
            if target.entry_breakpoint:
                script, line = target.entry_breakpoint
            self.send({"type": "attached", "target": target_id, "script": script, "line": line})
        elif what == "detached":
            self.send({"type": "detached", "target": target_id, "reason": "user"})
        elif what in ("unreachable", "remote_gone"):
            text = current_bridge().last_problem or what
            self.report_problem(what, target_id, text.splitlines()[0][:140], text)
        self.publish_targets()

    def publish_targets(self) -> None:
        self.send(self.snapshot())

    def report_problem(self, kind: str, target: Optional[str], message: str, details: Optional[str] = None) -> None:
        """A problem the extension shows as a notification."""
        self.send(self._problem(kind, target, message, details))

    @staticmethod
    def _problem(kind: str, target: Optional[str], message: str, details: Optional[str] = None) -> Dict[str, Any]:
        return {"type": "problem", "kind": kind, "target": target, "message": message, "details": details}

    def snapshot(self) -> Dict[str, Any]:
        return {
            "type": "targets",
            "targets": self.targets(),
            "now": time.time(),
            "home": os.path.expanduser("~"),
            "cwd": os.getcwd(),
            "protocol": PROTOCOL_VERSION,
        }

    def targets(self) -> List[Dict[str, Any]]:
        """Every debug step that waits, waited or is held, in its one lifecycle state."""
        current = self._current_target()
        attached = self._id_of(current) if current is not None else None
        found: List[Dict[str, Any]] = []
        for run in self._runs.all():
            for state in run.steps.values():
                if not state.debug:
                    continue
                view = step_view(state)
                if view.state == TargetState.PREPARING:
                    continue
                target_id = step_target_id(run.id, state.name)
                endpoint = state.endpoint
                mapping = run.path_mappings(state.name)[0]
                found.append(
                    {
                        "id": target_id,
                        "label": f"{state.name} · {run.id}",
                        "state": str(view.state),
                        "detail": view.detail,
                        "can_attach": view.can_attach and endpoint is not None,
                        "can_detach": view.can_detach,
                        "address": endpoint.address if endpoint else None,
                        "deadline": endpoint.deadline if endpoint else None,
                        "local_root": mapping["localRoot"],
                        "remote_root": mapping["remoteRoot"],
                        "script": self._script_of(target_id),
                    }
                )
        if current is not None and not any(t["id"] == attached for t in found):
            from amldebug_jupyter.bridge.kernel import current_bridge

            mapping = (list(current.path_mappings) or [{}])[0]
            view = describe(StepStatus.RUNNING, None, current_bridge().attachment_of(current.address))
            found.append(
                {
                    "id": attached,
                    "label": current.name,
                    "state": str(view.state),
                    "detail": view.detail,
                    "can_attach": False,
                    "can_detach": True,
                    "address": current.address,
                    "deadline": None,
                    "local_root": mapping.get("localRoot"),
                    "remote_root": mapping.get("remoteRoot"),
                    "script": None,
                }
            )
        return found

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _current_target() -> Optional["Target"]:
        from amldebug_jupyter.bridge.kernel import current_bridge

        try:
            return current_bridge().target
        except UserError:
            return None

    def _id_of(self, target: Optional["Target"]) -> str:
        """A step's id when the target is a step of a run in this session, else its address."""
        if target is None:
            return ""
        for run in self._runs.all():
            for name, state in run.steps.items():
                if state.endpoint is not None and state.endpoint.address == target.address:
                    return step_target_id(run.id, name)
        return target.address

    def _script_of(self, target_id: str) -> Optional[str]:
        """The local copy of the step's script (what the extension opens in an editor)."""
        from amldebug_jupyter.bridge import to_local_path

        run_id, _, step = target_id.rpartition(":")
        run = self._runs.get(run_id)
        if run is None or step not in run.steps or run.steps[step].endpoint is None:
            return None
        endpoint = run.steps[step].endpoint
        return to_local_path(endpoint.script, run.path_mappings(step)) if endpoint.script else None

    def _tick(self) -> None:
        """Warn once per target, DEADLINE_WARNING_S before a waiting step gives up."""
        while not self._stopped.wait(1.0):
            try:
                for target in self.targets():
                    deadline = target["deadline"]
                    if target["state"] != "waiting" or deadline is None or target["id"] in self._warned:
                        continue
                    left = deadline - time.time()
                    if 0 < left <= DEADLINE_WARNING_S:
                        self._warned.add(target["id"])
                        self.report_problem(
                            "deadline_soon",
                            target["id"],
                            f"{target['label']} stops waiting for a debugger in {left:.0f} s",
                            "Attach now from the amldebug panel, or it runs without a debugger.",
                        )
            except Exception:  # pragma: no cover - a view must never take the kernel down
                log.debug("deadline check failed", exc_info=True)
