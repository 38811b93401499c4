"""The embedded default backend: steps run as local processes from AML-like run folders.

Layout (``AMLDEBUG_HOME`` defaults to ``~/.amldebug``)::

    $AMLDEBUG_HOME/runs/<run>/<step>/            snapshot of the step's source_directory
    $AMLDEBUG_HOME/runs/<run>/<step>/user_logs/std_log.txt   stdout + stderr, as on Azure ML
    $AMLDEBUG_HOME/runs/<run>/<step>/user_logs/exit_code     how the step ended (its launcher writes it)
    $AMLDEBUG_HOME/runs/<run>/run.json                       the run's record (local_record.py)

The user's folder is only read, never written. Steps run in order, each in its own process
group so that cancel also stops anything the script started (debugpy's adapter daemonizes
into its own session and leaves by itself once its debuggee is gone).

A run outlives its kernel when asked to: with :func:`set_exit_policy` ``"keep"`` the interpreter's
exit leaves its steps running (``"cancel"``, the default, stops them), and a kernel killed outright
leaves them too. :func:`adopt_runs` in the next kernel finds such runs by their records, watches the
running step by pid until it ends (its launcher recorded the exit code), and runs the remaining steps.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import sys
import threading
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Protocol, Set

from amldebug_jupyter import _process
from amldebug_jupyter.backends import local_record
from amldebug_jupyter.backends.local_record import (
    EXIT_CODE,
    LAUNCHER_PID,
    RECORD_NAME,
    Process,
    RunRecord,
    StepRecord,
)
from amldebug_jupyter.core.backend import LogSource
from amldebug_jupyter.core.endpoints import seed_port
from amldebug_jupyter.core.pipeline import Pipeline, Step
from amldebug_jupyter.core.run import (
    CANCELED,
    COMPLETED,
    FAILED,
    NOT_STARTED,
    RUNNING,
    DebugOptions,
    DebugRun,
    StepState,
)
from amldebug_jupyter.core.status import TERMINAL, StepStatus
from amldebug_jupyter.docker.containers import StepContainer
from amldebug_jupyter.errors import BackendError, SpecError, UserError
from amldebug_jupyter.instrument import ENTRY_FILE, ENTRY_NAME
from amldebug_jupyter.logs.tail import LOG_PATTERNS, LogTailer, local_log_sources

log = logging.getLogger(__name__)

STD_LOG = "user_logs/std_log.txt"
LAUNCHER_FILE = Path(__file__).with_name("local_launcher.py")
EXIT_POLICIES = ("cancel", "keep")
UNKNOWN_END = "ended while no kernel watched it; exit code unknown"
_SKIP = {".git", "__pycache__", ".ipynb_checkpoints", ".amldebug", ".venv", "node_modules"}


def amldebug_home() -> Path:
    return Path(os.environ.get("AMLDEBUG_HOME") or Path.home() / ".amldebug").expanduser()


def new_run_id(pipeline_name: str) -> str:
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in pipeline_name).strip("-") or "run"
    return f"{slug}_{time.strftime('%Y%m%d-%H%M%S')}_{secrets.token_hex(2)}"


def snapshot(source: Path, dest: Path, runs_root: Path) -> None:
    """Copy the step's folder as Azure ML would snapshot it, skipping caches and our own runs."""

    def ignore(folder: str, names: List[str]) -> List[str]:
        here = Path(folder)
        return [n for n in names if n in _SKIP or (here / n).resolve() == runs_root]

    try:
        shutil.copytree(source, dest, ignore=ignore, dirs_exist_ok=True)
    except (OSError, shutil.Error) as e:
        raise BackendError(f"Could not copy {source} into the run folder {dest}: {e}") from None


class _StepProcess:
    """A step run as a process in its own group; its debug adapter (which leaves the group) is
    found by the step's tags in its environment, and goes when the step does."""

    live: "Set[_StepProcess]" = set()
    """Steps still running in this interpreter: stopped at its exit (kernel shutdown) unless the exit policy is "keep"."""

    ADAPTER_GRACE = 2.0
    """Seconds a finished step's adapter gets to end by itself (it does, unless a stray client holds it)."""

    def __init__(self, argv: List[str], folder: Path, env: Dict[str, str], log_path: Path) -> None:
        self.tags = {name: env[name] for name in ("AMLDEBUG_RUN_ID", "AMLDEBUG_STEP")}
        state_dir = log_path.parent
        state_dir.mkdir(parents=True, exist_ok=True)
        for stale in (EXIT_CODE, LAUNCHER_PID):
            (state_dir / stale).unlink(missing_ok=True)
        self.proc = _process.spawn_logged(launched(argv, state_dir), folder, env, log_path)
        self.process = Process.of(self.proc.pid)
        _StepProcess.live.add(self)

    def wait(self) -> Optional[int]:
        code = self.proc.wait()
        _process.reap_group(self.proc.pid)
        _process.kill_tagged(self.tags, grace=self.ADAPTER_GRACE)
        _StepProcess.live.discard(self)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            _process.kill_group(self.proc)
        _process.kill_tagged(self.tags)

    @classmethod
    def stop_all(cls) -> None:
        for step in list(cls.live):
            step.stop()


def launched(argv: List[str], state_dir: Path) -> List[str]:
    """``argv`` run by :mod:`.local_launcher`, which records its exit code in ``state_dir``.

    The launcher runs in this interpreter's Python (whatever Python the step uses), isolated:
    it imports nothing beyond the standard library.
    """
    return [sys.executable or argv[0], "-I", "-S", str(LAUNCHER_FILE), str(state_dir), "--", *argv]


class _AdoptedProcess:
    """A step process a kernel that is gone started: watched by pid, stopped by its process group."""

    POLL = 0.2
    """Seconds between two looks at whether it still runs."""

    def __init__(self, process: Optional[Process], tags: Dict[str, str], log_dir: Path) -> None:
        self.process = process
        self.tags = tags
        self.log_dir = log_dir

    def running(self) -> bool:
        return self.process is not None and self.process.alive() is True

    def wait(self) -> Optional[int]:
        """Its exit code once it is gone; None when nothing recorded one (killed with its launcher)."""
        while self.running():
            time.sleep(self.POLL)
        _process.kill_tagged(self.tags, grace=_StepProcess.ADAPTER_GRACE)
        return local_record.read_exit_code(self.log_dir)

    def stop(self) -> None:
        if self.process is not None and self.running():
            _process.stop_group(self.process.pid, self.process.start_time)
        _process.kill_tagged(self.tags)


class _Proc(Protocol):
    def wait(self) -> Optional[int]: ...

    def stop(self) -> None: ...


class _LocalRun:
    """Backend-private state of one run: the tailer, the current process, the cancel flag, its record."""

    live: "Set[_LocalRun]" = set()
    """Runs this interpreter is running: canceled at its exit unless the exit policy is "keep"."""

    def __init__(self, backend: "LocalBackend", run: DebugRun, tailer: LogTailer) -> None:
        self.backend = backend
        self.run = run
        self.tailer = tailer
        self.proc: Optional[_Proc] = None
        self.canceled = threading.Event()
        self.lock = threading.Lock()
        self.record_path = (run.run_dir or amldebug_home() / "runs" / run.id) / RECORD_NAME
        self.record_lock = threading.Lock()
        self.frozen = False
        """Set once the exit handler wrote the run's last record: later writes would be older news."""
        self.owner = Process.of(os.getpid())
        self.previous_owners: List[Process] = []
        self.processes: Dict[str, Process] = {}
        self.step_notes: Dict[str, str] = {}


_exit_policy = "cancel"


def set_exit_policy(policy: str) -> None:
    """What this interpreter's exit does to the local steps still running.

    ``"cancel"`` (the default) stops them, as a canceled run; ``"keep"`` leaves them running with
    their run records, for :func:`adopt_runs` in the next kernel (e.g. on a kernel restart).
    """
    global _exit_policy
    if policy not in EXIT_POLICIES:
        raise UserError(f"Exit policy {policy!r}: choose one of {', '.join(EXIT_POLICIES)}.")
    _exit_policy = policy


def exit_policy() -> str:
    return _exit_policy


def _at_exit() -> None:
    if _exit_policy == "keep":
        return
    for local in list(_LocalRun.live):
        if local.owner.pid == os.getpid():  # not in a forked child: its parent's runs are not its own
            try:
                local.backend._cancel_at_exit(local)
            except Exception:  # pragma: no cover - the other runs still get stopped
                log.exception("stopping local run %s at exit failed", local.run.id)
    _StepProcess.stop_all()


atexit.register(_at_exit)


class LocalBackend:
    name = "local"

    def __init__(self, python: str = sys.executable, poll_interval: float = 0.1, image: Optional[str] = None) -> None:
        """``image``: run each step in a container of that image (its ``python3``) instead of a process."""
        self.python = "python3" if image else python
        self.poll_interval = poll_interval
        self.image = image
        self._runs: Dict[str, _LocalRun] = {}

    # -- submit --------------------------------------------------------------------------
    def submit(self, pipeline: Pipeline, options: DebugOptions) -> DebugRun:
        for step in pipeline.steps:
            _check_runs_here(step)
        runs_root = (amldebug_home() / "runs").resolve()
        run_id = new_run_id(options.experiment or pipeline.name)
        run_dir = runs_root / run_id
        states: Dict[str, StepState] = {}
        for step in pipeline.steps:
            step_dir = run_dir / step.name
            snapshot(step.source_path, step_dir, runs_root)
            if step.debug:
                shutil.copyfile(ENTRY_FILE, step_dir / ENTRY_NAME)
            states[step.name] = StepState(step.name, step.debug, step.source_path, step_dir, log_dir=step_dir / "user_logs")
        run = DebugRun(run_id, pipeline, self, options, states, run_dir=run_dir)
        local = self._track(run)
        run.set_status(RUNNING)
        self._save(run, local)
        self._start(run, local)
        return run

    def _track(self, run: DebugRun) -> _LocalRun:
        tailer = LogTailer(self.poll_interval)
        for step in run.pipeline.steps:
            tailer.watch(step.name, self.log_sources(run, step.name), seed_port(step.arguments))
        tailer.subscribe(run.handle_log_event)
        local = self._runs[run.id] = _LocalRun(self, run, tailer)
        _LocalRun.live.add(local)
        return local

    def _start(self, run: DebugRun, local: _LocalRun) -> None:
        local.tailer.start()
        threading.Thread(target=self._run_steps, args=(run, local), name=f"amldebug-{run.id}", daemon=True).start()

    def command(self, step: Step, state: StepState, options: DebugOptions) -> List[str]:
        if not step.debug:
            return [self.python, "-u", step.script, *step.arguments]
        argv = [
            self.python,
            "-u",
            ENTRY_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(options.port),
            "--timeout",
            f"{options.timeout:g}",
            "--step",
            step.name,
            "--remote-root",
            str(state.remote_root),
        ]
        if options.stop_on_entry:
            argv.append("--stop-on-entry")
        if options.post_mortem:
            argv.append("--post-mortem")
        return argv + ["--", step.script, *step.arguments]

    # -- execution -----------------------------------------------------------------------
    def _run_steps(self, run: DebugRun, local: _LocalRun) -> None:
        final: StepStatus = COMPLETED
        try:
            for step in run.pipeline.steps:
                status = run.steps[step.name].status
                if status == COMPLETED:  # an adopted run: done before this kernel took it over
                    continue
                if status in TERMINAL:
                    final = status
                    break
                if status == RUNNING:  # an adopted run: the step a kernel that is gone started
                    status = self._watch_step(run, local, step)
                elif local.canceled.is_set():
                    final = CANCELED
                    break
                else:
                    status = self._run_step(run, local, step)
                if status != COMPLETED:
                    final = status
                    break
        except Exception:  # pragma: no cover - keep the run's state truthful
            log.exception("local run %s failed", run.id)
            final = FAILED
        finally:
            local.tailer.stop(drain=True)
            self._runs.pop(run.id, None)
            _LocalRun.live.discard(local)
            self._save(run, local, lambda record: setattr(record, "status", str(final)))  # before run.wait() returns
            run.set_status(final)

    def _run_step(self, run: DebugRun, local: _LocalRun, step: Step) -> StepStatus:
        state = run.steps[step.name]
        env = dict({} if self.image else os.environ, PYTHONUNBUFFERED="1", AMLDEBUG_RUN_ID=run.id, AMLDEBUG_STEP=step.name)
        if step.debug:
            env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        start = partial(StepContainer, self.image) if self.image else _StepProcess
        with local.lock:
            if local.canceled.is_set():
                return CANCELED
            try:
                proc = start(self.command(step, state, run.options), state.remote_root, env, state.remote_root / STD_LOG)
            except UserError as e:  # the step's log says why it never ran
                with open(state.remote_root / STD_LOG, "a") as log_file:
                    log_file.write(f"amldebug: {e}\n")
                self._set_step(run, local, step.name, FAILED)
                return FAILED
            local.proc = proc
            if isinstance(proc, _StepProcess):
                local.processes[step.name] = proc.process
        self._set_step(run, local, step.name, RUNNING)
        code = proc.wait()
        local.tailer.poll_once()  # the step's last lines reach the run before its status does
        if local.canceled.is_set():
            status = CANCELED
        else:
            status = COMPLETED if code == 0 else FAILED
        self._set_step(run, local, step.name, status, exit_code=code)
        return status

    def _watch_step(self, run: DebugRun, local: _LocalRun, step: Step) -> StepStatus:
        """Follow an adopted step to its end: the status its recorded exit code says."""
        proc = local.proc
        code = proc.wait() if proc is not None else local_record.read_exit_code(run.steps[step.name].log_dir)
        local.tailer.poll_once()
        if local.canceled.is_set():
            status = CANCELED
        elif code is None:
            status = FAILED
            local.step_notes[step.name] = UNKNOWN_END
            run.notes.append(f"Step '{step.name}' {UNKNOWN_END}.")
        else:
            status = COMPLETED if code == 0 else FAILED
        self._set_step(run, local, step.name, status, exit_code=code)
        return status

    def _set_step(self, run: DebugRun, local: _LocalRun, step: str, status: StepStatus, exit_code: Optional[int] = None) -> None:
        """The step's new status, in its record first: whoever the run tells can read it there."""

        def change(record: RunRecord) -> None:
            s = next(s for s in record.steps if s.name == step)
            s.status, now = str(status), time.time()
            if status == RUNNING:
                s.started_at = now
            if status in TERMINAL:
                s.exit_code, s.finished_at = exit_code, now

        self._save(run, local, change)
        run.set_step_status(step, status, exit_code=exit_code)

    # -- the run record ------------------------------------------------------------------
    def _record(self, run: DebugRun, local: _LocalRun) -> RunRecord:
        steps = []
        for step in run.pipeline.steps:
            s = run.steps[step.name]
            steps.append(
                StepRecord(
                    name=step.name,
                    debug=step.debug,
                    script=step.script,
                    arguments=[str(a) for a in step.arguments],
                    source=str(s.local_root),
                    remote_root=str(s.remote_root),
                    status=str(s.status),
                    exit_code=s.exit_code,
                    process=local.processes.get(step.name),
                    started_at=s.started_at,
                    finished_at=s.finished_at,
                    note=local.step_notes.get(step.name, ""),
                )
            )
        return RunRecord(
            run_id=run.id,
            pipeline=run.pipeline.name,
            owner=local.owner,
            options=asdict(run.options),
            steps=steps,
            submitted_at=run.submitted_at,
            status=str(run.status),
            adoptable=self.image is None,
            python=self.python,
            image=self.image,
            notes=list(run.notes),
            previous_owners=list(local.previous_owners),
        )

    def _save(
        self, run: DebugRun, local: _LocalRun, edit: Optional[Callable[[RunRecord], None]] = None, last: bool = False
    ) -> None:
        """Write the run's record (a failed write is logged: the run itself goes on); ``last``: no
        later write replaces this one (decided under the same lock, so none can slip in between)."""
        with local.record_lock:
            if local.frozen:
                return
            local.frozen = last
            record = self._record(run, local)
            if edit is not None:
                edit(record)
            try:
                local_record.save(local.record_path, record)
            except OSError as e:
                log.warning("could not write the record of run %s (%s): %s", run.id, local.record_path, e)

    def _cancel_at_exit(self, local: _LocalRun) -> None:
        """The interpreter exits under policy "cancel": stop the run and write its end now
        (the run's own thread may not get to)."""
        self.cancel(local.run)

        def canceled(record: RunRecord) -> None:
            now = time.time()
            for s in record.steps:
                if s.status == RUNNING:
                    s.status, s.finished_at = str(CANCELED), s.finished_at or now
            if not record.terminal:
                record.status = str(CANCELED)

        self._save(local.run, local, canceled, last=True)

    # -- adoption ------------------------------------------------------------------------
    def _adopt(self, record: RunRecord, path: Path) -> DebugRun:
        """Take over a run whose kernel is gone: rebuild it from its record and carry it on."""
        steps, states = [], {}
        for s in record.steps:
            remote = Path(s.remote_root)
            steps.append(Step(s.name, s.script, s.source, s.arguments, debug=s.debug))
            states[s.name] = StepState(
                s.name,
                s.debug,
                Path(s.source),
                remote,
                log_dir=remote / "user_logs",
                status=StepStatus(s.status),
                exit_code=s.exit_code,
                started_at=s.started_at,
                finished_at=s.finished_at,
            )
        run = DebugRun(record.run_id, Pipeline(record.pipeline, steps), self, DebugOptions(**record.options), states, path.parent)
        run.submitted_at = record.submitted_at
        run.notes = list(record.notes)
        local = self._track(run)
        local.previous_owners = [*record.previous_owners, record.owner]
        local.processes = {s.name: s.process for s in record.steps if s.process is not None}
        local.step_notes = {s.name: s.note for s in record.steps if s.note}
        current = next((s for s in record.steps if s.status != COMPLETED), None)
        if current is not None and current.status in (RUNNING, NOT_STARTED):
            state = states[current.name]
            launcher = local_record.read_launcher(state.log_dir)
            if current.status == NOT_STARTED and launcher is not None:
                state.status = RUNNING  # started as its kernel went, before it was recorded
            if state.status == RUNNING:
                process = current.process or launcher
                if process is not None:
                    local.processes[current.name] = process
                tags = {"AMLDEBUG_RUN_ID": run.id, "AMLDEBUG_STEP": current.name}
                local.proc = _AdoptedProcess(process, tags, state.log_dir)
        run.notes.append(f"Adopted by this kernel (pid {os.getpid()}) from one that is gone (pid {record.owner.pid}).")
        run.set_status(RUNNING)
        self._save(run, local)
        self._start(run, local)
        return run

    def cancel(self, run: DebugRun) -> None:
        local = self._runs.get(run.id)
        if local is None:
            return
        with local.lock:
            local.canceled.set()
            proc = local.proc
        if proc is not None:
            proc.stop()

    # -- logs ----------------------------------------------------------------------------
    def log_sources(self, run: DebugRun, step: str) -> Callable[[], Iterable[LogSource]]:
        return local_log_sources(run.steps[step].remote_root)

    def log_text(self, run: DebugRun, step: str) -> str:
        root = run.steps[step].remote_root
        files = [p for pattern in LOG_PATTERNS for p in sorted(root.glob(pattern))]
        return "".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def _check_runs_here(step: Step) -> None:
    """Arguments that only have a value on the step's own service cannot run on this machine."""
    if step.remote_only:
        raise SpecError(f"Step '{step.name}': {step.remote_only[0]}, or pass plain values to run it locally.")


# -- runs a kernel that is gone left running --------------------------------------------------

_adopted: Set[str] = set()
"""Ids of the runs this interpreter adopted (never adopted twice)."""


def adopt_runs(skip_ids: Iterable[str] = ()) -> List[DebugRun]:
    """Take over the local runs whose kernel is gone while they were still going (a kernel restart).

    Looks at the :data:`~.local_record.NEWEST` most recent run records under ``amldebug_home()``;
    adopts each that is not over, whose owner process is gone (dead, or its pid reused) and whose id
    is not in ``skip_ids``. An adopted run is the same :class:`DebugRun` a submit returns: its logs
    are read again from the start (so a waiting step's endpoint and deadline are back), its running
    step is watched by pid until it ends (its status then comes from its recorded exit code), and
    the steps after it run as in any run; ``cancel`` stops the step's process group and its debug
    adapter. A run between two steps is carried on with the next one. Records this cannot use
    (malformed, another host's, steps in containers) are skipped, never raised about.
    """
    skip = set(skip_ids) | _adopted
    runs: List[DebugRun] = []
    for path in local_record.newest(amldebug_home() / "runs"):
        try:
            run = _adopt_record(path, skip)
        except (OSError, ValueError, TypeError, KeyError) as e:
            log.debug("not adopting the local run recorded in %s: %s", path, e)
            continue
        except Exception:  # pragma: no cover - adopting must never break loading the extension
            log.warning("adopting the local run recorded in %s failed", path, exc_info=True)
            continue
        if run is not None:
            _adopted.add(run.id)
            runs.append(run)
    return runs


def _adoptable(record: RunRecord, path: Path, skip: Set[str]) -> bool:
    return (
        record.run_id == path.parent.name
        and record.run_id not in skip
        and record.backend == LocalBackend.name
        and record.adoptable
        and not record.terminal
        and record.owner.alive() is False  # None: another host's run, nothing here can tell
    )


def _adopt_record(path: Path, skip: Set[str]) -> Optional[DebugRun]:
    if not _adoptable(local_record.load(path), path, skip):
        return None
    with local_record.locked(path.parent) as held:
        if not held:
            return None  # another kernel is adopting it right now
        record = local_record.load(path)  # again, under the lock: it may have been adopted meanwhile
        if not _adoptable(record, path, skip):
            return None
        return LocalBackend(python=record.python or sys.executable)._adopt(record, path)
