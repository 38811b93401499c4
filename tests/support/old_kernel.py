"""An "old kernel" for the restart tests: submits a local run, waits for its debug step, then goes.

    python old_kernel.py PIPELINE_JSON HOW

PIPELINE_JSON is ``{"name": ..., "steps": [{"name", "script", "source_directory", "arguments",
"debug"}], "timeout": S}``. Once the first debug step announced its endpoint, one line
``READY {"run": ID, "port": N, "pid": STEP_PID}`` is printed, then the process ends ``HOW``:

``keep``    set_exit_policy("keep"), then a normal exit (atexit handlers run)
``cancel``  a normal exit with the default policy
``_exit``   os._exit(0): no atexit handler runs
``kill``    SIGKILL itself
``stdin``   stays (a live owner) until a line on stdin names one of the above
"""

from __future__ import annotations

import json
import os
import signal
import sys


def main(spec_json: str, how: str) -> None:
    from amldebug_jupyter import Pipeline, Step, submit
    from amldebug_jupyter.backends import local

    spec = json.loads(spec_json)
    steps = [Step(**s) for s in spec["steps"]]
    run = submit(Pipeline(spec["name"], steps), timeout=spec["timeout"], stop_on_entry=False)
    debug_step = next(s.name for s in steps if s.debug)
    endpoint = run.wait_for_endpoint(debug_step, timeout=30)
    print("READY", json.dumps({"run": run.id, "port": endpoint.port, "pid": endpoint.pid}), flush=True)
    if how == "stdin":
        how = sys.stdin.readline().strip()
    if how == "keep":
        local.set_exit_policy("keep")
        sys.exit(0)
    if how == "cancel":
        sys.exit(0)
    if how == "_exit":
        os._exit(0)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise SystemExit(f"unknown way to end: {how!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
