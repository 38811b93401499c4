"""Bridge overhead: one debugger step (``next``) through the kernel bridge vs a direct DAP client.

One round trip is one debugger step as a user experiences it: send ``next {threadId}`` and wait
until the ``stopped`` event that follows has arrived (the response, then the event).

Both variants debug the same kind of remote: a local-backend step (``submit(...,
stop_on_entry=False)``) whose ``train.py`` runs a long loop of cheap statements, stopped at a
breakpoint inside the loop, so every ``next`` stays in the loop.

Direct: :class:`amldebug_jupyter.dap.DapClient` + :func:`~amldebug_jupyter.dap.attach` with the
run's path mappings and the breakpoint; each ``next`` is ``client.request`` followed by
``client.wait_for_event("stopped")``.

Bridge: a real ipykernel (``tests/kernel_harness.py``) with ``%load_ext amldebug_jupyter``; the
pipeline is submitted inside the kernel, ``%aml_debug attach train`` retargets its debugger and
``LabFrontend.toggle_on`` replays JupyterLab 4's toggle sequence; each ``next`` is a
``debug_request`` on the control channel (``LabFrontend.request``) followed by waiting for the
``stopped`` ``debug_event`` on iopub (``LabFrontend.wait_event``). The harness reads iopub
as messages arrive, as JupyterLab's websocket does.

Each variant does a few untimed warm-up steps, then the timed ones. The ratio of the median
step times (bridge/direct) is the cost of the kernel hop over a bare DAP session
(target <= 1.5).

Mind the floor: stock debugpy sets no ``TCP_NODELAY`` on the pydevd <-> adapter <-> client
sockets, so on loopback ~42 ms of each step is Nagle waiting on a delayed ACK (the
"response->stopped" figure). The kernel hop's own cost is the difference of the medians.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import marked_line, result, sweep  # noqa: E402

from amldebug_jupyter import Pipeline, Step, submit
from amldebug_jupyter.dap import DapClient, attach

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.kernel_harness import LabFrontend, lab_kernel  # noqa: E402  (one copy of the JupyterLab driver)

MARK = "# bench breakpoint"
STEP_TIMEOUT = 120.0  # how long the debug step waits for a debugger
OP_TIMEOUT = 30.0  # any single wait in the bench
RATIO_TARGET = 1.5
TAG_VAR = "BRIDGE_BENCH_TAG"  # marks every process we start, including debugpy's daemonized adapters

TRAIN = f'''\
"""Bench step: a long loop of cheap statements."""
x = 0
for i in range(100000):
    x = i + 1  {MARK}
print("loop done", x)
'''


@dataclass(frozen=True)
class Sample:
    """One timed step, seconds from sending ``next``: to its response, to the ``stopped`` event."""

    reply: float
    stopped: float


def loop_lines(line: int) -> Tuple[int, int]:
    """The ``for`` line and its body line: where every ``next`` must land."""
    return line - 1, line


# -- direct ----------------------------------------------------------------------------------------
def direct_next(client: DapClient, thread: int) -> Sample:
    t0 = time.perf_counter()
    client.request("next", {"threadId": thread}, OP_TIMEOUT)
    t1 = time.perf_counter()
    client.wait_for_event("stopped", OP_TIMEOUT)
    return Sample(t1 - t0, time.perf_counter() - t0)


def direct_line(client: DapClient, thread: int) -> int:
    return client.request("stackTrace", {"threadId": thread}, OP_TIMEOUT)["stackFrames"][0]["line"]


def time_direct(srcdir: Path, line: int, steps: int, warmup: int) -> List[Sample]:
    """``steps`` timed ``next`` round trips over a bare DAP socket to a local-backend step."""
    train_py = srcdir / "train.py"
    run = submit(
        Pipeline("bench-direct", [Step("train", "train.py", srcdir, debug=True)]), timeout=STEP_TIMEOUT, stop_on_entry=False
    )
    try:
        endpoint = run.wait_for_endpoint("train", timeout=OP_TIMEOUT)
        with DapClient(endpoint.host, endpoint.port, request_timeout=OP_TIMEOUT) as client:
            attach(client, path_mappings=run.path_mappings("train"), breakpoints={str(train_py): [line]}, timeout=OP_TIMEOUT)
            thread = client.wait_for_event("stopped", OP_TIMEOUT)["body"]["threadId"]
            check_line("direct", direct_line(client, thread), (line,))
            samples = [direct_next(client, thread) for _ in range(warmup + steps)][warmup:]
            check_line("direct", direct_line(client, thread), loop_lines(line))
            client.request("setBreakpoints", {"source": {"path": str(train_py)}, "breakpoints": []})
            client.request("continue", {"threadId": thread})
            client.request("disconnect", {"terminateDebuggee": False})
        status = run.wait(timeout=OP_TIMEOUT)
    finally:
        if not run.done:
            run.cancel()
            run.wait(timeout=OP_TIMEOUT)
    if status != "Completed":
        raise RuntimeError(f"direct: run {run.id} ended {status}:\n{run.logs('train')}")
    return samples


# -- bridge ----------------------------------------------------------------------------------------
def run_cell(lab: LabFrontend, code: str, expect: str = "") -> str:
    """Execute ``code`` in the kernel; its new output, checked for ``expect``."""
    before = len(lab.streams)
    reply = lab.execute(code, timeout=OP_TIMEOUT)
    deadline = time.monotonic() + 5.0  # iopub may deliver the output after the reply
    while expect not in "".join(lab.streams[before:]) and time.monotonic() < deadline:
        lab.pump(0.05)
    out = "".join(lab.streams[before:])
    if reply["status"] != "ok" or expect not in out:
        raise RuntimeError(f"cell failed ({reply['status']}); expected {expect!r} in its output:\n{out}")
    return out


def bridge_next(lab: LabFrontend, thread: int) -> Sample:
    t0 = time.perf_counter()
    rep = lab.request("next", {"threadId": thread}, timeout=OP_TIMEOUT)
    t1 = time.perf_counter()
    if not rep.get("success"):
        raise RuntimeError(f"bridge: next failed: {rep.get('message')}")
    lab.wait_event("stopped", OP_TIMEOUT)
    return Sample(t1 - t0, time.perf_counter() - t0)


def bridge_line(lab: LabFrontend, thread: int) -> int:
    rep = lab.request("stackTrace", {"threadId": thread}, timeout=OP_TIMEOUT)
    if not rep.get("success"):
        raise RuntimeError(f"bridge: stackTrace failed: {rep.get('message')}")
    return rep["body"]["stackFrames"][0]["line"]


def time_bridge(srcdir: Path, line: int, steps: int, warmup: int, env: Dict[str, str]) -> List[Sample]:
    """``steps`` timed ``next`` round trips from a JupyterLab-like frontend through the kernel bridge."""
    train_py = srcdir / "train.py"
    with lab_kernel(env) as lab:
        run_cell(lab, "%load_ext amldebug_jupyter")
        run_cell(
            lab,
            textwrap.dedent(f"""
            from amldebug_jupyter import Pipeline, Step, submit
            run = submit(Pipeline("bench-bridge", [Step("train", "train.py", {str(srcdir)!r}, debug=True)]),
                         timeout={STEP_TIMEOUT:g}, stop_on_entry=False)
            %aml_debug attach train --wait {OP_TIMEOUT:g}
        """),
            expect="Debugger retargeted to step 'train'",
        )
        replies = lab.toggle_on({str(train_py): [line]})
        bps = replies.get(f"setBreakpoints:{train_py}", {})
        if not replies["initialize"].get("success") or not bps.get("success"):
            raise RuntimeError(f"bridge: toggle-on failed: {replies}")
        thread = lab.wait_event("stopped", OP_TIMEOUT)["body"]["threadId"]
        check_line("bridge", bridge_line(lab, thread), (line,))
        samples = [bridge_next(lab, thread) for _ in range(warmup + steps)][warmup:]
        check_line("bridge", bridge_line(lab, thread), loop_lines(line))
        lab.request("setBreakpoints", {"source": {"path": str(train_py)}, "breakpoints": [], "sourceModified": False})
        if not lab.request("continue", {"threadId": thread})["success"]:
            raise RuntimeError("bridge: continue failed")
        if not lab.toggle_off()["success"]:
            raise RuntimeError("bridge: toggle-off failed")
        run_cell(lab, f"print('STATUS', run.wait({OP_TIMEOUT:g}))", expect="STATUS Completed")
    return samples


# -- shared ----------------------------------------------------------------------------------------
def check_line(who: str, got: int, allowed: Tuple[int, ...]) -> None:
    """Make sure the debuggee is where we expect (outside the timed part)."""
    if got not in allowed:
        raise RuntimeError(f"{who}: stopped at line {got}, expected one of {allowed}")


def write_sources(root: Path) -> Path:
    """The user's step folder, with train.py."""
    srcdir = root / "user" / "train"
    srcdir.mkdir(parents=True)
    (srcdir / "train.py").write_text(TRAIN)
    return srcdir


def measure(steps: int, warmup: int) -> Tuple[List[Sample], List[Sample]]:
    """Direct, then bridge, in one temp AMLDEBUG_HOME; every process we started is gone after."""
    with tempfile.TemporaryDirectory(prefix="amldebug-bench-bridge-") as tmp:
        root = Path(tmp)
        tag = secrets.token_hex(8)
        saved = {k: os.environ.get(k) for k in ("AMLDEBUG_HOME", "PYDEVD_DISABLE_FILE_VALIDATION", TAG_VAR)}
        os.environ.update({"AMLDEBUG_HOME": str(root / "home"), "PYDEVD_DISABLE_FILE_VALIDATION": "1", TAG_VAR: tag})
        kernel_tmp = root / "kernel-tmp"  # ipykernel's cell files (ipykernel_<pid>) land here, not in /tmp
        kernel_tmp.mkdir()
        try:
            srcdir = write_sources(root)
            line = marked_line(srcdir / "train.py", MARK)
            direct = time_direct(srcdir, line, steps, warmup)
            note(sweep(TAG_VAR, tag), "direct")
            bridge = time_bridge(srcdir, line, steps, warmup, {"TMPDIR": str(kernel_tmp)})
            note(sweep(TAG_VAR, tag), "bridge")
        finally:
            sweep(TAG_VAR, tag, grace=0)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return direct, bridge


def note(killed: int, who: str) -> None:
    if killed:
        print(f"  ({who}: {killed} leftover process(es) killed)")


def ms(seconds: float) -> float:
    return seconds * 1000.0


def describe(name: str, samples: List[Sample]) -> None:
    total = [s.stopped for s in samples]
    reply = [s.reply for s in samples]
    after = [s.stopped - s.reply for s in samples]
    q = statistics.quantiles(total, n=10)
    print(
        f"{name:>6}: {len(samples)} steps in {sum(total):.3f} s; per step median "
        f"{ms(statistics.median(total)):.2f} ms, mean {ms(statistics.mean(total)):.2f} ms "
        f"(p10 {ms(q[0]):.2f}, p90 {ms(q[-1]):.2f}, max {ms(max(total)):.2f})"
    )
    print(
        f"{'':>6}  send->response median {ms(statistics.median(reply)):.2f} ms, "
        f"response->stopped median {ms(statistics.median(after)):.2f} ms"
    )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed next round trips per variant (default 200)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    args = parser.parse_args(argv)
    if args.steps < 2 or args.warmup < 0:
        parser.error("--steps must be >= 2 and --warmup >= 0")

    t0 = time.perf_counter()
    print(f"bridge overhead: {args.steps} next round trips (+{args.warmup} warm-up) per variant, python {sys.version.split()[0]}")
    direct, bridge = measure(args.steps, args.warmup)
    describe("direct", direct)
    describe("bridge", bridge)
    d_med, b_med = statistics.median(s.stopped for s in direct), statistics.median(s.stopped for s in bridge)
    d_mean, b_mean = statistics.mean(s.stopped for s in direct), statistics.mean(s.stopped for s in bridge)
    ratio = b_med / d_med
    print(
        f"ratio bridge/direct: median {ratio:.2f} x (target <= {RATIO_TARGET:g}), mean {b_mean / d_mean:.2f} x; "
        f"bench took {time.perf_counter() - t0:.1f} s"
    )
    lines = [
        result("bridge_next_direct", ms(d_med), "ms", "none", True),
        result("bridge_next_bridge", ms(b_med), "ms", "none", True),
        result("bridge_next_ratio", ratio, "x", f"<={RATIO_TARGET:g}", ratio <= RATIO_TARGET),
    ]
    print("\n".join(lines))
    return 0 if all(line.endswith("PASS") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
