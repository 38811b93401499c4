"""Time to breakpoint: from "run this step under the debugger" to stopped at a user's line.

Floor: the least any tool can do on this machine: ``python -u`` a bare script that calls
``debugpy.listen`` on 127.0.0.1, prints its port and ``wait_for_client()``s; we read the port
from its stdout pipe, attach with :func:`amldebug_jupyter.dap.attach` (breakpoint set before
``configurationDone``) and wait for the ``stopped`` event. Timed from process start.

Ours: the whole local loop a notebook user gets: ``submit()`` (snapshot, debug entry, log
tailing) -> ``wait_for_endpoint`` (port discovered in the step's log) -> attach with the run's
path mappings and the breakpoint in the user's own ``train.py`` -> ``stopped``. Timed from the
``submit()`` call.

Both run the same small loop; runs alternate floor/ours and the medians are compared. The
ratio ours/floor is the cost of our plumbing over a bare debugpy session (target <= 1.5).
"""

from __future__ import annotations

import argparse
import os
import secrets
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import marked_line, result, sweep  # noqa: E402

from amldebug_jupyter import Pipeline, Step, submit
from amldebug_jupyter.dap import DapClient, attach

HOST = "127.0.0.1"
MARK = "# bench breakpoint"
STEP_TIMEOUT = 60.0  # how long a debug step waits for us
OP_TIMEOUT = 30.0  # any single wait in the bench
RATIO_TARGET = 1.5
TAG_VAR = "TTB_BENCH_TAG"  # marks every process we start, including debugpy's daemonized adapters

LOOP = f"""\
total = 0
for i in range(5):
    total += i * i  {MARK}
print("loop done, total =", total)
"""

TRAIN = '"""Bench step: a small loop."""\n' + LOOP

FLOOR = (
    f'''\
"""Bench floor: bare debugpy listen + wait_for_client, then the same small loop."""
import debugpy

host, port = debugpy.listen(("{HOST}", 0))
print(port, flush=True)
debugpy.wait_for_client()
'''
    + LOOP
)


def child_env() -> Dict[str, str]:
    """The environment both variants run with (the local backend sets the same two)."""
    return dict(os.environ, PYTHONUNBUFFERED="1", PYDEVD_DISABLE_FILE_VALIDATION="1")


def read_port(proc: subprocess.Popen, timeout: float) -> int:
    """First stdout line of the floor script, as a port; bounded by ``timeout``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise TimeoutError(f"floor script printed no port within {timeout:g} s")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"floor script exited early (code {proc.wait(5)})")
            buf += chunk
    return int(buf.split(b"\n", 1)[0])


def stop_at_breakpoint(client: DapClient, path: Path, line: int, mappings: Optional[List[Dict[str, str]]] = None) -> Dict:
    """Attach with one breakpoint and wait until the debuggee stops; returns the event."""
    attach(client, path_mappings=mappings or (), breakpoints={str(path): [line]}, timeout=OP_TIMEOUT)
    return client.wait_for_event("stopped", timeout=OP_TIMEOUT)


def check_stop(client: DapClient, stopped: Dict, line: int) -> None:
    """Make sure we stopped where we asked (outside the timed part)."""
    frames = client.request("stackTrace", {"threadId": stopped["body"]["threadId"]})["stackFrames"]
    if not frames or frames[0]["line"] != line:
        where = f"{frames[0]['source'].get('path')}:{frames[0]['line']}" if frames else "nowhere"
        raise RuntimeError(f"stopped at {where}, expected line {line}")


def release(client: DapClient, stopped: Dict, path: Path) -> None:
    """Clear the breakpoint, continue and detach, leaving the debuggee to finish."""
    client.request("setBreakpoints", {"source": {"path": str(path)}, "breakpoints": []})
    client.request("continue", {"threadId": stopped["body"]["threadId"]})
    client.request("disconnect", {"terminateDebuggee": False})


def reap(proc: subprocess.Popen) -> None:
    """Wait (bounded) for the floor script, then kill anything still in its process group."""
    try:
        proc.wait(OP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()


def time_floor(script: Path, line: int) -> float:
    """Seconds from starting the bare debugpy script to the ``stopped`` event."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-u", str(script)],
        cwd=script.parent,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        port = read_port(proc, OP_TIMEOUT)
        with DapClient(HOST, port, request_timeout=OP_TIMEOUT) as client:
            stopped = stop_at_breakpoint(client, script, line)
            elapsed = time.perf_counter() - t0
            check_stop(client, stopped, line)
            release(client, stopped, script)
    finally:
        reap(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"floor script exited with {proc.returncode}")
    return elapsed


def time_ours(srcdir: Path, line: int) -> float:
    """Seconds from ``submit()`` to the ``stopped`` event, through our whole local loop."""
    train_py = srcdir / "train.py"
    t0 = time.perf_counter()
    run = submit(Pipeline("bench", [Step("train", "train.py", srcdir, debug=True)]), timeout=STEP_TIMEOUT, stop_on_entry=False)
    try:
        endpoint = run.wait_for_endpoint("train", timeout=OP_TIMEOUT)
        with DapClient(endpoint.host, endpoint.port, request_timeout=OP_TIMEOUT) as client:
            stopped = stop_at_breakpoint(client, train_py, line, run.path_mappings("train"))
            elapsed = time.perf_counter() - t0
            check_stop(client, stopped, line)
            release(client, stopped, train_py)
        status = run.wait(timeout=OP_TIMEOUT)
    finally:
        if not run.done:
            run.cancel()
            run.wait(timeout=OP_TIMEOUT)
    if status != "Completed":
        raise RuntimeError(f"run {run.id} ended {status}:\n{run.logs('train')}")
    return elapsed


def write_sources(root: Path) -> Tuple[Path, Path]:
    """The floor script and the user's step folder (with train.py)."""
    floor = root / "floor" / "floor.py"
    floor.parent.mkdir()
    floor.write_text(FLOOR)
    srcdir = root / "user" / "train"
    srcdir.mkdir(parents=True)
    (srcdir / "train.py").write_text(TRAIN)
    return floor, srcdir


def measure(repeat: int, warmup: int) -> Tuple[List[float], List[float]]:
    """Alternate floor/ours ``warmup + repeat`` times; returns the timed samples."""
    floors: List[float] = []
    ours: List[float] = []
    with tempfile.TemporaryDirectory(prefix="amldebug-bench-ttb-") as tmp:
        root = Path(tmp)
        saved = {k: os.environ.get(k) for k in ("AMLDEBUG_HOME", TAG_VAR)}
        tag = secrets.token_hex(8)
        os.environ.update({"AMLDEBUG_HOME": str(root / "home"), TAG_VAR: tag})
        try:
            floor, srcdir = write_sources(root)
            floor_line, train_line = marked_line(floor, MARK), marked_line(srcdir / "train.py", MARK)
            for i in range(warmup + repeat):
                f, o = time_floor(floor, floor_line), time_ours(srcdir, train_line)
                label = "warm-up" if i < warmup else f"run {i - warmup + 1}/{repeat}"
                killed = sweep(TAG_VAR, tag)
                note = f"   ({killed} leftover process(es) killed)" if killed else ""
                print(f"  {label:>9}: floor {f:.3f} s   ours {o:.3f} s   ratio {o / f:.2f}{note}")
                if i >= warmup:
                    floors.append(f)
                    ours.append(o)
        finally:
            sweep(TAG_VAR, tag, grace=0)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return floors, ours


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed pairs (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed pairs first (default 1)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be >= 1 and --warmup >= 0")

    print(f"time to breakpoint: {args.repeat} pairs (+{args.warmup} warm-up), python {sys.version.split()[0]}")
    floors, ours = measure(args.repeat, args.warmup)
    floor_med, ours_med = statistics.median(floors), statistics.median(ours)
    ratio = ours_med / floor_med
    print(
        f"floor (bare debugpy, process start -> stopped): median {floor_med:.3f} s (min {min(floors):.3f}, max {max(floors):.3f})"
    )
    print(f"ours  (submit() -> stopped):                    median {ours_med:.3f} s (min {min(ours):.3f}, max {max(ours):.3f})")
    print(f"ratio ours/floor: {ratio:.2f} x (target <= {RATIO_TARGET:g})")
    lines = [
        result("ttb_floor", floor_med, "s", "none", True),
        result("ttb_ours", ours_med, "s", "none", True),
        result("ttb_ratio", ratio, "x", f"<={RATIO_TARGET:g}", ratio <= RATIO_TARGET, ".2f"),
    ]
    print("\n".join(lines))
    return 0 if all(line.endswith("PASS") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
