"""``amldebug demo``: the whole local debug loop, end to end, with the time of each phase.

prep -> train, train waits for a debugger; we discover its endpoint in the log, attach, stop
at a breakpoint inside train.py's loop (set in the *user's* file, hit in the run's snapshot),
show the frame and variables, continue, and wait for both steps to complete.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from amldebug_jupyter.api import submit
from amldebug_jupyter.core.pipeline import Pipeline, Step
from amldebug_jupyter.core.status import StepStatus
from amldebug_jupyter.dap import DapClient, attach

PREP = '''\
"""Prepare data: write a few numbers for the training step."""
import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
args = parser.parse_args()

out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
(out / "numbers.txt").write_text("\\n".join(str(n) for n in [3, 1, 4, 1, 5, 9, 2, 6]))
print(f"prep: wrote 8 numbers to {out}")
'''

TRAIN = '''\
"""Train: fit y = w * x by gradient descent on the prepared numbers."""
import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--epochs", type=int, default=5)
args = parser.parse_args()

xs = [float(v) for v in (Path(args.data) / "numbers.txt").read_text().split()]
w, lr = 0.0, 0.01
for epoch in range(args.epochs):
    grad = sum(2 * (w * x - 2 * x) * x for x in xs) / len(xs)
    w -= lr * grad  # demo breakpoint
    print(f"epoch {epoch}: w={w:.4f}")
print(f"train: done, w={w:.4f}")
'''


def write_sample(root: Path) -> Tuple[Pipeline, Path, int]:
    """Create the sample project; returns the pipeline, train.py and the breakpoint line."""
    (root / "prep").mkdir(parents=True)
    (root / "train").mkdir()
    (root / "prep" / "prep.py").write_text(PREP)
    train = root / "train" / "train.py"
    train.write_text(TRAIN)
    line = next(i for i, t in enumerate(TRAIN.splitlines(), 1) if "# demo breakpoint" in t)
    data = root / "data"
    pipeline = Pipeline(
        "demo",
        [
            Step("prep", "prep.py", root / "prep", ["--out", data]),
            Step("train", "train.py", root / "train", ["--data", data, "--epochs", 5], debug=True),
        ],
    )
    return pipeline, train, line


def _user_variables(client: DapClient, frame_id: int) -> List[Tuple[str, str]]:
    shown = []
    for scope in client.request("scopes", {"frameId": frame_id})["scopes"]:
        for var in client.request("variables", {"variablesReference": scope["variablesReference"]})["variables"]:
            name, vtype = var["name"], var.get("type", "")
            if (
                name.startswith("__")
                or vtype in ("module", "function", "type", "ArgumentParser")
                or name in ("special variables", "function variables", "class variables", "Path", "argparse", "parser")
            ):
                continue
            shown.append((name, var["value"]))
        if shown:
            break
    return shown


def run_demo(out: Callable[[str], None] = print, timeout: float = 60.0, keep: bool = False) -> int:
    phases: Dict[str, float] = {}
    t0 = time.perf_counter()

    def phase(name: str) -> None:
        phases[name] = time.perf_counter() - t0 - sum(phases.values())

    with tempfile.TemporaryDirectory(prefix="amldebug-demo-") as tmp:
        pipeline, train_py, bp_line = write_sample(Path(tmp))
        out(f"Sample pipeline in {tmp}: prep -> train (train waits for a debugger)")
        phase("write sample")

        run = submit(pipeline, timeout=timeout, stop_on_entry=False)
        out(f"Submitted run {run.id} on the local backend ({run.run_dir})")
        phase("submit")

        endpoint = run.wait_for_endpoint("train", timeout=timeout + 30)
        out(f"Step 'train' waits for a debugger at {endpoint.address} ({endpoint.seconds_left():.0f} s left)")
        phase("endpoint discovered")

        with DapClient(endpoint.host, endpoint.port) as client:
            answers = attach(client, path_mappings=run.path_mappings("train"), breakpoints={str(train_py): [bp_line]})
            ok = all(bp.get("verified") for bp in answers[str(train_py)])
            out(f"Attached; breakpoint {train_py}:{bp_line} {'verified' if ok else 'NOT verified'}")
            phase("attach")

            stopped = client.wait_for_event("stopped", timeout=30)
            frames = client.request("stackTrace", {"threadId": stopped["body"]["threadId"]})["stackFrames"]
            top = frames[0]
            out(f"Stopped at {top['source']['path']}:{top['line']} in {top['name']}")
            out("  " + "  ".join(f"{n}={v}" for n, v in _user_variables(client, top["id"])))
            phase("stopped at breakpoint")

            client.request("setBreakpoints", {"source": {"path": str(train_py)}, "breakpoints": []})
            client.request("continue", {"threadId": stopped["body"]["threadId"]})
            client.request("disconnect", {"terminateDebuggee": False})
        out("Continued and detached")

        status = run.wait(timeout=60)
        phase("run completed")
        for name, step in run.steps.items():
            out(f"  step {name}: {step.status}")
        out("Last lines of train's log:")
        for line in run.logs("train").splitlines()[-3:]:
            out("  " + line)
        out("Phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()) + f"; total {time.perf_counter() - t0:.2f} s")
        if keep:
            out(f"Run folder kept at {run.run_dir}")
        return 0 if status == StepStatus.COMPLETED else 1
