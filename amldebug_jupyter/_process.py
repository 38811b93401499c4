"""The one place that starts and stops local processes (tests seam here)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
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
