"""What a debug endpoint is, and how to recognise one announced in a step's log.

Two announcements are understood: our debug entry's ``AMLDEBUG_ENDPOINT {json}`` line, and
the seed workflow's hand-instrumented ``Timeout for debug connection: N`` / ``ip_address: X``
lines (those carry no port: it comes from the step's ``--remote_debug_port`` argument).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Union

from amldebug_jupyter.instrument import ENDPOINT_MARKER, ERROR_MARKER

SEED_DEFAULT_PORT = 5678

_ENDPOINT_RE = re.compile(ENDPOINT_MARKER + r"\s+(\{.*\})")
_ERROR_RE = re.compile(ERROR_MARKER + r"\s+(\{.*\})")
_SEED_TIMEOUT_RE = re.compile(r"Timeout for debug connection:\s*([0-9]+(?:\.[0-9]*)?)")
_SEED_IP_RE = re.compile(r"ip_address:\s*([0-9A-Za-z_.:\-\[\]]+)")


@dataclass(frozen=True)
class Endpoint:
    """Where a waiting step's debugpy listens, and until when it waits."""

    host: str
    port: int
    step: str = ""
    pid: Optional[int] = None
    rank: int = 0
    deadline: Optional[float] = None
    remote_root: str = ""
    script: str = ""
    stop_on_entry: bool = False
    reason: str = "start"
    origin: str = "amldebug"  # or "seed" for hand-instrumented scripts
    extra: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def seconds_left(self, now: Optional[float] = None) -> Optional[float]:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - (time.time() if now is None else now))

    @classmethod
    def from_json(cls, text: str, step: str = "") -> "Endpoint":
        data = json.loads(text)
        known = {k: data.pop(k) for k in list(data) if k in _FIELDS}
        known.setdefault("step", step)
        known["port"] = int(known["port"])
        return cls(**known, extra=data)


_FIELDS = {"host", "port", "step", "pid", "rank", "deadline", "remote_root", "script", "stop_on_entry", "reason"}


@dataclass(frozen=True)
class DetectedError:
    step: str
    message: str


Detection = Union[Endpoint, DetectedError]


def seed_port(arguments: Sequence[str]) -> int:
    """The port a seed-instrumented script listens on, read from its own arguments.

    A value that is not a number (a pipeline parameter, a typo) leaves the script's default.
    """
    args = [str(a) for a in arguments]
    for i, a in enumerate(args):
        value = (
            args[i + 1]
            if a == "--remote_debug_port" and i + 1 < len(args)
            else (a.split("=", 1)[1] if a.startswith("--remote_debug_port=") else None)
        )
        if value is not None:
            return int(value) if value.isdigit() else SEED_DEFAULT_PORT
    return SEED_DEFAULT_PORT


class EndpointDetector:
    """Per-log-stream state machine turning lines into endpoints (or entry errors)."""

    def __init__(self, step: str, seed_port: int = SEED_DEFAULT_PORT) -> None:
        self.step = step
        self.seed_port = seed_port
        self._seed_timeout: Optional[float] = None
        self._structured = False  # our entry also prints the seed lines: do not count twice

    def feed(self, line: str) -> Optional[Detection]:
        if ENDPOINT_MARKER in line:
            m = _ENDPOINT_RE.search(line)
            if m:
                try:
                    self._structured = True
                    return Endpoint.from_json(m.group(1), step=self.step)
                except (ValueError, KeyError, TypeError):
                    return None
        if ERROR_MARKER in line:
            m = _ERROR_RE.search(line)
            if m:
                try:
                    data: Any = json.loads(m.group(1))
                    return DetectedError(data.get("step") or self.step, str(data["message"]))
                except (ValueError, KeyError, TypeError, AttributeError):
                    return None
        if self._structured:
            return None
        m = _SEED_TIMEOUT_RE.search(line)
        if m:
            self._seed_timeout = float(m.group(1))
            return None
        m = _SEED_IP_RE.search(line)
        if m:
            timeout = self._seed_timeout
            return Endpoint(
                host=m.group(1),
                port=self.seed_port,
                step=self.step,
                deadline=None if timeout is None else time.time() + timeout,
                origin="seed",
            )
        return None


def readable(line: str) -> str:
    """A log line as the user should read it: the entry's machine-readable announcements (JSON for
    the detector) become one plain sentence; every other line is left as it is."""
    if ENDPOINT_MARKER in line:
        m = _ENDPOINT_RE.search(line)
        try:
            ep = Endpoint.from_json(m.group(1)) if m else None
        except (ValueError, KeyError, TypeError):
            ep = None
        if ep is not None:
            why = "after a crash, for post-mortem" if ep.reason == "post_mortem" else f"{ep.seconds_left() or 0:.0f} s"
            return f"[amldebug] {ep.step or 'the step'} waits for a debugger at {ep.address} ({why})"
    if ERROR_MARKER in line:
        m = _ERROR_RE.search(line)
        try:
            return f"[amldebug] {json.loads(m.group(1))['message']}" if m else line
        except (ValueError, KeyError, TypeError):
            return line
    return line
