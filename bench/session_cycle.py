"""Debug sessions back to back in one kernel: submit -> attach -> stop at a breakpoint -> finish, 20 times.

A real ipykernel (``tests/support/kernel_harness.py``) with ``%load_ext amldebug_jupyter``; each
cycle submits a local-backend run of a small step, waits for its endpoint, then times the attach as
the user sees it: from running ``%aml_debug attach train`` to the ``stopped`` event at the file
breakpoint (the first cycle also turns JupyterLab's debugger on, with its exact request sequence;
later cycles rely on it staying on). The step is then continued to its end.

Anchor, measured in the same run: the first cycle's attach (a fresh debugger session).
Targets: second-and-later attach <= 0.5 s (p90); the kernel's RSS grows <= 5 MB from the end of
cycle 1 to the end of the last; no process of any run left when its run has ended.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import result  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import line_of, write  # noqa: E402
from support.kernel_harness import LabFrontend, lab_kernel  # noqa: E402
from support.steps import TRAIN, notebook_value  # noqa: E402

from amldebug_jupyter import _process  # noqa: E402

ATTACH_TARGET_S = 0.5
RSS_TARGET_MB = 5.0
RSS = "int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])"


def cycle(lab: LabFrontend, train_py: Path, first: bool) -> tuple:
    """One session; returns (attach seconds, run id)."""
    submit = textwrap.dedent(f"""
        from amldebug_jupyter import Pipeline, Step, submit
        run = submit(Pipeline("p", [Step("train", "train.py", {str(train_py.parent)!r}, debug=True)]),
                     timeout=60, stop_on_entry=False)
        run.wait_for_endpoint("train", timeout=30)
    """)
    assert lab.execute(submit)["status"] == "ok", lab.output()
    t0 = time.monotonic()
    lab.streams.clear()
    lab.execute("%aml_debug attach train")
    assert "Debugger retargeted" in lab.output(), lab.output()
    if first:
        lab.toggle_on({str(train_py): [line_of(train_py, "loop breakpoint")]})
    stop = lab.stopped_frame(30)
    seconds = time.monotonic() - t0
    for n in range(3):  # one stop per epoch, then the end
        assert lab.request("continue", {"threadId": stop["thread"]})["success"]
        if n < 2:
            stop = lab.stopped_frame(30)
    lab.wait_event("terminated", 30)
    assert notebook_value(lab, "run.wait(timeout=60)") == "Completed"
    return seconds, notebook_value(lab, "run.id")


def p90(values: List[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args()
    attach: List[float] = []
    leftovers = 0
    with tempfile.TemporaryDirectory(prefix="session-cycle-") as tmp:
        train_py = write(Path(tmp) / "project" / "train" / "train.py", TRAIN)
        env = {"AMLDEBUG_HOME": str(Path(tmp) / "home"), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        with lab_kernel(env) as lab:
            assert lab.execute("%load_ext amldebug_jupyter\n%config AmlDebugConfig.show_panel = False")["status"] == "ok"
            for n in range(args.cycles):
                seconds, run_id = cycle(lab, train_py, first=n == 0)
                attach.append(seconds)
                leftovers += len(_process.tagged({"AMLDEBUG_RUN_ID": run_id}))
                if n == 0:
                    rss_start = int(notebook_value(lab, RSS))
                lab.events.clear()
                lab._claimed.clear()
            rss_end = int(notebook_value(lab, RSS))
    later = attach[1:]
    growth_mb = (rss_end - rss_start) / 1024
    print(f"first attach (fresh session): {attach[0] * 1000:.0f} ms")
    print(
        f"later attaches ({len(later)}): median {statistics.median(later) * 1000:.0f} ms, "
        f"p90 {p90(later) * 1000:.0f} ms, max {max(later) * 1000:.0f} ms"
    )
    print(f"kernel RSS: {rss_start / 1024:.1f} MB after cycle 1, {rss_end / 1024:.1f} MB after cycle {args.cycles}")
    ok_attach = p90(later) <= ATTACH_TARGET_S
    ok_rss = growth_mb <= RSS_TARGET_MB
    print(result("session_first_attach", attach[0], "s", "none", True))
    print(result("session_later_attach_p90", p90(later), "s", f"<={ATTACH_TARGET_S}", ok_attach))
    print(result("session_later_vs_first_attach", statistics.median(later) / attach[0], "x", "none", True, fmt=".2f"))
    print(result("session_kernel_rss_growth", growth_mb, "MB", f"<={RSS_TARGET_MB}", ok_rss, fmt=".1f"))
    print(result("session_leftover_processes", leftovers, "processes", "0", leftovers == 0, fmt="d"))
    return 0 if ok_attach and ok_rss and leftovers == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
