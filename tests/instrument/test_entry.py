"""The debug entry run for real (subprocess + debugpy), as a backend would run it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest
from support import line_of, write

from amldebug_jupyter.core.endpoints import Endpoint, EndpointDetector
from amldebug_jupyter.instrument import ENTRY_FILE, ENTRY_NAME


def stage(tmp_path: Path, script: str, body: str) -> Path:
    """A snapshot folder holding the user's script and our entry next to it."""
    snap = tmp_path / "snap"
    write(snap / script, body)
    shutil.copyfile(ENTRY_FILE, snap / ENTRY_NAME)
    return snap


def run_entry(snap: Path, script: str, args: List[str], entry_opts: List[str], timeout: float = 30):
    argv = [sys.executable, "-u", ENTRY_NAME, "--host", "127.0.0.1", *entry_opts, "--", script, *args]
    return subprocess.run(argv, cwd=snap, capture_output=True, text=True, timeout=timeout)


def start_entry(snap: Path, script: str, args: List[str], entry_opts: List[str]) -> subprocess.Popen:
    argv = [sys.executable, "-u", ENTRY_NAME, "--host", "127.0.0.1", *entry_opts, "--", script, *args]
    return subprocess.Popen(argv, cwd=snap, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> str:
    """Wait for the script and return the rest of its output."""
    out, _ = proc.communicate(timeout=20)
    return out


def read_endpoint(proc: subprocess.Popen, lines: List[str], detector: EndpointDetector) -> Endpoint:
    for line in proc.stdout:  # bounded by the test timeout; the entry prints it first
        lines.append(line)
        found = detector.feed(line.rstrip("\n"))
        if isinstance(found, Endpoint):
            return found
    raise AssertionError("no endpoint announced:\n" + "".join(lines))


USER_SCRIPT = """
    import sys, os
    from helper import VALUE          # a sibling module: the script's folder is on sys.path
    print("argv", sys.argv)
    print("name", __name__, "file", os.path.basename(__file__), "value", VALUE)
    if "--fail" in sys.argv:
        raise ValueError("boom from user code")
    sys.exit(int(sys.argv[sys.argv.index("--code") + 1]) if "--code" in sys.argv else 0)
"""


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    s = stage(tmp_path, "src/train.py", USER_SCRIPT)
    write(s / "src" / "helper.py", "VALUE = 42\n")
    return s


def test_no_debugger_before_timeout_runs_the_script_normally(snap: Path) -> None:
    t0 = time.monotonic()
    res = run_entry(snap, "src/train.py", ["--lr", "0.1"], ["--timeout", "2", "--step", "train"])
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "Timeout for debug connection: 2" in out and "ip_address: 127.0.0.1" in out
    assert "Debugger attached = False" in out
    assert "argv ['src/train.py', '--lr', '0.1']" in out
    assert "name __main__ file train.py value 42" in out
    info = json.loads(out.split("AMLDEBUG_ENDPOINT ", 1)[1].splitlines()[0])
    assert info["host"] == "127.0.0.1" and info["port"] > 0 and info["step"] == "train"
    assert info["remote_root"] == str(snap) and info["script"] == str(snap / "src" / "train.py")
    assert 1.8 <= elapsed < 15


def test_exit_code_passes_through(snap: Path) -> None:
    res = run_entry(snap, "src/train.py", ["--code", "3"], ["--timeout", "0"])
    assert res.returncode == 3


def test_exception_passes_through_with_a_user_traceback(snap: Path) -> None:
    res = run_entry(snap, "src/train.py", ["--fail"], ["--timeout", "0"])
    assert res.returncode == 1
    assert "ValueError: boom from user code" in res.stderr
    assert 'File "' + str(snap / "src" / "train.py") + '"' in res.stderr
    assert ENTRY_NAME not in res.stderr  # the traceback starts in the user's script


def test_missing_debugpy_port_clash_reports_and_still_runs(snap: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = run_entry(snap, "src/train.py", [], ["--timeout", "5", "--port", str(port)])
    assert res.returncode == 0
    assert "AMLDEBUG_ERROR" in res.stdout and "could not listen on 127.0.0.1:%d" % port in res.stdout
    assert "value 42" in res.stdout


def test_usage_errors_are_one_line(snap: Path) -> None:
    res = run_entry(snap, "src/missing.py", [], [])
    assert res.returncode == 2
    assert res.stderr.strip() == f"amldebug: script 'src/missing.py' not found in {snap}"


def test_post_mortem_stops_at_the_failing_frame(tmp_path: Path, debugger) -> None:
    snap = stage(
        tmp_path,
        "train.py",
        """
        def divide(total, count):
            share = total / count   # fails
            return share

        print("result", divide(10, 0))
    """,
    )
    proc = start_entry(snap, "train.py", [], ["--timeout", "20", "--post-mortem"])
    try:
        first = read_endpoint(proc, [], EndpointDetector("s"))
        dbg = debugger(first)  # attached from the start, no breakpoints: the script runs and fails
        stop = dbg.stopped()
        assert stop["event"]["body"]["reason"] == "exception"
        top = stop["frames"][0]
        assert (Path(top["source"]["path"]).name, top["line"]) == ("train.py", line_of(snap / "train.py", "# fails"))
        assert dbg.evaluate(top["id"], "count") == "0"
        dbg.resume(stop["thread"])
        dbg.client.close()  # debugpy's adapter (its own session) leaves once nobody is attached
        rest = finish(proc)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "ZeroDivisionError" in rest


def test_post_mortem_waits_for_a_late_debugger(tmp_path: Path, debugger) -> None:
    snap = stage(
        tmp_path,
        "train.py",
        """
        items = []
        print(items[3])  # fails
    """,
    )
    proc = start_entry(snap, "train.py", [], ["--timeout", "1", "--post-mortem"])
    try:
        lines: List[str] = []
        detector = EndpointDetector("s")
        start = read_endpoint(proc, lines, detector)
        assert start.reason == "start"
        late = read_endpoint(proc, lines, detector)  # nobody came in 1 s; the failure announces a new wait
        assert (late.reason, late.port) == ("post_mortem", start.port)
        dbg = debugger(late)
        stop = dbg.stopped()
        assert stop["frames"][0]["line"] == 2
        dbg.resume(stop["thread"])
        dbg.client.close()  # debugpy's adapter (its own session) leaves once nobody is attached
        rest = finish(proc)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "IndexError" in rest


def test_a_debugger_that_leaves_right_after_configuring_releases_the_step(snap: Path) -> None:
    """JupyterLab's toggle on-then-off: disconnect arrives right after configurationDone."""
    from amldebug_jupyter.dap import DapClient, attach

    proc = start_entry(snap, "src/train.py", [], ["--timeout", "60"])
    try:
        endpoint = read_endpoint(proc, [], EndpointDetector("s"))
        client = DapClient(endpoint.host, endpoint.port)
        attach(client)
        client.request("disconnect", {"restart": False, "terminateDebuggee": False})
        client.close()
        t0 = time.monotonic()
        rest = finish(proc)
        assert time.monotonic() - t0 < 10  # not the 60 s timeout
    finally:
        proc.kill()
    assert proc.returncode == 0 and "Debugger attached = True" in rest and "value 42" in rest


def test_the_entry_announces_with_the_markers_the_detector_reads() -> None:
    """entry.py runs standalone on the node, so it restates the markers: they must not drift."""
    import ast

    from amldebug_jupyter import instrument
    from amldebug_jupyter.core import endpoints

    tree = ast.parse(instrument.ENTRY_FILE.read_text())
    copies = {
        t.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and isinstance(node.value, ast.Constant)
    }
    assert copies["ENDPOINT_MARKER"] == instrument.ENDPOINT_MARKER == endpoints.ENDPOINT_MARKER
    assert copies["ERROR_MARKER"] == instrument.ERROR_MARKER == endpoints.ERROR_MARKER
