"""Incremental log tailing: read only new bytes, assemble lines, spot debug endpoints.

azureml-core re-downloads whole logs on every poll and counts lines; here every source keeps a
byte offset, so each poll costs what was appended since the last one. Lines are assembled
across reads on raw bytes (a ``\\n`` never occurs inside a UTF-8 sequence, so a character split
between two reads is decoded whole), and truncation and rotation start a new stream.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, Iterable, List, Optional, Sequence

from amldebug_jupyter.core.backend import Chunk, LogSource
from amldebug_jupyter.core.endpoints import (
    SEED_DEFAULT_PORT,
    DetectedError,
    Endpoint,
    EndpointDetector,
)
from amldebug_jupyter.core.events import EndpointFailed, EndpointFound, Event, LogLine

log = logging.getLogger(__name__)

LOG_PATTERNS = ("user_logs/std_log*.txt", "azureml-logs/70_driver_log*.txt")
"""Step logs that carry the user's output, on the common runtime and the legacy one."""


class LineAssembler:
    """Bytes in, complete decoded lines out, independent of how the bytes were chunked."""

    def __init__(self, max_line: int = 1 << 20) -> None:
        self.max_line = max_line
        self._buf = bytearray()

    def feed(self, data: bytes) -> List[str]:
        self._buf += data
        lines: List[str] = []
        end = self._buf.rfind(b"\n")
        if end >= 0:
            complete = bytes(self._buf[:end])
            del self._buf[: end + 1]
            for raw in complete.split(b"\n"):
                lines.extend(self._split_long(raw))
        while len(self._buf) > self.max_line:  # a line without end (progress bars): cut it
            cut = _char_boundary(self._buf, self.max_line)
            lines.append(_decode(bytes(self._buf[:cut])))
            del self._buf[:cut]
        return lines

    def flush(self) -> List[str]:
        """Close the stream: a trailing partial line becomes a line."""
        if not self._buf:
            return []
        rest = bytes(self._buf)
        self._buf.clear()
        return self._split_long(rest)

    def _split_long(self, raw: bytes) -> List[str]:
        out = []
        while len(raw) > self.max_line:  # same cut points as feed(): chunking cannot matter
            cut = _char_boundary(raw, self.max_line)
            out.append(_decode(raw[:cut]))
            raw = raw[cut:]
        out.append(_decode(raw))
        return out


def _char_boundary(buf: bytes | bytearray, pos: int) -> int:
    """Largest cut position <= pos that does not split a UTF-8 sequence (>= pos-3).

    Requires ``len(buf) > pos``."""
    cut = pos
    while cut > pos - 3 and cut > 0 and (buf[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if cut > 0 else pos


def _decode(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return text[:-1] if text.endswith("\r") else text


class FileLogSource:
    """A growing local file, followed like ``tail -F`` (truncation and rotation aware)."""

    def __init__(self, path: str | os.PathLike[str], name: str = "", max_read: int = 8 << 20):
        self.path = os.fspath(path)
        self.name = name or os.path.basename(self.path)
        self.max_read = max_read
        self.offset = 0
        self.bytes_read = 0
        self._fh: Optional[BinaryIO] = None
        self._ino: Optional[int] = None

    def _open(self) -> bool:
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return False
        self._fh, self._ino, self.offset = fh, os.fstat(fh.fileno()).st_ino, 0
        return True

    def _read(self, budget: int) -> bytes:
        fh = self._fh
        assert fh is not None
        fh.seek(self.offset)
        data = fh.read(budget)
        self.offset += len(data)
        self.bytes_read += len(data)
        return data

    def read_new(self) -> List[Chunk]:
        chunks: List[Chunk] = []
        if self._fh is None:
            if not self._open():
                return chunks
            new_stream = True
        else:
            new_stream = False
            if os.fstat(self._fh.fileno()).st_size < self.offset:
                self.offset, new_stream = 0, True  # truncated in place
        data = self._read(self.max_read)
        if data or new_stream:
            chunks.append((data, new_stream))
        if len(data) < self.max_read and self._rotated():
            self.close()
            if self._open():
                chunks.append((self._read(self.max_read), True))
        return chunks

    def _rotated(self) -> bool:
        try:
            return os.stat(self.path).st_ino != self._ino
        except FileNotFoundError:
            return False  # moved away and not yet recreated: keep draining the old file

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def local_log_sources(step_dir: Path, patterns: Sequence[str] = LOG_PATTERNS) -> Callable[[], List[FileLogSource]]:
    """Discovery function for a local step folder: every log file matching ``patterns``."""

    def discover() -> List[FileLogSource]:
        found = []
        for pattern in patterns:
            for path in sorted(step_dir.glob(pattern)):
                found.append(FileLogSource(path, name=path.relative_to(step_dir).as_posix()))
        return found

    return discover


@dataclass
class _Stream:
    source: LogSource
    assembler: LineAssembler = field(default_factory=LineAssembler)
    detector: Optional[EndpointDetector] = None


@dataclass
class _Watch:
    step: str
    discover: Callable[[], Iterable[LogSource]]
    seed_port: int
    streams: Dict[str, Any] = field(default_factory=dict)


class LogTailer:
    """Polls the logs of several steps in one background thread and publishes events."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._watches: List[_Watch] = []
        self._subscribers: List[Callable[[Event], None]] = []
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def watch(self, step: str, discover: Callable[[], Iterable[LogSource]], seed_port: int = SEED_DEFAULT_PORT) -> None:
        with self._lock:
            self._watches.append(_Watch(step, discover, seed_port))

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        self._subscribers.append(callback)

    @property
    def bytes_read(self) -> int:
        return sum(s.source.bytes_read for w in self._watches for s in w.streams.values())

    def poll_once(self) -> None:
        """Read what is new in every watched log (safe to call from any thread)."""
        with self._poll_lock:
            self._poll()

    def _poll(self) -> None:
        with self._lock:
            watches = list(self._watches)
        for w in watches:
            for source in w.discover():
                if source.name not in w.streams:
                    w.streams[source.name] = _Stream(source, detector=EndpointDetector(w.step, w.seed_port))
            for stream in w.streams.values():
                for data, new_stream in stream.source.read_new():
                    lines = stream.assembler.flush() if new_stream else []
                    self._publish_lines(w.step, stream, lines + stream.assembler.feed(data))

    def drain(self) -> None:
        """Final read: everything written so far, including a last line without newline."""
        with self._poll_lock:
            self._poll()
            for w in self._watches:
                for stream in w.streams.values():
                    self._publish_lines(w.step, stream, stream.assembler.flush())

    def _publish_lines(self, step: str, stream: _Stream, lines: List[str]) -> None:
        for text in lines:
            self._emit(LogLine(step, stream.source.name, text))
            found = stream.detector.feed(text) if stream.detector else None
            if isinstance(found, Endpoint):
                self._emit(EndpointFound(found))
            elif isinstance(found, DetectedError):
                self._emit(EndpointFailed(found.step, found.message))

    def _emit(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken view must not stop discovery for the others
                log.exception("log event subscriber failed")

    def start(self) -> "LogTailer":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="amldebug-tailer", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("log tailer poll failed")
            self._stop.wait(self.interval)

    def stop(self, drain: bool = True, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if drain:
            self.drain()
        for w in self._watches:
            for stream in w.streams.values():
                close = getattr(stream.source, "close", None)
                if close:
                    close()
