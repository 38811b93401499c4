"""The `amldebug` console script, run as a newcomer would run it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def amldebug(*args: str, env_home: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    exe = shutil.which("amldebug", path=os.path.dirname(sys.executable)) or "amldebug"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ, AMLDEBUG_HOME=str(env_home))
    )


def test_demo_stops_at_the_breakpoint_and_completes(amldebug_home: Path) -> None:
    res = amldebug("demo", env_home=amldebug_home)
    out = res.stdout
    assert res.returncode == 0, out + res.stderr
    assert re.search(r"waits for a debugger at 127\.0\.0\.1:\d+", out)
    assert re.search(r"breakpoint \S+/train/train\.py:\d+ verified", out)
    stop = re.search(r"Stopped at (\S+/train/train\.py):(\d+) in <module>", out)
    assert stop and not stop.group(1).startswith(str(amldebug_home))  # the user's path, not the snapshot
    assert "epoch=0" in out and "w=0.0" in out
    assert "step prep: Completed" in out and "step train: Completed" in out
    assert re.search(
        r"Phases: write sample [\d.]+ s, submit [\d.]+ s, endpoint discovered [\d.]+ s, "
        r"attach [\d.]+ s, stopped at breakpoint [\d.]+ s, run completed [\d.]+ s",
        out,
    )
    run_id = re.search(r"Submitted run (\S+)", out).group(1)
    logs = amldebug("logs", run_id, "train", env_home=amldebug_home)
    assert logs.returncode == 0 and "train: done" in logs.stdout


def test_logs_for_an_unknown_run_is_one_line(amldebug_home: Path) -> None:
    res = amldebug("logs", "nope", "train", env_home=amldebug_home)
    assert res.returncode == 1
    assert res.stderr.startswith("amldebug: No local run step nope/train under ")
    assert res.stderr.count("\n") == 1
