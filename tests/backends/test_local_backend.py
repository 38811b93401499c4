"""Whole runs on the local backend: real step processes, real debugpy, real log tailing."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from support import free_port, line_of, snapshot_tree, write

from amldebug_jupyter import Pipeline, Step, _process, submit
from amldebug_jupyter.core.endpoints import Endpoint
from amldebug_jupyter.errors import AttachTimeout, BackendError, UserError

TRAIN = """
    import sys
    from util import scale          # sibling module of the user's script
    total = 0
    for i in range(3):
        total += scale(i)           # breakpoint here
    print("total", total, "args", sys.argv[1:])
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write(root / "prep" / "prep.py", "print('prep ran')\n")
    write(root / "train" / "train.py", TRAIN)
    write(root / "train" / "util.py", "def scale(x):\n    return x * 10\n")
    return root


def two_steps(project: Path, **train_kw) -> Pipeline:
    return Pipeline(
        "p", [Step("prep", "prep.py", project / "prep"), Step("train", "train.py", project / "train", ["--lr", 0.5], **train_kw)]
    )


def test_breakpoint_in_the_users_file_is_hit_in_the_snapshot(project: Path, amldebug_home: Path, debugger) -> None:
    before = snapshot_tree(project)
    train = project / "train" / "train.py"
    run = submit(two_steps(project), debug=["train"], timeout=60, stop_on_entry=False)
    endpoint = run.wait_for_endpoint("train", timeout=30)
    assert endpoint.host == "127.0.0.1" and endpoint.step == "train"
    assert run.steps["prep"].status == "Completed" and run.steps["train"].status == "Running"

    dbg = debugger(
        endpoint, path_mappings=run.path_mappings("train"), breakpoints={str(train): [line_of(train, "breakpoint here")]}
    )
    assert dbg.verified[str(train)][0]["verified"] is True
    stop = dbg.stopped()
    top = stop["frames"][0]
    assert top["source"]["path"] == str(train)  # reported as the user's file...
    assert top["line"] == line_of(train, "breakpoint here")
    remote_file = dbg.evaluate(top["id"], "__file__")  # ...while running the snapshot copy
    assert remote_file.strip("'") == str(amldebug_home / "runs" / run.id / "train" / "train.py")
    assert dbg.evaluate(top["id"], "i") == "0"
    dbg.client.request("setBreakpoints", {"source": {"path": str(train)}, "breakpoints": []})
    dbg.resume(stop["thread"])

    assert run.wait(timeout=30) == "Completed"
    assert [s.status for s in run.steps.values()] == ["Completed", "Completed"]
    log = run.logs("train")
    assert "Debugger attached = True" in log and "total 30 args ['--lr', '0.5']" in log
    assert (amldebug_home / "runs" / run.id / "train" / "user_logs" / "std_log.txt").is_file()
    assert snapshot_tree(project) == before  # the user's folder is untouched


def test_timeout_lets_the_step_run_without_a_debugger(project: Path) -> None:
    run = submit(two_steps(project), debug="train", timeout=2)
    endpoint = run.wait_for_endpoint(timeout=30)
    assert 0 < endpoint.seconds_left() <= 2
    assert run.wait(timeout=30) == "Completed"
    log = run.logs("train")
    assert "Debugger attached = False" in log and "total 30" in log


def test_failing_step_stops_the_pipeline(project: Path) -> None:
    write(project / "prep" / "prep.py", "raise SystemExit('prep failed: no data')\n")
    run = submit(two_steps(project), timeout=5)
    assert run.wait(timeout=30) == "Failed"
    assert (run.steps["prep"].status, run.steps["prep"].exit_code) == ("Failed", 1)
    assert run.steps["train"].status == "NotStarted"
    assert "prep failed: no data" in run.logs("prep")


def test_cancel_kills_the_steps_process_group(project: Path, tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    write(
        project / "prep" / "prep.py",
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open({str(marker)!r}, "w").write(str(child.pid))
        print("working", flush=True)
        time.sleep(120)
    """,
    )
    run = submit(two_steps(project), timeout=5)
    deadline = time.monotonic() + 20
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, run.logs("prep")
        time.sleep(0.05)
    child = int(marker.read_text())
    t0 = time.monotonic()
    run.cancel()
    assert run.wait(timeout=15) == "Canceled"
    assert time.monotonic() - t0 < 5
    assert [s.status for s in run.steps.values()] == ["Canceled", "NotStarted"]
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the step's child process survived cancel"
    with pytest.raises(UserError, match="already ended"):
        run.cancel()


def test_cancel_a_step_waiting_for_a_debugger(project: Path) -> None:
    run = submit(two_steps(project), debug="train", timeout=120)
    endpoint = run.wait_for_endpoint("train", timeout=30)
    run.cancel()
    assert run.wait(timeout=15) == "Canceled"
    assert not _alive(endpoint.pid)


def run_processes(run_id: str) -> list:
    """Every process started for the run, the steps' debug adapters included (they inherit its tag)."""
    return _process.tagged({"AMLDEBUG_RUN_ID": run_id})


def stray_connection(endpoint) -> socket.socket:
    """A connection that is not a debugger (a port scan, a browser): debugpy's adapter accepts it."""
    stray = socket.create_connection((endpoint.host, endpoint.port), timeout=5)
    stray.sendall(b"GET / HTTP/1.0\r\n\r\n")
    return stray


@pytest.mark.parametrize("end", ["canceled", "ran without a debugger"])
def test_a_stray_connection_never_keeps_the_adapter_after_the_step(project: Path, end: str) -> None:
    run = submit(two_steps(project), debug="train", timeout=3 if end == "ran without a debugger" else 120)
    endpoint = run.wait_for_endpoint("train", timeout=30)
    assert len(run_processes(run.id)) >= 2  # the step and its adapter
    with stray_connection(endpoint):
        if end == "canceled":
            run.cancel()
        assert run.wait(timeout=30) == ("Canceled" if end == "canceled" else "Completed")
        assert run_processes(run.id) == []


def test_kernel_shutdown_leaves_no_step_or_adapter_behind(project: Path, amldebug_home: Path) -> None:
    from support.kernel_harness import lab_kernel

    with lab_kernel({"AMLDEBUG_HOME": str(amldebug_home)}) as lab:
        lab.streams.clear()
        lab.execute(
            "from amldebug_jupyter import Pipeline, Step, submit\n"
            f"run = submit(Pipeline('p', [Step('train', 'train.py', {str(project / 'train')!r}, debug=True)]), timeout=120)\n"
            "print('RUN', run.id, run.wait_for_endpoint('train', timeout=30).port)"
        )
        run_id, port = lab.output().split("RUN ", 1)[1].split()[:2]
        stray = stray_connection(Endpoint("127.0.0.1", int(port), step="train"))
        assert len(run_processes(run_id)) >= 2
        lab.km.shutdown_kernel(now=False)  # what JupyterLab's "Shut Down Kernel" asks for
    deadline = time.monotonic() + 10
    while run_processes(run_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    stray.close()
    assert run_processes(run_id) == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


SEED_TRAIN = """
    # The seed document's hand-instrumented step script (azureml Run import left out: no Azure here)
    import argparse
    import socket
    import debugpy

    parser = argparse.ArgumentParser()
    parser.add_argument("--remote_debug", action="store_true")
    parser.add_argument("--remote_debug_connection_timeout", type=int, default=300)
    parser.add_argument("--remote_debug_client_ip", type=str)
    parser.add_argument("--remote_debug_port", type=int, default=5678)
    args = parser.parse_args()

    if args.remote_debug:
        print(f"Timeout for debug connection: {args.remote_debug_connection_timeout}")
        ip = socket.gethostbyname(socket.gethostname())
        print(f"ip_address: {ip}")
        debugpy.listen(address=(ip, args.remote_debug_port))
        debugpy.wait_for_client()
        print(f"Debugger attached = {debugpy.is_client_connected()}")

    answer = 6 * 7   # seed breakpoint
    print("answer", answer)
"""


def test_seed_instrumented_script_is_discovered_by_its_ip_address_line(tmp_path: Path, debugger) -> None:
    src = write(tmp_path / "seed" / "train.py", SEED_TRAIN).parent
    port = free_port()
    step = Step(
        "train",
        "train.py",
        src,
        [
            "--remote_debug",
            "--remote_debug_connection_timeout",
            300,
            "--remote_debug_client_ip",
            "10.0.0.9",
            "--remote_debug_port",
            port,
        ],
    )
    run = submit(Pipeline("seed", [step]), timeout=30)  # not wrapped: the script instruments itself
    endpoint = run.wait_for_endpoint("train", timeout=30)
    assert (endpoint.origin, endpoint.port) == ("seed", port)
    assert 290 < endpoint.seconds_left() <= 300
    train = src / "train.py"
    dbg = debugger(
        endpoint, path_mappings=run.path_mappings("train"), breakpoints={str(train): [line_of(train, "seed breakpoint")]}
    )
    stop = dbg.stopped()
    assert stop["frames"][0]["source"]["path"] == str(train)
    dbg.resume(stop["thread"])
    assert run.wait(timeout=30) == "Completed"
    assert "answer 42" in run.logs("train")


def test_wait_for_endpoint_reports_a_run_that_ends_first(project: Path) -> None:
    write(project / "prep" / "prep.py", "raise SystemExit(2)\n")
    run = submit(two_steps(project), debug="train", timeout=5)
    with pytest.raises(BackendError, match="ended before train announced a debug endpoint"):
        run.wait_for_endpoint("train", timeout=30)


def test_wait_for_endpoint_times_out_with_advice(project: Path) -> None:
    write(project / "prep" / "prep.py", "import time; time.sleep(30)\n")
    run = submit(two_steps(project), debug="train", timeout=5)
    try:
        with pytest.raises(AttachTimeout, match=r"No debug endpoint from train after 0.5 s; see its log"):
            run.wait_for_endpoint("train", timeout=0.5)
    finally:
        run.cancel()
        run.wait(timeout=15)


def test_entry_error_surfaces_when_the_port_is_taken(project: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        run = submit(two_steps(project), debug="train", timeout=5, port=busy.getsockname()[1])
        with pytest.raises(BackendError, match="could not listen on 127.0.0.1"):
            run.wait_for_endpoint("train", timeout=30)
        assert run.wait(timeout=30) == "Completed"  # the step still ran, without a debugger


def test_stop_on_entry_and_post_mortem_are_announced(project: Path) -> None:
    run = submit(two_steps(project), debug="train", timeout=1, stop_on_entry=True)
    endpoint = run.wait_for_endpoint(timeout=30)
    assert endpoint.stop_on_entry is True
    assert endpoint.script == str(run.steps["train"].remote_root / "train.py")
    run.wait(timeout=30)
