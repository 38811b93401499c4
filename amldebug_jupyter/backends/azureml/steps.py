"""Azure ML v1 backend: the user's ``PythonScriptStep``s, rewritten so debug steps wait for a debugger.

A debug step runs our debug entry from a staged copy of its source directory (the user's folder
is never written), with debugpy added to its environment (the user's own pin wins) and
``allow_reuse=False`` (a reused step would never run). Other steps go unchanged. Statuses,
endpoints and logs of all steps are watched together in one loop: step logs are tailed from
their SAS URLs by HTTP Range (``logs_http``), and the endpoint the entry records as a run
property is picked up too. Every call to Azure goes through :class:`AzureMLService`.
"""

from __future__ import annotations

import copy
import logging
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

from amldebug_jupyter.backends.azureml.service import (
    AzureMLService,
    pip_names,
    require_azureml,
    status_of,
)
from amldebug_jupyter.backends.local import amldebug_home, new_run_id, snapshot
from amldebug_jupyter.core.endpoints import Endpoint, seed_port
from amldebug_jupyter.core.events import EndpointFound
from amldebug_jupyter.core.pipeline import Pipeline, Step
from amldebug_jupyter.core.run import (
    CANCELED,
    FAILED,
    RUNNING,
    TERMINAL,
    DebugOptions,
    DebugRun,
    StepState,
)
from amldebug_jupyter.core.status import StepStatus
from amldebug_jupyter.errors import BackendError, SpecError
from amldebug_jupyter.instrument import ENTRY_FILE, ENTRY_NAME
from amldebug_jupyter.logs.blob import blob_log_sources, http_get, matching
from amldebug_jupyter.logs.tail import LogTailer

log = logging.getLogger(__name__)

SEED_NOTE = (
    "Seed-instrumented steps listen where their own code says. The document's first snippet passes the "
    "client's IP to debugpy.listen, which fails on the node ('Cannot assign requested address'): listen on "
    "socket.gethostbyname(socket.gethostname()), the node's own address, as its full example does."
)


def add_debugpy(runconfig: Any) -> Optional[str]:
    """Make debugpy part of the step's environment; returns a note when that cannot be done."""
    env = runconfig.environment
    if env.python.user_managed_dependencies:
        return f"environment '{env.name}' is user-managed: make sure debugpy is installed in it."
    add_pip_packages(env, ["debugpy"])
    return None


def add_pip_packages(env: Any, packages: List[str]) -> None:
    """Add pip packages the environment lacks (the user's own pins win); a registered or curated
    environment is renamed first, because it must not change under its own name."""
    deps = env.python.conda_dependencies
    present = set(pip_names(list(deps.pip_packages)) + pip_names(list(deps.conda_packages)))
    missing = [p for p in packages if pip_names([p])[0] not in present]
    for package in missing:
        deps.add_pip_package(package)
    if missing and (env.version is not None or (env.name or "").startswith("AzureML-")):
        env.name, env.version = f"{env.name}-amldebug", None


def _client_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def rewrite_step(step: Step, options: DebugOptions, staging: Path, seed_args: bool = False) -> Any:
    """The PythonScriptStep to submit for ``step``: the user's own unless it is a debug step."""
    from azureml.core import RunConfiguration
    from azureml.pipeline.steps import PythonScriptStep

    original = step.origin
    if not step.debug:
        return original
    runconfig = copy.deepcopy(original._runconfig) if original._runconfig is not None else RunConfiguration()
    add_debugpy(runconfig)
    user_args = list(original._arguments or [])
    if seed_args:
        script, source = original._script_name, original._source_directory
        arguments = user_args + [
            "--remote_debug",
            "--remote_debug_connection_timeout",
            int(options.timeout),
            "--remote_debug_client_ip",
            _client_ip(),
            "--remote_debug_port",
            options.port or 5678,
        ]
    else:
        staged = staging / step.name
        snapshot(step.source_path, staged, staging)
        shutil.copyfile(ENTRY_FILE, staged / ENTRY_NAME)
        script, source = ENTRY_NAME, str(staged)
        flags = (["--stop-on-entry"] if options.stop_on_entry else []) + (["--post-mortem"] if options.post_mortem else [])
        arguments = [
            "--host",
            "auto",
            "--port",
            str(options.port),
            "--timeout",
            f"{options.timeout:g}",
            "--step",
            step.name,
            *flags,
            "--",
            original._script_name,
            *user_args,
        ]
    params = {k: v for k, v in (original._params or {}).items() if not any(v is a for a in user_args)}
    return PythonScriptStep(
        script_name=script,
        name=original.name,
        arguments=arguments,
        compute_target=original._compute_target,
        runconfig=runconfig,
        runconfig_pipeline_params=original._runconfig_pipeline_params,
        inputs=original._inputs or None,
        outputs=original._outputs or None,
        params=params or None,
        source_directory=source,
        allow_reuse=False,
        version=original._version,
    )


def rewrite_pipeline(pipeline: Pipeline, options: DebugOptions, staging: Path, seed_args: bool = False) -> List[Any]:
    """All steps to submit, with ``run_after`` order carried over to rewritten steps."""
    for step in pipeline.steps:
        if step.origin is None or not hasattr(step.origin, "_script_name"):
            raise SpecError(
                f"Step '{step.name}' is not a PythonScriptStep: --backend azureml takes a v1 Pipeline or a "
                "list of PythonScriptStep (a light amldebug Pipeline runs on --backend local)."
            )
    new = {id(s.origin): rewrite_step(s, options, staging, seed_args) for s in pipeline.steps}
    for step in pipeline.steps:
        rewritten = new[id(step.origin)]
        if rewritten is not step.origin:
            for before in getattr(step.origin, "run_after_steps", None) or []:
                rewritten.run_after(new.get(id(before), before))
    return [new[id(s.origin)] for s in pipeline.steps]


class AzureMLBackend:
    name = "azureml"

    def __init__(
        self,
        workspace: Any = None,
        seed_args: bool = False,
        poll_interval: float = 1.5,
        idle_interval: float = 5.0,
        service: Optional[AzureMLService] = None,
    ) -> None:
        require_azureml()
        self.workspace = workspace
        self.seed_args = seed_args
        self.poll_interval = poll_interval
        self.idle_interval = idle_interval
        self.service = service or AzureMLService()
        self._runs: Dict[str, Any] = {}
        self._children: Dict[str, Dict[str, Any]] = {}

    # -- submit --------------------------------------------------------------------------
    def submit(self, pipeline: Pipeline, options: DebugOptions) -> DebugRun:
        workspace = self.service.workspace(self.workspace)
        staging = amldebug_home() / "staging" / new_run_id(options.experiment or pipeline.name)
        steps = rewrite_pipeline(pipeline, options, staging, self.seed_args)
        experiment = options.experiment or pipeline.name
        azure_run = self.service.submit(workspace, experiment, steps, description=f"{pipeline.name} (amldebug)")
        run_id = self.service.run_id(azure_run)
        states = {s.name: StepState(s.name, s.debug, s.source_path, Path("."), log_dir=Path(".")) for s in pipeline.steps}
        run = DebugRun(run_id, pipeline, self, options, states, run_dir=staging)
        portal = self.service.portal_url(azure_run)
        if portal:
            run.links["Azure ML studio"] = portal
        if self.seed_args and any(s.debug for s in pipeline.steps):
            run.notes.append(SEED_NOTE)
        self._runs[run_id] = azure_run
        self._children[run_id] = {}
        run.set_status(StepStatus.RUNNING)
        threading.Thread(target=self._watch, args=(run, azure_run), name=f"amldebug-azureml-{run_id}", daemon=True).start()
        return run

    # -- watching ------------------------------------------------------------------------
    def _watch(self, run: DebugRun, azure_run: Any) -> None:
        tailer = LogTailer(self.poll_interval)
        tailer.subscribe(run.handle_log_event)
        watched: Set[str] = set()
        children = self._children[run.id]
        failures = 0
        while True:
            try:
                children.update(self.service.step_runs(azure_run))
                for name, child in children.items():
                    if name not in run.steps:
                        continue
                    if name not in watched:
                        step = run.pipeline.step(name)
                        tailer.watch(name, blob_log_sources(lambda c=child: self.service.log_files(c)), seed_port(step.arguments))
                        watched.add(name)
                    self._update_step(run, name, child)
                tailer.poll_once()
                final = status_of(self.service.status(azure_run))
                failures = 0
                if final in TERMINAL:
                    self._finish(run, tailer, final)
                    return
            except Exception as e:  # a service hiccup: keep watching, slower
                failures += 1
                log.warning("watching run %s failed (%s); retrying", run.id, type(e).__name__)
                if failures >= 20:
                    run.notes.append(f"Stopped watching run {run.id} after repeated service errors ({e}).")
                    run.set_status(FAILED)
                    return
            busy = any(s.debug and s.status not in TERMINAL and s.endpoint is None for s in run.steps.values())
            time.sleep(self.poll_interval if busy else self.idle_interval)

    def _update_step(self, run: DebugRun, name: str, child: Any) -> None:
        state = run.steps[name]
        status = status_of(self.service.status(child))
        if status != state.status:
            run.set_step_status(name, status)
        if state.debug and state.endpoint is None:
            recorded = self.service.properties(child).get("amldebug_endpoint_start")
            if recorded:
                run.handle_log_event(EndpointFound(Endpoint.from_json(recorded, step=name)))

    def _finish(self, run: DebugRun, tailer: LogTailer, final: str) -> None:
        for name, child in self._children[run.id].items():
            if name in run.steps:
                self._update_step(run, name, child)
        tailer.stop(drain=True)
        for state in run.steps.values():
            if state.status == RUNNING and final == CANCELED:
                run.set_step_status(state.name, CANCELED)
        run.set_status(final)

    # -- actions -------------------------------------------------------------------------
    def cancel(self, run: DebugRun) -> None:
        self.service.cancel(self._runs[run.id])

    def log_sources(self, run: DebugRun, step: str):  # type: ignore[no-untyped-def]
        child = self._children.get(run.id, {}).get(step)
        return blob_log_sources(lambda: self.service.log_files(child) if child is not None else {})

    def log_text(self, run: DebugRun, step: str) -> str:
        child = self._children.get(run.id, {}).get(step)
        if child is None:
            return ""
        files = self.service.log_files(child)
        parts = []
        for name in matching(files):
            try:
                status, _headers, body = http_get(files[name], {}, 30.0)
            except (OSError, ValueError) as e:  # their texts hold no SAS token (http_get scrubs them)
                raise BackendError(f"Could not read the log {name} of step '{step}': {e}") from None
            if status != 200:
                why = " (access denied: the signed URL may have expired; try again)" if status == 403 else ""
                raise BackendError(f"Could not read the log {name} of step '{step}': HTTP {status}{why}.")
            parts.append(body.decode("utf-8", errors="replace"))
        return "".join(parts)
