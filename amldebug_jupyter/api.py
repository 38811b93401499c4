"""The plain-Python twin of ``%aml_debug pipeline submit``."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from amldebug_jupyter.backends import get_backend
from amldebug_jupyter.backends.azureml.spec import from_azureml, is_azureml_object
from amldebug_jupyter.core import context
from amldebug_jupyter.core.pipeline import Pipeline
from amldebug_jupyter.core.run import DebugOptions, DebugRun
from amldebug_jupyter.errors import UserError

PipelineLike = Union[Pipeline, str, "os.PathLike[str]"]


def as_pipeline(pipeline: PipelineLike) -> Pipeline:
    """Accept a :class:`Pipeline`, the path of a YAML spec, or azureml v1 steps/pipeline."""
    if isinstance(pipeline, Pipeline):
        return pipeline
    if isinstance(pipeline, (str, os.PathLike)):
        return Pipeline.from_yaml(Path(pipeline))
    if is_azureml_object(pipeline):
        return from_azureml(pipeline)
    raise UserError(
        f"Expected an amldebug_jupyter.Pipeline, a YAML path, or azureml steps, got {type(pipeline).__name__}."
    )


def _check_options(timeout: float, port: int) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout) or timeout < 0:
        raise UserError(f"timeout must be a number of seconds >= 0, got {timeout!r}.")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise UserError(f"port must be an integer from 0 (any free port) to 65535, got {port!r}.")


def submit(pipeline: PipelineLike, backend: str = "local",
           debug: Union[None, bool, str, Iterable[str]] = None, timeout: Optional[float] = None,
           port: int = 0, stop_on_entry: bool = True, post_mortem: bool = False,
           experiment: Optional[str] = None, workspace: Any = None, seed_args: bool = False,
           docker_image: Optional[str] = None) -> DebugRun:
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
    options = DebugOptions(timeout=float(timeout), port=port, stop_on_entry=bool(stop_on_entry),
                           post_mortem=bool(post_mortem), experiment=experiment or "")
    run = get_backend(backend, workspace=workspace, seed_args=seed_args, docker_image=docker_image).submit(spec, options)
    context.current().runs.add(run)
    return run
