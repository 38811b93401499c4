"""A debug target's lifecycle: one state per step, from which every view draws itself.

The magics' output, the cell panel and the JupyterLab sidebar used to each derive their own idea
of a step's state from scattered flags and disagreed ("done" for a failed step, "waiting" while it
ran). Here the step's status (from its backend), its endpoint (from its log) and the debugger's
hold on it (from the kernel bridge, as a plain :class:`Attachment`) make one :class:`TargetView`:
the state, one line of detail, and which actions apply.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Optional

from amldebug_jupyter.core.endpoints import Endpoint
from amldebug_jupyter.core.status import StepStatus


class TargetState(str, Enum):
    PREPARING = "preparing"
    """A debug step that has not yet said it waits (not started, or starting up)."""
    WAITING = "waiting"
    ATTACHED = "attached"
    """The kernel points at it; the debugger UI has not connected yet, so the step still waits."""
    RUNNING = "running"
    PAUSED = "paused"
    POST_MORTEM = "post-mortem"
    DETACHED = "detached"
    """The debugger let go; the step runs on and can be attached again."""
    TIMED_OUT = "timed out"
    """Nobody attached in time: the step runs on without a debugger."""
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    LOST = "lost"

    def __str__(self) -> str:
        return str(self.value)


ENDED = frozenset({TargetState.COMPLETED, TargetState.FAILED, TargetState.CANCELED})
UNDER_DEBUGGER = frozenset({TargetState.ATTACHED, TargetState.RUNNING, TargetState.PAUSED, TargetState.POST_MORTEM})


@dataclass(frozen=True)
class Attachment:
    """What the kernel's debugger holds of one target (filled by the bridge)."""

    held: bool = True
    """The kernel's debugger points at it (False: it let go of it earlier, see ``was_detached``)."""
    connected: bool = False
    """The debugger UI has a session with the remote (initialize/attach done)."""
    paused_at: Optional[str] = None
    """'train.py:12' while stopped, else None."""
    exception: Optional[str] = None
    """'ZeroDivisionError: division by zero' while stopped on an uncaught exception."""
    lost: Optional[str] = None
    """Why the connection was lost, if it was."""
    was_detached: bool = False
    """The debugger was on it and let go (the step runs on, released)."""


@dataclass(frozen=True)
class TargetView:
    state: TargetState
    detail: Optional[str]
    can_attach: bool
    can_detach: bool


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning)|[A-Z]\w+)(?::\s.*)?$")


def exception_from_log(lines: Iterable[str]) -> Optional[str]:
    """The last traceback's final line ('KeyError: 3') in a step's log, if it has one."""
    last: Optional[str] = None
    in_traceback = False
    for raw in lines:
        line = raw.rstrip()
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
        elif in_traceback and line and not line.startswith((" ", "\t")) and _EXCEPTION_LINE.match(line):
            last, in_traceback = line, False
    return last[:200] if last else None


def describe(
    status: StepStatus,
    endpoint: Optional[Endpoint],
    attachment: Optional[Attachment],
    *,
    error: Optional[str] = None,
    exception: Optional[str] = None,
    exit_code: Optional[int] = None,
    now: Optional[float] = None,
) -> TargetView:
    """The one state of a debug step, given its status, endpoint and the debugger's hold on it."""
    now = time.time() if now is None else now
    if status == StepStatus.COMPLETED:
        return TargetView(TargetState.COMPLETED, None, False, False)
    if status == StepStatus.CANCELED:
        return TargetView(TargetState.CANCELED, None, False, False)
    if status == StepStatus.FAILED:
        why = exception or error or (f"exit code {exit_code}" if exit_code not in (None, 0) else None)
        return TargetView(TargetState.FAILED, why, False, False)
    a = attachment if attachment is not None and attachment.held else None
    if a is not None:
        if a.lost:
            return TargetView(TargetState.LOST, a.lost, endpoint is not None, True)
        if a.exception and a.paused_at:
            return TargetView(TargetState.POST_MORTEM, f"{a.exception} (at {a.paused_at})", False, True)
        if a.paused_at:
            return TargetView(TargetState.PAUSED, f"stopped at {a.paused_at}", False, True)
        if a.connected:
            return TargetView(TargetState.RUNNING, "running under the debugger", False, True)
        return TargetView(TargetState.ATTACHED, "the debugger connects when it is turned on", False, True)
    if endpoint is None:
        return TargetView(TargetState.PREPARING, error, False, False)
    waits = endpoint.deadline is None or endpoint.deadline > now
    if endpoint.reason == "post_mortem" and waits:
        return TargetView(TargetState.POST_MORTEM, _until("crashed; waits for a post-mortem debugger", endpoint), True, False)
    if attachment is not None and attachment.was_detached:
        return TargetView(TargetState.DETACHED, "the debugger let go; it runs on", True, False)
    if waits:
        return TargetView(TargetState.WAITING, _until("waits for a debugger", endpoint), True, False)
    return TargetView(TargetState.TIMED_OUT, "nobody attached in time; it runs on without a debugger", True, False)


def _until(text: str, endpoint: Endpoint) -> str:
    if endpoint.deadline is None:
        return text
    return f"{text} until {time.strftime('%H:%M:%S', time.localtime(endpoint.deadline))}"
