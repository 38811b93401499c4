"""The on-disk record of a local run: what a later kernel needs to find, watch and continue it.

``$AMLDEBUG_HOME/runs/<run>/run.json`` is rewritten whole (a temporary file, then ``os.replace``)
when the run is submitted, on every status change of the run or a step, and when a kernel adopts
it. A reader therefore sees one complete version or the previous one, never a partial file::

    {"format": 1, "run_id": ..., "pipeline": ..., "backend": "local", "status": "Running",
     "adoptable": true,              # false when the steps run in containers (LocalBackend(image=))
     "python": ..., "image": null,   # how the remaining steps are started
     "owner": {"pid": ..., "start_time": ..., "boot_id": ..., "host": ...},
     "previous_owners": [...],       # kernels that owned the run before (adoption)
     "options": {"timeout": ..., "port": ..., "stop_on_entry": ..., "post_mortem": ..., "experiment": ...},
     "submitted_at": ..., "updated_at": ..., "notes": [...],
     "steps": [{"name": ..., "debug": ..., "script": ..., "arguments": [...],
                "source": ...,       # the user's folder (local_root)
                "remote_root": ...,  # the step's snapshot, where it runs
                "status": ..., "exit_code": ..., "started_at": ..., "finished_at": ..., "note": ...,
                "process": {"pid": ..., "start_time": ..., "boot_id": ..., "host": ...} or null}]}

A process is named by pid *and* start time (``/proc/<pid>/stat``) on a boot of a host, so a pid the
system reused is not taken for the kernel or the step. Nothing of the environment is written.
The step's own end is written beside its log by :mod:`.local_launcher` (``user_logs/exit_code``).
"""

from __future__ import annotations

import heapq
import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

from amldebug_jupyter import _process
from amldebug_jupyter.core.status import StepStatus

FORMAT = 1
RECORD_NAME = "run.json"
LOCK_NAME = "run.lock"
EXIT_CODE = "exit_code"
LAUNCHER_PID = "launcher_pid"
"""Files :mod:`.local_launcher` writes in a step's ``user_logs``."""

NEWEST = 50
"""How many run records (newest first) a kernel looks at for runs to adopt."""

_STATUSES = {s.value for s in StepStatus}
_OPTIONS = {"timeout": (int, float), "port": (int,), "stop_on_entry": (bool,), "post_mortem": (bool,), "experiment": (str,)}


_host: Optional[str] = None


def _hostname() -> str:
    global _host
    if _host is None:
        _host = socket.gethostname()
    return _host


@dataclass
class Process:
    """One process for good: its pid, when it started, on which boot of which host."""

    pid: int
    start_time: Optional[int] = None
    boot_id: str = ""
    host: str = ""

    @classmethod
    def of(cls, pid: int) -> "Process":
        """A process of this machine (read now, while it runs)."""
        return cls(pid, _process.start_time(pid), _process.boot_id(), _hostname())

    def alive(self) -> Optional[bool]:
        """Whether it still runs; None when it is another host's (nothing here can tell)."""
        if self.host and self.host != _hostname():
            return None
        if self.boot_id and _process.boot_id() and self.boot_id != _process.boot_id():
            return False  # the machine restarted since: every process of then is gone
        return _process.alive(self.pid, self.start_time)


@dataclass
class StepRecord:
    name: str
    debug: bool
    script: str
    arguments: List[str]
    source: str
    remote_root: str
    status: str = StepStatus.NOT_STARTED.value
    exit_code: Optional[int] = None
    process: Optional[Process] = None
    """The step's process (its launcher, leader of its process group) while it runs or last ran."""
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    note: str = ""


@dataclass
class RunRecord:
    run_id: str
    pipeline: str
    owner: Process
    """The kernel that runs the steps one after the other (the one that submitted, or adopted, the run)."""
    options: Dict[str, Any]
    steps: List[StepRecord]
    submitted_at: float
    status: str = StepStatus.NOT_STARTED.value
    backend: str = "local"
    adoptable: bool = True
    """False when the steps run in containers: another kernel cannot watch those."""
    python: str = ""
    image: Optional[str] = None
    notes: List[str] = field(default_factory=list)
    previous_owners: List[Process] = field(default_factory=list)
    updated_at: float = 0.0
    format: int = FORMAT

    @property
    def terminal(self) -> bool:
        return self.status in (StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELED)

    def to_json(self) -> Dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        for step in data["steps"]:
            step["status"] = str(step["status"])
        return data

    @classmethod
    def from_json(cls, data: Any) -> "RunRecord":
        """Raises ValueError naming the first thing that is not as :meth:`to_json` writes it."""
        d = _mapping(data, "record")
        if d.get("format") != FORMAT:
            raise ValueError(f"format {d.get('format')!r} is not {FORMAT}")
        options = _mapping(d.get("options"), "options")
        for key, types in _OPTIONS.items():
            value = options.get(key)
            if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
                raise ValueError(f"options.{key} is {value!r}")
        steps = d.get("steps")
        if not isinstance(steps, list) or not steps:
            raise ValueError("no steps")
        owners = d.get("previous_owners", [])
        notes = d.get("notes", [])
        if not isinstance(owners, list) or not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
            raise ValueError("previous_owners or notes is not a list")
        image = d.get("image")
        return cls(
            run_id=_str(d, "run_id"),
            pipeline=_str(d, "pipeline"),
            owner=_process_of(d.get("owner"), "owner"),
            options={key: options[key] for key in _OPTIONS},
            steps=[_step_of(s) for s in steps],
            submitted_at=_number(d, "submitted_at"),
            status=_status(d),
            backend=_str(d, "backend"),
            adoptable=_bool(d, "adoptable"),
            python=_str(d, "python"),
            image=image if isinstance(image, str) else None,
            notes=list(notes),
            previous_owners=[_process_of(o, "previous owner") for o in owners],
            updated_at=_number(d, "updated_at"),
        )


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")
    return value


def _str(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} is {value!r}")
    return value


def _bool(d: Mapping[str, Any], key: str) -> bool:
    value = d.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"{key} is {value!r}")
    return value


def _number(d: Mapping[str, Any], key: str) -> float:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} is {value!r}")
    return float(value)


def _optional(d: Mapping[str, Any], key: str, kind: type) -> Any:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind if kind is not float else (int, float)):
        raise ValueError(f"{key} is {value!r}")
    return value


def _status(d: Mapping[str, Any]) -> str:
    value = d.get("status")
    if value not in _STATUSES:
        raise ValueError(f"status {value!r}")
    return str(value)


def _process_of(value: Any, what: str) -> Process:
    d = _mapping(value, what)
    pid = d.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise ValueError(f"{what} pid is {pid!r}")
    return Process(pid, _optional(d, "start_time", int), str(d.get("boot_id") or ""), str(d.get("host") or ""))


def _step_of(value: Any) -> StepRecord:
    d = _mapping(value, "step")
    args = d.get("arguments")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ValueError("step arguments are not a list of strings")
    process = d.get("process")
    return StepRecord(
        name=_str(d, "name"),
        debug=_bool(d, "debug"),
        script=_str(d, "script"),
        arguments=list(args),
        source=_str(d, "source"),
        remote_root=_str(d, "remote_root"),
        status=_status(d),
        exit_code=_optional(d, "exit_code", int),
        process=None if process is None else _process_of(process, "step process"),
        started_at=_optional(d, "started_at", float),
        finished_at=_optional(d, "finished_at", float),
        note=str(d.get("note") or ""),
    )


# -- files ------------------------------------------------------------------------------


def save(path: Path, record: RunRecord) -> None:
    """Write ``record`` to ``path`` atomically (raises OSError)."""
    record.updated_at = time.time()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record.to_json(), f, indent=1)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load(path: Path) -> RunRecord:
    """Read a record; OSError when it is gone, ValueError when it is not a record."""
    with open(path, "rb") as f:
        raw = f.read(1 << 20)
    try:
        return RunRecord.from_json(json.loads(raw))
    except RecursionError:  # pragma: no cover - absurdly nested JSON
        raise ValueError("too deeply nested") from None


def newest(runs_root: Path, limit: int = NEWEST) -> List[Path]:
    """The ``limit`` most recently written records under ``runs_root``, newest first."""
    found = []
    try:
        entries = list(os.scandir(runs_root))
    except OSError:
        return []
    for entry in entries:
        path = os.path.join(entry.path, RECORD_NAME)
        try:
            found.append((os.stat(path).st_mtime_ns, path))
        except OSError:
            continue
    return [Path(p) for _, p in heapq.nlargest(limit, found)]


def read_exit_code(log_dir: Path) -> Optional[int]:
    """How the step ended, as its launcher wrote it; None when it wrote nothing (yet)."""
    try:
        return int((log_dir / EXIT_CODE).read_text().strip())
    except (OSError, ValueError):
        return None


def read_launcher(log_dir: Path) -> Optional[Process]:
    """The step's launcher as it named itself at start; None when it did not (yet)."""
    try:
        fields = (log_dir / LAUNCHER_PID).read_text().split()
        pid = int(fields[0])
        started = int(fields[1]) if len(fields) > 1 else None
    except (OSError, ValueError, IndexError):
        return None
    return Process(pid, started, fields[2] if len(fields) > 2 else "", _hostname())


@contextmanager
def locked(run_dir: Path) -> Iterator[bool]:
    """Hold the run folder's adoption lock if no other process does; yields whether it is held.

    Checking that a run's owner is gone and writing oneself as its owner happen under this lock,
    so two kernels started at once do not both adopt the run. Without ``fcntl`` (Windows) the
    check is not exclusive.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield True
        return
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock
