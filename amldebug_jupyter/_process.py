"""The one place that starts and stops local processes (tests seam here)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import List, Mapping, Optional, Sequence


def unhooked(argv: Sequence[str]) -> List[str]:
    """Start Python through ``env`` so a debugger active in *this* process leaves the child alone.

    When JupyterLab's debugger is on for the notebook, the kernel's debugpy rewrites the argv of
    every Python it sees started (to debug subprocesses too); the step would then belong to the
    notebook's debug session instead of waiting for its own debugger. It only rewrites commands
    whose program looks like Python, so a neutral launcher keeps the step's argv as given.
    """
    launcher = shutil.which("env") if os.name == "posix" else None
    return [launcher, *argv] if launcher else list(argv)


def spawn_logged(argv: Sequence[str], cwd: Path, env: Mapping[str, str], log_path: Path) -> subprocess.Popen:
    """Start ``argv`` in its own process group, stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab", buffering=0) as log_file:
        return subprocess.Popen(
            unhooked(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(proc: subprocess.Popen, grace: float = 3.0) -> Optional[int]:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds; returns the exit code."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()


def reap_group(pgid: int) -> None:
    """Kill what a finished step left behind in its group (e.g. the debug adapter)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run(argv: Sequence[str], timeout: float, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run a short command to completion, output captured (pip download and the like)."""
    return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def tagged(tags: Mapping[str, str]) -> List[int]:
    """Pids of processes (not this one) whose environment holds every ``NAME=value`` of ``tags``.

    How a step's debug adapter is found: debugpy starts it from the step with the step's
    environment, and it daemonizes out of the step's process group and session. Linux (/proc)
    only; elsewhere nothing is found.
    """
    needles = [f"{name}={value}".encode() + b"\0" for name, value in tags.items()]
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = b"\0" + (entry / "environ").read_bytes()
        except OSError:
            continue
        if all(b"\0" + needle in environ for needle in needles) and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def kill_tagged(tags: Mapping[str, str], grace: float = 0.0) -> int:
    """Let tagged processes end on their own for ``grace`` seconds, then SIGKILL the rest; how many."""
    deadline = time.monotonic() + grace
    while (left := tagged(tags)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(left)


# -- processes another interpreter started (a step that outlived the kernel that ran it) ----------


def _stat(pid: int) -> Optional[List[str]]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); None when gone or not Linux."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw.rpartition(b")")[2].decode("ascii", "replace").split()


def start_time(pid: int) -> Optional[int]:
    """When ``pid`` started, in clock ticks since boot (Linux); None when it is gone or elsewhere.

    With :func:`boot_id` it names one process for good: a pid the system reused starts later.
    """
    fields = _stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):
        return None


_boot_id: Optional[str] = None


def boot_id() -> str:
    """This boot of the machine (Linux); '' where unknown. Pids and start times count from a boot."""
    global _boot_id
    if _boot_id is None:
        try:
            _boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        except OSError:
            _boot_id = ""
    return _boot_id


def alive(pid: int, started: Optional[int] = None) -> bool:
    """Whether ``pid`` runs (a zombie does not) and, with ``started`` (:func:`start_time`), is that process."""
    if pid <= 0:
        return False
    fields = _stat(pid)
    if fields is None:
        if Path("/proc/self/stat").exists():
            return False  # Linux: no entry, no process
        try:  # elsewhere: existence only (a reused pid cannot be told apart)
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if not fields or fields[0] in ("Z", "X", "x"):
        return False
    return started is None or start_time(pid) == started


def stop_group(pgid: int, started: Optional[int], grace: float = 3.0, poll: float = 0.05) -> bool:
    """:func:`kill_group` for a group whose leader is not our child: SIGTERM, then SIGKILL after ``grace`` s.

    Signals only while the leader is still the process that ``started`` then (a reused pid is left
    alone); returns whether it is gone.
    """
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if not alive(pgid, started):
            return True
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.monotonic() + wait
        while alive(pgid, started) and time.monotonic() < deadline:
            time.sleep(poll)
    return not alive(pgid, started)
