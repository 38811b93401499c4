"""Point the notebook kernel's debugger (what JupyterLab's debugger talks to) at a remote step.

from amldebug_jupyter import bridge
bridge.attach(bridge.target_for_step(run, "train"))   # or %aml_debug attach train
... turn on JupyterLab's debugger: it now debugs the step ...
bridge.detach()                                        # or %aml_debug detach
"""

from __future__ import annotations

import os
import threading
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence

from amldebug_jupyter.bridge.remote import BridgeTimeouts, RemoteSession, Target
from amldebug_jupyter.core import context
from amldebug_jupyter.core.events import EndpointFound
from amldebug_jupyter.dap import check_address, first_statement_line
from amldebug_jupyter.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from amldebug_jupyter.core.run import DebugRun

__all__ = [
    "BridgeTimeouts",
    "RemoteSession",
    "Target",
    "attach",
    "attach_step",
    "auto_attach",
    "detach",
    "retargeted",
    "target_for_step",
    "target_for_address",
    "to_local_path",
]


def to_local_path(remote_path: str, path_mappings: Sequence[Dict[str, str]]) -> Optional[str]:
    """Map a path in the remote process to the notebook machine's copy, if a mapping covers it."""
    for m in path_mappings:
        root = m["remoteRoot"].rstrip("/")
        if remote_path == root or remote_path.startswith(root + "/"):
            rel = remote_path[len(root) :].lstrip("/")
            return os.path.join(m["localRoot"], *PurePosixPath(rel).parts) if rel else m["localRoot"]
    return None


def target_for_step(run: "DebugRun", step: str, stop_on_entry: Optional[bool] = None) -> Target:
    """The bridge target for a run's step that announced its endpoint."""
    state = run.step(step)
    endpoint = state.endpoint
    if endpoint is None:
        raise UserError(f"Step '{step}' has not announced a debug endpoint yet (status {state.status}).")
    check_address(endpoint.host, endpoint.port)
    mappings = run.path_mappings(step)
    entry = None
    if stop_on_entry if stop_on_entry is not None else endpoint.stop_on_entry:
        local_script = to_local_path(endpoint.script, mappings) if endpoint.script else None
        line = first_statement_line(local_script) if local_script else None
        if local_script and line:
            entry = (local_script, line)
    return Target(endpoint.host, endpoint.port, label=f"step '{step}'", path_mappings=mappings, entry_breakpoint=entry)


def target_for_address(
    host: str, port: int, local_root: Optional[str] = None, remote_root: Optional[str] = None, label: Optional[str] = None
) -> Target:
    """A target given by address (any ``debugpy.listen``), optionally with one path mapping."""
    if (local_root is None) != (remote_root is None):
        raise UserError("Give both --local-root and --remote-root (a path mapping needs both ends), or neither.")
    mappings: List[Dict[str, str]] = []
    if local_root is not None and remote_root is not None:
        local = os.path.abspath(os.path.expanduser(local_root))
        if not os.path.isdir(local):
            raise UserError(f"--local-root {local_root!r} is not a folder on this machine.")
        mappings.append({"localRoot": local, "remoteRoot": remote_root})
    host, port = check_address(host, port)  # before retargeting: a typo must not reach the control channel
    return Target(host, port, label=label or f"{host}:{port}", path_mappings=mappings)


def attach(target: Target) -> Target:
    from amldebug_jupyter.bridge.kernel import current_bridge

    cfg = context.current().config
    bridge = current_bridge()
    bridge.timeouts = BridgeTimeouts(
        connect=cfg.connect_timeout,
        request=cfg.request_timeout,
        configuration_grace=cfg.configuration_grace,
        liveness_interval=cfg.liveness_interval,
        liveness_timeout=cfg.liveness_timeout,
    )
    bridge.attach(target)
    return target


def detach() -> str:
    from amldebug_jupyter.bridge.kernel import current_bridge

    return current_bridge().detach()


def attach_step(run: "DebugRun", step: str, stop_on_entry: Optional[bool] = None) -> str:
    """Retarget the kernel's debugger at a step that announced its endpoint; returns what to tell the user."""
    target = attach(target_for_step(run, step, stop_on_entry))
    endpoint = run.steps[step].endpoint
    return retargeted(target, endpoint.seconds_left() if endpoint is not None else None)


def retargeted(target: Target, seconds_left: Optional[float] = None, goal: str = "debug it") -> str:
    """The one line that tells the user where the debugger now points and what to do next."""
    where = "; ".join(f"{m['localRoot']} <-> {m['remoteRoot']}" for m in target.path_mappings) or "no path mapping"
    at = f" at {target.address}" if target.name != target.address else ""
    deadline = f"; it waits {seconds_left:.0f} s more" if seconds_left is not None else ""
    if getattr(context.current().frontend, "frontend_seen", False):  # the lab extension turns the debugger on
        then = f"JupyterLab's debugger turns on for this notebook to {goal}."
    else:
        then = f"Turn on the debugger (bug icon) for this notebook to {goal}."
    return f"Debugger retargeted to {target.name}{at} ({where}{deadline}). {then}"


def auto_attach(
    run: "DebugRun", announce: Callable[[str], None], report: Callable[[str, str, str], None] = lambda step, title, why: None
) -> Callable[[], None]:
    """Retarget the debugger at the first step of ``run`` that waits for one; returns an unsubscribe.

    ``announce`` gets a line for the cell; ``report(step, title, why)`` a failed attach (the
    notebook turns it into a notification)."""
    claimed = threading.Event()

    def attach_in_background(step: str) -> None:
        try:
            announce(attach_step(run, step))
        except UserError as e:
            announce(f"Step '{step}' waits for a debugger, but it could not be attached: {e}")
            report(step, f"Could not attach to step '{step}'", str(e))

    def on_event(event: object) -> None:
        if isinstance(event, EndpointFound) and not claimed.is_set():
            claimed.set()  # never block the tailer thread that delivers events
            threading.Thread(target=attach_in_background, args=(event.endpoint.step,), daemon=True).start()

    unsubscribe = run.subscribe(on_event)
    for state in run.steps.values():
        if state.endpoint is not None:
            on_event(EndpointFound(state.endpoint))
            break
    return unsubscribe
