"""Helpers the benchmarks share: RESULT lines, breakpoint markers, cleanup of tagged processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import List


def result(name: str, value: float, unit: str, target: str, ok: bool, fmt: str = ".3f") -> str:
    """One ``RESULT <name> <value> <unit> target=<target> PASS|FAIL`` line."""
    return f"RESULT {name} {value:{fmt}} {unit} target={target} {'PASS' if ok else 'FAIL'}"


def marked_line(path: Path, mark: str) -> int:
    """1-based line number of the line holding ``mark`` in ``path``."""
    for n, text in enumerate(path.read_text().splitlines(), 1):
        if mark in text:
            return n
    raise RuntimeError(f"no '{mark}' line in {path}")


def tagged_processes(var: str, tag: str) -> List[int]:
    """Pids (other than ours) whose environment carries ``var=tag`` (Linux /proc; else none)."""
    needle = f"{var}={tag}".encode() + b"\0"
    pids = []
    for entry in Path("/proc").glob("[0-9]*") if Path("/proc/self/environ").exists() else ():
        try:
            if needle in (entry / "environ").read_bytes() and int(entry.name) != os.getpid():
                pids.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return pids


def sweep(var: str, tag: str, grace: float = 5.0) -> int:
    """Let tagged leftovers (debug adapters fork away from their group) exit; kill stragglers."""
    deadline = time.monotonic() + grace
    while tagged_processes(var, tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    stragglers = tagged_processes(var, tag)
    for pid in stragglers:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(stragglers)
