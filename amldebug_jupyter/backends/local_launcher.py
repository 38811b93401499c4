"""Runs one local step as its child and writes down how it ended, for whichever kernel asks later.

Usage (written by the local backend, not by hand)::

    python -I -S local_launcher.py STATE_DIR -- PROGRAM [ARGS...]

Only a process's parent learns its exit status, and the kernel that started a step may be gone
(restarted) before the step ends: the step would then be a child of init, which drops the status.
So the step runs as the child of this launcher, which lives exactly as long as the step, in the
same process group (a cancel signals both), and writes into ``STATE_DIR``:

``launcher_pid``  ``"<pid> <start time> <boot id>"`` at start: which process to watch, even before
                  the kernel recorded it
``exit_code``     the step's exit status as ``subprocess`` gives it (negative: killed by that signal),
                  written atomically when the step ends

The launcher exits the way the step did (same code, or killed by the same signal), so the kernel
that started it reads the step's status straight from its own child. SIGTERM, SIGINT and SIGHUP
reach the whole group; the launcher outlasts them to record what they did to the step (a SIGKILL of
the group leaves no code, and the kernel says so). Standard library only: it is run by path with
``-I -S``, nothing of the package or the site is imported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType
from typing import List, Optional


def _write(path: str, text: str) -> None:
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _identity() -> str:
    """``"<pid> <start time> <boot id>"`` (Linux; the pid alone elsewhere)."""
    fields = [str(os.getpid())]
    try:
        with open("/proc/self/stat", "rb") as f:
            fields.append(f.read().rpartition(b")")[2].split()[19].decode())
        with open("/proc/sys/kernel/random/boot_id") as f:
            fields.append(f.read().strip())
    except (OSError, IndexError):
        pass
    return " ".join(fields)


def _outlast(signum: int, frame: Optional[FrameType]) -> None:
    """The group got the signal, the step too: keep waiting for it to record its end."""


def main(argv: List[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: local_launcher.py STATE_DIR -- PROGRAM [ARGS...]\n")
        return 2
    state_dir, command = argv[0], argv[2:]
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _outlast)  # a handler, not SIG_IGN: the step starts with the defaults
    _write(os.path.join(state_dir, "launcher_pid"), _identity() + "\n")
    try:
        code = subprocess.Popen(command).wait()
    except OSError as exc:
        sys.stderr.write("amldebug: could not start the step: %s\n" % exc)
        code = 127
    _write(os.path.join(state_dir, "exit_code"), "%d\n" % code)
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code  # a signal that does not end a process
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
