"""Run state: steps, statuses, endpoints and deadlines, shared by every view of a run.

A :class:`DebugRun` is fed by its backend (statuses) and by the log tailer (lines, endpoints);
the CLI, the panel and the kernel bridge only read it, wait on it, or subscribe to its events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional

from amldebug_jupyter.core import context
from amldebug_jupyter.core.endpoints import Endpoint
from amldebug_jupyter.core.events import (
    EndpointFailed,
    EndpointFound,
    Event,
    LogLine,
    StatusChanged,
)
from amldebug_jupyter.core.pipeline import Pipeline
from amldebug_jupyter.core.report import RunStatus
from amldebug_jupyter.core.status import TERMINAL, StepStatus
from amldebug_jupyter.errors import AttachTimeout, BackendError, UserError

if TYPE_CHECKING:  # pragma: no cover
    from amldebug_jupyter.core.backend import Backend

log = logging.getLogger(__name__)

NOT_STARTED, RUNNING, COMPLETED, FAILED, CANCELED = (
    StepStatus.NOT_STARTED,
    StepStatus.RUNNING,
    StepStatus.COMPLETED,
    StepStatus.FAILED,
    StepStatus.CANCELED,
)


@dataclass(frozen=True)
class DebugOptions:
    """How debug steps wait: seconds, port (0 = ephemeral), and what the attacher should do."""

    timeout: float = field(default_factory=lambda: float(context.current().config.attach_timeout))
    port: int = 0
    stop_on_entry: bool = True
    post_mortem: bool = False
    experiment: str = ""
    """Groups runs (the Azure ML experiment; the local backend's run-id prefix)."""


@dataclass
class StepState:
    name: str
    debug: bool
    local_root: Path
    """The user's source directory: what breakpoints refer to."""
    remote_root: Path
    """The step's snapshot, where the code actually runs."""
    log_dir: Path
    status: StepStatus = NOT_STARTED
    endpoint: Optional[Endpoint] = None
    error: Optional[str] = None
    exit_code: Optional[int] = None
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    recent_lines: Deque[str] = field(default_factory=lambda: deque(maxlen=2000))


class DebugRun:
    """A submitted pipeline. Thread-safe; every wait is bounded."""

    def __init__(
        self,
        run_id: str,
        pipeline: Pipeline,
        backend: "Backend",
        options: DebugOptions,
        steps: Dict[str, StepState],
        run_dir: Optional[Path] = None,
    ) -> None:
        self.id = run_id
        self.pipeline = pipeline
        self.backend = backend
        self.options = options
        self.steps = steps
        self.run_dir = run_dir
        self.submitted_at = time.time()
        self.links: Dict[str, str] = {}
        """Where else the run is shown, label -> URL, filled by its backend (e.g. the service's own UI)."""
        self.notes: List[str] = []
        """Things the user should know about this run (shown after submit)."""
        self._status = NOT_STARTED
        self._cv = threading.Condition()
        self._subscribers: List[Callable[[Event], None]] = []

    def __repr__(self) -> str:
        return f"<DebugRun {self.id} {self.status} steps={[f'{s.name}:{s.status}' for s in self.steps.values()]}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Dict[str, str]:
        return RunStatus(self)._repr_mimebundle_(include, exclude)

    @property
    def elapsed(self) -> float:
        end = max((s.finished_at or 0.0) for s in self.steps.values()) if self.done else time.time()
        return max(0.0, end - self.submitted_at)

    # -- state -------------------------------------------------------------------------
    @property
    def status(self) -> StepStatus:
        return self._status

    @property
    def done(self) -> bool:
        return self._status in TERMINAL

    def step(self, name: str) -> StepState:
        try:
            return self.steps[name]
        except KeyError:
            raise UserError(f"No step named {name!r} in run {self.id} (steps: {', '.join(self.steps)}).") from None

    @property
    def endpoints(self) -> Dict[str, Endpoint]:
        return {n: s.endpoint for n, s in self.steps.items() if s.endpoint is not None}

    def path_mappings(self, step: str) -> List[Dict[str, str]]:
        """DAP ``pathMappings`` from the user's folder to the step's snapshot."""
        s = self.step(step)
        remote = s.endpoint.remote_root if s.endpoint and s.endpoint.remote_root else str(s.remote_root)
        return [{"localRoot": str(s.local_root), "remoteRoot": remote}]

    # -- events ------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback`` for every later event (from a background thread); returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def _publish(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # pragma: no cover - a view's bug must not break the run
                log.exception("run event subscriber failed")

    def handle_log_event(self, event: Event) -> None:
        """Entry point for the tailer's events."""
        with self._cv:
            if isinstance(event, LogLine):
                self.steps[event.step].recent_lines.append(event.text)
            elif isinstance(event, EndpointFound):
                self.steps[event.endpoint.step].endpoint = event.endpoint
            elif isinstance(event, EndpointFailed):
                self.steps[event.step].error = event.message
            self._cv.notify_all()
        self._publish(event)

    def set_step_status(self, step: str, status: str, exit_code: Optional[int] = None) -> None:
        status = StepStatus(status)  # one of the five, whatever a backend passed
        with self._cv:
            s = self.steps[step]
            s.status = status
            if status == RUNNING:
                s.started_at = time.time()
            if status in TERMINAL:
                s.finished_at = time.time()
                s.exit_code = exit_code
            self._cv.notify_all()
        self._publish(StatusChanged(step, status))

    def set_status(self, status: str) -> None:
        status = StepStatus(status)
        with self._cv:
            self._status = status
            self._cv.notify_all()
        self._publish(StatusChanged(None, status))

    # -- waiting -----------------------------------------------------------------------
    def wait_for_endpoint(self, step: Optional[str] = None, timeout: Optional[float] = None) -> Endpoint:
        """Block until ``step`` (default: the first debug step to announce one) waits for a debugger.

        Raises :class:`AttachTimeout` after ``timeout`` seconds (default: the run's attach
        timeout plus a margin) and :class:`BackendError` when the step ends or fails first.
        """
        names = [step] if step else [n for n, s in self.steps.items() if s.debug]
        if step:
            self.step(step)
        if not names:
            raise UserError(f"Run {self.id} has no debug step: pass debug=['STEP'] to submit().")
        limit = self.options.timeout + 60 if timeout is None else timeout
        deadline = time.monotonic() + limit
        with self._cv:
            while True:
                for n in names:
                    s = self.steps[n]
                    if s.endpoint is not None:
                        return s.endpoint
                for n in names:
                    s = self.steps[n]
                    if s.error:
                        raise BackendError(f"Step '{n}' cannot wait for a debugger: {s.error}")
                if all(self.steps[n].status in TERMINAL for n in names) or (
                    self.done and all(self.steps[n].status == NOT_STARTED for n in names)
                ):
                    which = names[0] if len(names) == 1 else "any debug step"
                    raise BackendError(f"Run {self.id} ({self.status}) ended before {which} announced a debug endpoint.")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AttachTimeout(
                        f"No debug endpoint from {step or 'the debug steps'} after {limit:g} s; "
                        f"see its log with run.logs({(step or names[0])!r})."
                    )
                self._cv.wait(min(left, 1.0))

    def wait(self, timeout: Optional[float] = None) -> str:
        """Block until the run ends; returns its final status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while not self.done:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise AttachTimeout(f"Run {self.id} is still {self.status} after {timeout:g} s.")
                self._cv.wait(1.0 if left is None else min(left, 1.0))
        return self._status

    # -- actions -----------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the running step (its whole process group) and every step after it."""
        if self.done:
            raise UserError(f"Run {self.id} already ended ({self.status}); nothing to cancel.")
        self.backend.cancel(self)

    def logs(self, step: str) -> str:
        """The step's full log text so far (every log file, in name order)."""
        self.step(step)
        return self.backend.log_text(self, step)
