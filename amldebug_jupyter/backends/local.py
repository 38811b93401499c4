"""The embedded default backend: steps run as local processes from AML-like run folders.

Layout (``AMLDEBUG_HOME`` defaults to ``~/.amldebug``)::

    $AMLDEBUG_HOME/runs/<run>/<step>/            snapshot of the step's source_directory
    $AMLDEBUG_HOME/runs/<run>/<step>/user_logs/std_log.txt   stdout + stderr, as on Azure ML

The user's folder is only read, never written. Steps run in order, each in its own process
group so that cancel also stops anything the script started (debugpy's adapter daemonizes
into its own session and leaves by itself once its debuggee is gone).
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
from functools import partial
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Set

from amldebug_jupyter import _process
from amldebug_jupyter.core.endpoints import seed_port
from amldebug_jupyter.core.pipeline import Pipeline, Step
from amldebug_jupyter.core.run import (
    CANCELED,
    COMPLETED,
    FAILED,
    RUNNING,
    DebugOptions,
    DebugRun,
    StepState,
)
from amldebug_jupyter.docker.containers import StepContainer
from amldebug_jupyter.errors import BackendError, SpecError, UserError
from amldebug_jupyter.instrument import ENTRY_FILE, ENTRY_NAME
from amldebug_jupyter.logs.tail import (
    LOG_PATTERNS,
    LogSource,
    LogTailer,
    local_log_sources,
)

log = logging.getLogger(__name__)

STD_LOG = "user_logs/std_log.txt"
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
    """Steps still running in this interpreter: stopped at its exit (kernel shutdown)."""

    ADAPTER_GRACE = 2.0
    """Seconds a finished step's adapter gets to end by itself (it does, unless a stray client holds it)."""

    def __init__(self, argv: List[str], folder: Path, env: Dict[str, str], log_path: Path) -> None:
        self.tags = {name: env[name] for name in ("AMLDEBUG_RUN_ID", "AMLDEBUG_STEP")}
        self.proc = _process.spawn_logged(argv, folder, env, log_path)
        _StepProcess.live.add(self)

    def wait(self) -> int:
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


atexit.register(_StepProcess.stop_all)


class _LocalRun:
    """Backend-private state of one run: the tailer, the current process, the cancel flag."""

    def __init__(self, tailer: LogTailer) -> None:
        self.tailer = tailer
        self.proc = None
        self.canceled = threading.Event()
        self.lock = threading.Lock()


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
        tailer = LogTailer(self.poll_interval)
        for step in pipeline.steps:
            tailer.watch(step.name, self.log_sources(run, step.name), seed_port(step.arguments))
        tailer.subscribe(run.handle_log_event)
        local = self._runs[run_id] = _LocalRun(tailer)
        run.set_status(RUNNING)
        tailer.start()
        threading.Thread(target=self._run_steps, args=(run, local), name=f"amldebug-{run_id}", daemon=True).start()
        return run

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
        final = COMPLETED
        try:
            for step in run.pipeline.steps:
                if local.canceled.is_set():
                    final = CANCELED
                    break
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
            run.set_status(final)

    def _run_step(self, run: DebugRun, local: _LocalRun, step: Step) -> str:
        state = run.steps[step.name]
        env = dict({} if self.image else os.environ, PYTHONUNBUFFERED="1", AMLDEBUG_RUN_ID=run.id, AMLDEBUG_STEP=step.name)
        if step.debug:
            env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        start = partial(StepContainer, self.image) if self.image else _StepProcess
        with local.lock:
            if local.canceled.is_set():
                return CANCELED
            try:
                local.proc = start(self.command(step, state, run.options), state.remote_root, env, state.remote_root / STD_LOG)
            except UserError as e:  # the step's log says why it never ran
                with open(state.remote_root / STD_LOG, "a") as log_file:
                    log_file.write(f"amldebug: {e}\n")
                run.set_step_status(step.name, FAILED)
                return FAILED
        run.set_step_status(step.name, RUNNING)
        code = local.proc.wait()
        local.tailer.poll_once()  # the step's last lines reach the run before its status does
        if local.canceled.is_set():
            status = CANCELED
        else:
            status = COMPLETED if code == 0 else FAILED
        run.set_step_status(step.name, status, exit_code=code)
        return status

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
