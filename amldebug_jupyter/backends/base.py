"""What every backend provides; the session, tailer, bridge and panel depend only on this."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from ..logs import LogSource
    from ..session import DebugOptions, DebugRun
    from ..spec import Pipeline


class Backend(Protocol):
    name: str

    def submit(self, pipeline: "Pipeline", options: "DebugOptions") -> "DebugRun":
        """Snapshot the code, start the run in the background and return its state object."""

    def log_sources(self, run: "DebugRun", step: str) -> Callable[[], Iterable["LogSource"]]:
        """A discovery function listing the step's log streams (called on every poll)."""

    def log_text(self, run: "DebugRun", step: str) -> str:
        """The step's full log so far."""

    def cancel(self, run: "DebugRun") -> None:
        """Stop the running step and everything after it."""
