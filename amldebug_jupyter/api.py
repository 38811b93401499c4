"""The plain-Python twins of the ``%aml_debug`` magics: everything the magics do, callable from code.

=====================================  =============================================
``%aml_debug pipeline submit``         :func:`submit`
``%aml_debug experiment run``          :func:`run_script`
``%aml_debug image build``             :func:`build_image`
``%aml_debug container run``           :func:`run_container`
``%aml_debug container score|logs``    :func:`score`, :func:`container_logs`
``%aml_debug container restart|stop``  :func:`restart_container`, :func:`stop_container`
``%aml_debug attach|detach``           :func:`attach`, :func:`detach`
``%aml_debug status|cancel``           :func:`find_run` (``.status``), :func:`cancel`
``%aml_debug launch-json``             :func:`write_launch_json`
=====================================  =============================================
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, List, Optional, Sequence, Union

from amldebug_jupyter import bridge
from amldebug_jupyter.backends import get_backend
from amldebug_jupyter.backends.azureml.spec import from_azureml, is_azureml_object
from amldebug_jupyter.bridge.launchjson import write_attach_config
from amldebug_jupyter.core import context
from amldebug_jupyter.core.pipeline import Pipeline, Step
from amldebug_jupyter.core.run import DebugOptions, DebugRun
from amldebug_jupyter.deploy import images, model_package, scoring
from amldebug_jupyter.deploy.scoring import restart_container, score, stop_container
from amldebug_jupyter.errors import UserError

__all__ = [
    "as_pipeline",
    "attach",
    "build_image",
    "cancel",
    "container_logs",
    "detach",
    "find_run",
    "restart_container",
    "run_container",
    "run_script",
    "score",
    "stop_container",
    "submit",
    "write_launch_json",
]

PipelineLike = Union[Pipeline, str, "os.PathLike[str]"]


def as_pipeline(pipeline: PipelineLike) -> Pipeline:
    """Accept a :class:`Pipeline`, the path of a YAML spec, or azureml v1 steps/pipeline."""
    if isinstance(pipeline, Pipeline):
        return pipeline
    if isinstance(pipeline, (str, os.PathLike)):
        return Pipeline.from_yaml(Path(pipeline))
    if is_azureml_object(pipeline):
        return from_azureml(pipeline)
    raise UserError(f"Expected an amldebug_jupyter.Pipeline, a YAML path, or azureml steps, got {type(pipeline).__name__}.")


def _check_options(timeout: float, port: int) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout) or timeout < 0:
        raise UserError(f"timeout must be a number of seconds >= 0, got {timeout!r}.")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise UserError(f"port must be an integer from 0 (any free port) to 65535, got {port!r}.")


def submit(
    pipeline: PipelineLike,
    backend: str = "local",
    debug: Union[None, bool, str, Iterable[str]] = None,
    timeout: Optional[float] = None,
    port: int = 0,
    stop_on_entry: bool = True,
    post_mortem: bool = False,
    experiment: Optional[str] = None,
    workspace: Any = None,
    seed_args: bool = False,
    docker_image: Optional[str] = None,
) -> DebugRun:
    """Submit ``pipeline``; its debug steps wait up to ``timeout`` s for a debugger.

    Parameters
    ----------
    pipeline : a Pipeline or the path of a YAML spec.
    backend : "local" runs steps as processes on this machine (no Azure needed).
    debug : step names (list or comma-separated string) to debug, True for all steps,
        or None to use each step's own ``debug`` flag.
    timeout : seconds a debug step waits for a debugger before it runs without one (default: the
        config's ``attach_timeout``).
    port : port the step's debugpy listens on; 0 picks a free one.
    stop_on_entry : ask the attaching debugger to stop at the script's first statement.
    post_mortem : on an unhandled exception, wait (``timeout`` s) for a debugger at the
        failing frame.
    experiment : groups runs (Azure ML experiment name; the local run id's prefix).
    workspace : the azureml ``Workspace`` (default: ``Workspace.from_config()``).
    seed_args : Azure: drive scripts already instrumented the seed way (``--remote_debug ...``)
        by adding those arguments instead of wrapping them in the debug entry.
    docker_image : local: run the steps in containers of this image (on the host network,
        their snapshot mounted) instead of as processes.

    Returns
    -------
    DebugRun: statuses, endpoints (``wait_for_endpoint``), logs, ``cancel`` and ``wait``.
    """
    if timeout is None:
        timeout = context.current().config.attach_timeout
    _check_options(timeout, port)
    spec = as_pipeline(pipeline).with_debug(debug)
    spec.validate()
    options = DebugOptions(
        timeout=float(timeout),
        port=port,
        stop_on_entry=bool(stop_on_entry),
        post_mortem=bool(post_mortem),
        experiment=experiment or "",
    )
    run = get_backend(backend, workspace=workspace, seed_args=seed_args, docker_image=docker_image).submit(spec, options)
    context.current().runs.add(run)
    return run


def run_script(
    script: Union[str, "os.PathLike[str]"],
    arguments: Sequence[str] = (),
    *,
    docker_image: Optional[str] = None,
    conda_file: Optional[str] = None,
    timeout: Optional[float] = None,
    stop_on_entry: bool = True,
) -> DebugRun:
    """Run one script under the debug entry (seed workflow 1): a snapshot of its folder, waiting
    up to ``timeout`` s for a debugger. With ``docker_image`` (a base image), in a container of the
    environment image built from it and ``conda_file``'s pip packages (built once, then reused)."""
    path = Path(script).expanduser()
    if not path.is_file():
        raise UserError(f"{str(script)!r} is not a file.")
    if conda_file and not docker_image:
        raise UserError(
            "A conda file describes a container's environment: give its base image too "
            "(docker_image=..., or --docker [BASE_IMAGE])."
        )
    image = None
    if docker_image:
        packages = images.conda_pip_packages(conda_file) if conda_file else []
        image = images.build_local_image(docker_image, packages, scoring=False)
    step = Step(path.stem, path.name, path.resolve().parent, list(arguments), debug=True)
    return submit(Pipeline(path.stem, [step]), timeout=timeout, stop_on_entry=stop_on_entry, docker_image=image)


def build_image(
    *,
    backend: Optional[str] = None,
    base_image: str = "python:3.11-slim",
    conda_file: Optional[str] = None,
    tag: Optional[str] = None,
    model: Optional[str] = None,
    entry_script: Optional[str] = None,
    environment: Optional[str] = None,
    workspace: Any = None,
) -> str:
    """A debug scoring image; returns its tag (also the default image of :func:`run_container`).

    ``backend="azureml"`` (the default when ``model`` is given): Model.package of the registered
    ``model`` ("NAME[:VERSION]") with ``entry_script`` and ``conda_file`` or ``environment``,
    debugpy added, pulled and tagged ``debug:N``. ``"local"``: Azure ML's scoring layout built
    from ``base_image`` and ``conda_file``'s pip packages, no Azure involved."""
    if (backend or ("azureml" if model else "local")) == "azureml":
        if not (model and entry_script):
            raise UserError("image build --backend azureml: needs --model NAME[:VERSION] and --entry-script score.py.")
        built = model_package.build_package_image(
            model,
            Path(entry_script),
            Path(conda_file).expanduser() if conda_file else None,
            environment,
            workspace=workspace,
            tag=tag,
        )
    else:
        if model or environment:
            raise UserError("image build: --model and --environment need --backend azureml (a local image takes --conda-file).")
        packages = images.conda_pip_packages(conda_file) if conda_file else []
        built = images.build_local_image(base_image, packages, tag=tag)
    context.current().last_image = built
    return built


def run_container(
    image: Optional[str],
    score_py: Union[str, "os.PathLike[str]"],
    *,
    name: str = "amldebug-score",
    http_port: int = 8000,
    debug_port: int = 5678,
    network: str = "host",
    timeout: Optional[float] = None,
    attach: bool = False,
) -> str:
    """Start a scoring container of ``image`` (None: the last one :func:`build_image` made) serving
    ``score_py``, its debugpy waiting up to ``timeout`` s; with ``attach``, retarget the kernel's
    debugger at it. Returns what to tell the user."""
    image = image or context.current().last_image
    if not image:
        raise UserError("container run: name the IMAGE (or build one first with %aml_debug image build).")
    score_path = Path(score_py).expanduser().resolve()
    endpoint, port = scoring.run_container(
        image, score_path, name=name, http_port=http_port, debug_port=debug_port, network=network, timeout=timeout
    )
    said = [
        f"Container {name} serves http://127.0.0.1:{port}/score and waits for a debugger "
        f"at {endpoint.address} ({endpoint.seconds_left():.0f} s left)."
    ]
    if attach:
        target = bridge.attach(
            bridge.target_for_address(
                endpoint.host, endpoint.port, str(score_path.parent), scoring.APP_ROOT, label=f"container '{name}'"
            )
        )
        said.append(bridge.retargeted(target, endpoint.seconds_left(), goal="debug init() and run()"))
    return "\n".join(said)


def container_logs(name: Optional[str] = None) -> List[str]:
    """The recent log lines of a scoring container this kernel started (None: the only one)."""
    return scoring.logs(name)[1].splitlines()


def find_run(run: Optional[str] = None) -> DebugRun:
    """A run of this session by id or unique id prefix (None: the latest)."""
    return context.current().runs.find(run)


def attach(
    step: Optional[str] = None,
    *,
    run: Optional[str] = None,
    host: Optional[str] = None,
    port: Optional[int] = None,
    local_root: Optional[str] = None,
    remote_root: Optional[str] = None,
    wait: Optional[float] = None,
    stop_on_entry: Optional[bool] = None,
) -> str:
    """Retarget the kernel's debugger (the one JupyterLab shows) at a ``step`` of a run, once it
    announces its endpoint (within ``wait`` s; default the config's ``endpoint_wait``), or at any
    debugpy at ``host``:``port``. Returns what to tell the user."""
    if step and (host or port):
        raise UserError("attach: give a STEP or --host/--port, not both.")
    if step:
        found = find_run(run)
        found.step(step)
        found.wait_for_endpoint(step, timeout=context.current().config.endpoint_wait if wait is None else wait)
        return bridge.attach_step(found, step, stop_on_entry=stop_on_entry)
    if host and port:
        return bridge.retargeted(bridge.attach(bridge.target_for_address(host, port, local_root, remote_root)))
    raise UserError("attach: name a STEP of the current run, or give --host and --port.")


def detach() -> str:
    """Give the kernel's debugger back to the notebook; returns what to tell the user."""
    return bridge.detach()


def cancel(run: Optional[str] = None, timeout: float = 30) -> DebugRun:
    """Cancel a run of this session (None: the latest) and wait up to ``timeout`` s for it to end."""
    found = find_run(run)
    found.cancel()
    found.wait(timeout=timeout)
    return found


def write_launch_json(step: str, run: Optional[str] = None, path: str = ".vscode/launch.json") -> str:
    """Add (or update) a VS Code attach configuration for a waiting step; returns what was written."""
    found = find_run(run)
    endpoint = found.step(step).endpoint
    if endpoint is None:
        raise UserError(f"Step '{step}' has not announced a debug endpoint yet: try again when it waits.")
    return write_attach_config(path, f"Azure ML: {step}", endpoint.host, endpoint.port, found.path_mappings(step))
