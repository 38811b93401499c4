"""What one kernel holds for amldebug: its config, its runs, what it started, and its frontend.

One :class:`Context` is active per process. ``%load_ext`` makes a new one (config visible to
``%config``, the comm as its frontend) and ``%unload_ext`` closes it: every resource that
registered with :meth:`Context.on_close` is released (the comm, the kernel's debugger, started
containers). Runs are the user's, not the extension's: they pass to the next context. Plain Python
(``submit`` in a script, the CLI) gets a default context on first use; tests activate a fresh one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Protocol, Tuple

from amldebug_jupyter.config import AmlDebugConfig
from amldebug_jupyter.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from amldebug_jupyter.core.lifecycle import Attachment
    from amldebug_jupyter.core.run import DebugRun

log = logging.getLogger(__name__)


class RunRegistry:
    """The runs of this session by id, and the current one (what ``%aml_debug`` acts on by default)."""

    def __init__(self) -> None:
        self._runs: Dict[str, "DebugRun"] = {}
        self._current: Optional["DebugRun"] = None
        self._lock = threading.Lock()
        self.added: List[Callable[["DebugRun"], None]] = []
        """Views told about every new run (the lab extension's comm)."""
        self._arriving: List[Tuple[threading.Event, float]] = []

    def add_found(self, find: Callable[[], Iterable["DebugRun"]], wait: float = 5.0) -> None:
        """Add the runs ``find`` returns, found in the background (e.g. those a previous kernel left);
        the user's lookups (:meth:`current`, :meth:`find`) wait up to ``wait`` seconds for them."""
        arrived = threading.Event()
        self._arriving.append((arrived, wait))

        def work() -> None:
            try:
                for run in find():
                    self.add(run)
            except Exception:  # a stale record must never break the session
                log.warning("could not add the runs found in the background", exc_info=True)
            finally:
                arrived.set()

        threading.Thread(target=work, name="amldebug-find-runs", daemon=True).start()

    def _settle(self) -> None:
        for arrived, wait in list(self._arriving):
            arrived.wait(wait)

    def add(self, run: "DebugRun") -> None:
        """Register ``run`` and make it the current one."""
        with self._lock:
            self._runs[run.id] = run
            self._current = run
        for callback in list(self.added):
            callback(run)

    def all(self) -> List["DebugRun"]:
        with self._lock:
            return list(self._runs.values())

    def get(self, run_id: str) -> Optional["DebugRun"]:
        with self._lock:
            return self._runs.get(run_id)

    def current(self) -> "DebugRun":
        self._settle()
        if self._current is None:
            raise UserError("No run yet: submit a pipeline first (submit(...) or %aml_debug pipeline submit).")
        return self._current

    def find(self, run_id: Optional[str] = None) -> "DebugRun":
        """A run by id (a unique prefix will do), or the current one."""
        if not run_id:
            return self.current()
        self._settle()
        with self._lock:
            runs = dict(self._runs)
        if run_id in runs:
            return runs[run_id]
        matches = [r for rid, r in runs.items() if rid.startswith(run_id)]
        if len(matches) == 1:
            return matches[0]
        raise UserError(f"No run {run_id!r} in this session (runs: {', '.join(runs) or 'none yet'}).")


class Frontend(Protocol):
    """A view that tells the user about problems off the cell's output (the lab extension's comm)."""

    def report_problem(self, kind: str, target: Optional[str], message: str, details: Optional[str] = None) -> None: ...


@dataclass(eq=False)
class Context:
    config: AmlDebugConfig = field(default_factory=AmlDebugConfig)
    runs: RunRegistry = field(default_factory=RunRegistry)
    containers: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    """Containers this context started: name -> how to reach it."""
    last_image: Optional[str] = None
    """The debug image built last: the default image of a scoring container."""
    frontend: Optional[Frontend] = None
    attachment_of: Callable[[str], Optional["Attachment"]] = field(default=lambda address: None, repr=False)
    """What the kernel's debugger holds of the target at ``host:port`` (set by the kernel bridge)."""
    target_changed: List[Callable[[], None]] = field(default_factory=list, repr=False)
    """Views redrawn when the debugger's hold on a target changes (attached, paused, lost...)."""
    _closers: List[Callable[[], None]] = field(default_factory=list, repr=False)

    def on_close(self, release: Callable[[], None]) -> None:
        """Call ``release`` when the context closes (last registered, first released)."""
        self._closers.append(release)

    def close(self) -> None:
        """Release everything registered; one failing release does not keep the others."""
        while self._closers:
            release = self._closers.pop()
            try:
                release()
            except Exception:
                log.warning("releasing %r failed", release, exc_info=True)
        self.frontend = None

    def notify_target_changed(self) -> None:
        for redraw in list(self.target_changed):
            try:
                redraw()
            except Exception:  # a view's bug must not break the debugger
                log.debug("target view failed", exc_info=True)

    def report_problem(self, kind: str, target: Optional[str], message: str, details: Optional[str] = None) -> None:
        """Tell the frontend, if there is one (a no-op in plain Python)."""
        if self.frontend is not None:
            self.frontend.report_problem(kind, target, message, details)


_active: Optional[Context] = None
_active_lock = threading.Lock()


def current() -> Context:
    """The active context (a default one on first use, for plain Python)."""
    global _active
    with _active_lock:
        if _active is None:
            _active = Context()
        return _active


def activate(context: Context) -> Optional[Context]:
    """Make ``context`` the active one; returns the one it replaces (None if there was none yet)."""
    global _active
    with _active_lock:
        previous, _active = _active, context
    return previous
