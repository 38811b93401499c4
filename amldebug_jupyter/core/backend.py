"""What every backend provides; the session, tailer, bridge and panel depend only on this."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, List, Protocol, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from amldebug_jupyter.core.pipeline import Pipeline
    from amldebug_jupyter.core.run import DebugOptions, DebugRun

Chunk = Tuple[bytes, bool]
"""Bytes read from a source, and whether they begin a new stream (first read, truncation,
rotation): a partial line left over from before must then be closed."""


class LogSource(Protocol):
    """One of a step's log streams, read incrementally (a file, a blob over HTTP)."""

    name: str
    bytes_read: int

    def read_new(self) -> List[Chunk]: ...


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
