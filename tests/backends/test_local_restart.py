"""A local run outlives its kernel: the next kernel adopts it, attaches to it, cancels it or continues it.

The "old kernel" is a real separate Python (tests/support/old_kernel.py) that submits a two-step run
whose first step waits for a debugger, then ends (normally, with or without the "keep" exit policy,
or without running atexit handlers). This test process is the new kernel: same AMLDEBUG_HOME, real
step processes, real debugpy, a real DAP client.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from support import REPO, write

from amldebug_jupyter import _process
from amldebug_jupyter.backends import local_record
from amldebug_jupyter.backends.local import adopt_runs, set_exit_policy
from amldebug_jupyter.backends.local_record import Process, RunRecord, StepRecord
from amldebug_jupyter.core.run import DebugRun

OLD_KERNEL = REPO / "tests" / "support" / "old_kernel.py"
ATTACH_TIMEOUT = 60  # what the debug step waits at most: nothing lingers longer than that


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write(root / "train" / "train.py", "import sys\nprint('train ran', sys.argv[1:])\n")
    write(root / "after" / "after.py", "import sys\nopen(sys.argv[1], 'w').write('after ran\\n')\nprint('after ran')\n")
    return root


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """What the second step writes: proof that it ran."""
    return tmp_path / "after.out"


class Leftovers:
    """Every old kernel, adopted run and step process a test started, stopped at its end."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.kernels: List[subprocess.Popen] = []
        self.runs: List[DebugRun] = []

    def adopt(self, **kw: Any) -> List[DebugRun]:
        runs = adopt_runs(**kw)
        self.runs.extend(runs)
        return runs

    def clean(self) -> None:
        for run in self.runs:
            if not run.done:
                try:
                    run.cancel()
                    run.wait(timeout=15)
                except Exception:
                    pass
        for proc in self.kernels:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
        for run_dir in (self.home / "runs").glob("*"):
            _process.kill_tagged({"AMLDEBUG_RUN_ID": run_dir.name})


@pytest.fixture
def leftovers(amldebug_home: Path) -> Iterator[Leftovers]:
    left = Leftovers(amldebug_home)
    try:
        yield left
    finally:
        left.clean()
        set_exit_policy("cancel")


def old_kernel(
    left: Leftovers, project: Path, out: Path, how: str, timeout: float = ATTACH_TIMEOUT
) -> Tuple[subprocess.Popen, Dict[str, Any]]:
    """Start an old kernel ending ``how`` (see old_kernel.py); returns it and its READY line, once its step waits."""
    spec = {
        "name": "p",
        "timeout": timeout,
        "steps": [
            {
                "name": "train",
                "script": "train.py",
                "source_directory": str(project / "train"),
                "arguments": ["--lr", "0.5"],
                "debug": True,
            },
            {"name": "after", "script": "after.py", "source_directory": str(project / "after"), "arguments": [str(out)]},
        ],
    }
    proc = subprocess.Popen(
        [sys.executable, str(OLD_KERNEL), json.dumps(spec), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    left.kernels.append(proc)
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen = []
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if proc.poll() is not None and lines.empty():
                break
            continue
        seen.append(line)
        if line.startswith("READY "):
            return proc, json.loads(line.split(" ", 1)[1])
    raise AssertionError(f"the old kernel never got its step waiting: {''.join(seen)}")


def record(home: Path, run_id: str) -> RunRecord:
    return local_record.load(home / "runs" / run_id / "run.json")


def running(pid: int) -> bool:
    """Whether ``pid`` is a process that still runs (a zombie nobody reaped does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def all_gone(pids, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(running(p) for p in pids)


def run_processes(run_id: str) -> List[int]:
    """The run's launcher, step and debug adapter: every process carrying its tag."""
    return _process.tagged({"AMLDEBUG_RUN_ID": run_id})


# -- a real old kernel ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["keep", "_exit", "kill"])
def test_the_new_kernel_attaches_to_the_waiting_step_and_the_run_goes_on(
    how: str, project: Path, out: Path, amldebug_home: Path, leftovers: Leftovers, debugger
) -> None:
    old, ready = old_kernel(leftovers, project, out, how)
    assert old.wait(15) == (-9 if how == "kill" else 0)
    assert running(ready["pid"]), "the debug step did not outlive its kernel"

    [run] = leftovers.adopt()
    assert run.id == ready["run"] and run.status == "Running"
    assert [s.status for s in run.steps.values()] == ["Running", "NotStarted"]
    endpoint = run.wait_for_endpoint("train", timeout=15)  # read again from the step's log
    assert endpoint.address == f"127.0.0.1:{ready['port']}" and endpoint.pid == ready["pid"]
    assert 0 < endpoint.seconds_left() <= ATTACH_TIMEOUT
    assert run.path_mappings("train") == [
        {"localRoot": str(project / "train"), "remoteRoot": str(amldebug_home / "runs" / run.id / "train")}
    ]
    adopted = record(amldebug_home, run.id)
    assert adopted.owner.pid == os.getpid() and adopted.previous_owners[-1].pid == old.pid

    debugger(endpoint, path_mappings=run.path_mappings("train"))  # initialize, attach, configurationDone
    assert run.wait(timeout=30) == "Completed"
    assert [(s.status, s.exit_code) for s in run.steps.values()] == [("Completed", 0), ("Completed", 0)]
    assert out.read_text() == "after ran\n"  # the second step ran, from this kernel
    log = run.logs("train")
    assert "Debugger attached = True" in log and "train ran ['--lr', '0.5']" in log
    done = record(amldebug_home, run.id)
    assert done.status == "Completed" and [(s.status, s.exit_code) for s in done.steps] == [("Completed", 0), ("Completed", 0)]
    assert (amldebug_home / "runs" / run.id / "train" / "user_logs" / "exit_code").read_text() == "0\n"  # by its launcher
    assert all_gone(run_processes(run.id)) and run_processes(run.id) == []


def test_a_step_that_ended_between_the_kernels_is_known_by_its_exit_code(
    project: Path, out: Path, amldebug_home: Path, leftovers: Leftovers
) -> None:
    write(project / "train" / "train.py", "raise SystemExit(3)\n")
    old, ready = old_kernel(leftovers, project, out, "kill", timeout=1)  # runs on without a debugger after 1 s
    assert old.wait(15) == -9
    assert all_gone([ready["pid"]], timeout=15)  # ended while no kernel was there
    assert record(amldebug_home, ready["run"]).steps[0].status == "Running"  # as its kernel left it

    [run] = leftovers.adopt()
    assert run.wait(timeout=15) == "Failed"
    assert [(s.status, s.exit_code) for s in run.steps.values()] == [("Failed", 3), ("NotStarted", None)]
    assert not out.exists()
    assert record(amldebug_home, run.id).status == "Failed"


def test_cancel_an_adopted_waiting_step(project: Path, out: Path, amldebug_home: Path, leftovers: Leftovers) -> None:
    old, ready = old_kernel(leftovers, project, out, "keep")
    assert old.wait(15) == 0
    [run] = leftovers.adopt()
    endpoint = run.wait_for_endpoint("train", timeout=15)
    launcher = record(amldebug_home, run.id).steps[0].process
    assert launcher is not None
    processes = set(run_processes(run.id))
    assert {launcher.pid, endpoint.pid} < processes  # and the step's debug adapter

    t0 = time.monotonic()
    run.cancel()
    assert run.wait(timeout=15) == "Canceled"
    assert time.monotonic() - t0 < 8
    assert [s.status for s in run.steps.values()] == ["Canceled", "NotStarted"]
    assert all_gone(processes), [p for p in processes if running(p)]
    assert run_processes(run.id) == []
    assert not out.exists()
    canceled = record(amldebug_home, run.id)
    assert canceled.status == "Canceled" and [s.status for s in canceled.steps] == ["Canceled", "NotStarted"]


def test_exit_policy_cancel_stops_the_step_with_its_kernel(
    project: Path, out: Path, amldebug_home: Path, leftovers: Leftovers
) -> None:
    old, ready = old_kernel(leftovers, project, out, "cancel")  # it exits as soon as its step waits
    assert old.wait(20) == 0
    ended = record(amldebug_home, ready["run"])
    launcher = ended.steps[0].process
    assert launcher is not None
    assert not running(ready["pid"]) and not running(launcher.pid)  # stopped before the kernel was gone
    assert all_gone(run_processes(ready["run"]), timeout=5)  # its debug adapter too
    assert ended.status == "Canceled" and [s.status for s in ended.steps] == ["Canceled", "NotStarted"]
    assert leftovers.adopt() == []


def test_a_run_is_adopted_once_and_never_from_a_live_kernel(
    project: Path, out: Path, amldebug_home: Path, leftovers: Leftovers
) -> None:
    old, ready = old_kernel(leftovers, project, out, "stdin")
    assert leftovers.adopt() == []  # its kernel still runs it
    assert record(amldebug_home, ready["run"]).owner.pid == old.pid
    old.stdin.write("keep\n")  # type: ignore[union-attr]
    old.stdin.flush()  # type: ignore[union-attr]
    assert old.wait(15) == 0

    assert leftovers.adopt(skip_ids=[ready["run"]]) == []  # the session has it already
    [run] = leftovers.adopt()
    assert leftovers.adopt() == []  # this kernel owns it now
    another = subprocess.run(
        [sys.executable, "-c", "from amldebug_jupyter.backends.local import adopt_runs; print('ADOPTED', len(adopt_runs()))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "ADOPTED 0" in another.stdout, another.stderr  # nor does another kernel, while this one lives
    assert record(amldebug_home, run.id).owner.pid == os.getpid()
    run.cancel()
    assert run.wait(timeout=15) == "Canceled"


# -- records written by hand: between steps, ended unwatched, malformed, many ----------------------


RUN_ID = f"by-hand-{os.getpid()}"
"""Not adopted yet by this process: each test has its own AMLDEBUG_HOME, and adopts it once."""


@pytest.fixture(autouse=True)
def _forget_adopted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids this process adopted are never adopted again; tests reuse RUN_ID in separate homes."""
    from amldebug_jupyter.backends import local

    monkeypatch.setattr(local, "_adopted", set())


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    return proc.pid


def gone_kernel() -> Process:
    return Process(dead_pid(), 1, _process.boot_id(), socket.gethostname())


def write_record(
    home: Path,
    run_id: str,
    steps: List[Dict[str, Any]],
    out: Path,
    owner: Optional[Process] = None,
    status: str = "Running",
    **fields: Any,
) -> Path:
    """A run folder as a kernel that is gone left it: snapshots of ``first`` and ``second``, its record."""
    run_dir = home / "runs" / run_id
    scripts = {"first": "print('first ran')\n", "second": "import sys\nopen(sys.argv[1], 'w').write('second ran\\n')\n"}
    records = []
    for s in steps:
        name = s.pop("name")
        write(run_dir / name / f"{name}.py", scripts[name])
        (run_dir / name / "user_logs").mkdir(parents=True, exist_ok=True)
        code = s.pop("exit_code_file", None)
        if code is not None:
            (run_dir / name / "user_logs" / "exit_code").write_text(f"{code}\n")
        args = [str(out)] if name == "second" else []
        records.append(StepRecord(name, False, f"{name}.py", args, str(home / "src" / name), str(run_dir / name), **s))
    options = {"timeout": 5.0, "port": 0, "stop_on_entry": False, "post_mortem": False, "experiment": ""}
    rec = RunRecord(
        run_id, "p", owner or gone_kernel(), options, records, time.time() - 60, status, python=sys.executable, **fields
    )
    path = run_dir / "run.json"
    local_record.save(path, rec)
    return path


@pytest.mark.parametrize(
    "first, expected",
    [
        ({"status": "Completed", "exit_code": 0}, ("Completed", 0, "Completed", "")),  # restarted between two steps
        ({"status": "Running", "exit_code_file": 0}, ("Completed", 0, "Completed", "")),  # ended while no kernel ran
        ({"status": "Running", "exit_code_file": 3}, ("Failed", 3, "Failed", "")),
        ({"status": "Running"}, ("Failed", None, "Failed", "ended while no kernel watched it; exit code unknown")),
    ],
    ids=["between-steps", "ended-unwatched", "failed-unwatched", "killed-unwatched"],
)
def test_a_run_whose_step_ended_while_no_kernel_watched(
    first: Dict[str, Any], expected: tuple, amldebug_home: Path, out: Path, leftovers: Leftovers
) -> None:
    status, code, final, note = expected
    step = dict(first, name="first", process=Process(dead_pid(), 1, _process.boot_id(), socket.gethostname()))
    write_record(amldebug_home, RUN_ID, [step, {"name": "second"}], out)
    [run] = leftovers.adopt()
    assert run.wait(timeout=30) == final
    assert (run.steps["first"].status, run.steps["first"].exit_code) == (status, code)
    assert run.steps["second"].status == ("Completed" if final == "Completed" else "NotStarted")
    assert out.exists() == (final == "Completed")
    rec = record(amldebug_home, RUN_ID)
    assert rec.status == final and rec.steps[0].note == note
    if note:
        assert any(note in n for n in run.notes)


@pytest.mark.parametrize(
    "owner",
    [
        lambda: Process(os.getpid(), (_process.start_time(os.getpid()) or 0) + 1, _process.boot_id(), socket.gethostname()),
        lambda: Process(os.getpid(), _process.start_time(os.getpid()), "an-earlier-boot", socket.gethostname()),
    ],
    ids=["pid-reused", "machine-restarted"],
)
def test_a_live_pid_of_another_process_is_no_owner(owner, amldebug_home: Path, out: Path, leftovers: Leftovers) -> None:
    write_record(
        amldebug_home, RUN_ID, [{"name": "first", "status": "Completed", "exit_code": 0}, {"name": "second"}], out, owner()
    )
    [run] = leftovers.adopt()
    assert run.wait(timeout=30) == "Completed" and out.exists()


def test_records_it_cannot_use_are_skipped(amldebug_home: Path, out: Path, leftovers: Leftovers, caplog) -> None:
    runs = amldebug_home / "runs"
    for name, raw in {
        "not-json": b"{",
        "a-list": b"[]",
        "empty": b"",
        "not-utf8": b"\xff\xfe\x00{",
        "no-steps": json.dumps({"format": 1, "run_id": "no-steps", "steps": []}).encode(),
    }.items():
        (runs / name).mkdir(parents=True)
        (runs / name / "run.json").write_bytes(raw)
    (runs / "a-directory" / "run.json").mkdir(parents=True)
    good = write_record(amldebug_home, "wrong-types", [{"name": "first"}], out)
    data = json.loads(good.read_text())
    data["steps"][0]["exit_code"] = "zero"
    good.write_text(json.dumps(data))
    write_record(amldebug_home, "other-host", [{"name": "first"}], out, owner=Process(1, 1, "", "some-other-host"))
    write_record(amldebug_home, "in-containers", [{"name": "first"}], out, adoptable=False, image="img")
    write_record(amldebug_home, "copied", [{"name": "first"}], out)
    (runs / "copied").rename(runs / "copied-elsewhere")
    write_record(amldebug_home, "finished", [{"name": "first", "status": "Completed"}], out, status="Completed")

    with caplog.at_level("DEBUG", logger="amldebug_jupyter.backends.local"):
        assert leftovers.adopt() == []
    skipped = caplog.text
    for name in ("not-json", "a-list", "empty", "not-utf8", "no-steps", "a-directory", "wrong-types"):
        assert f"runs/{name}/run.json" in skipped, name
    assert record(amldebug_home, "other-host").status == "Running"  # left as it was


def test_only_the_newest_records_are_read_and_quickly(amldebug_home: Path, out: Path, leftovers: Leftovers) -> None:
    steps = [{"name": "first", "status": "Completed", "exit_code": 0}, {"name": "second", "status": "Completed", "exit_code": 0}]
    old = write_record(amldebug_home, "old-but-unfinished", [dict(s) for s in steps], out)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    for i in range(local_record.NEWEST):
        write_record(amldebug_home, f"finished-{i:02d}", [dict(s) for s in steps], out, status="Completed")

    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        assert leftovers.adopt() == []  # 50 newer finished runs hide the unfinished one
        times.append(time.perf_counter() - t0)
    assert min(times) < 0.2, times

    os.utime(old)  # written again: among the newest now
    [run] = leftovers.adopt()
    assert run.id == "old-but-unfinished" and run.wait(timeout=10) == "Completed"
