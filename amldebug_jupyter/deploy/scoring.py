"""Scoring containers this kernel runs: start one under the debug entry, score, read logs, restart, stop.

The Python twins of ``%aml_debug container run|score|logs|restart|stop``. A container is known by
its name for the rest of the session; a failed or interrupted start leaves nothing running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Tuple

from amldebug_jupyter.core import context
from amldebug_jupyter.core.endpoints import Endpoint
from amldebug_jupyter.docker import containers

APP_ROOT = containers.APP_ROOT
"""Where score.py lives in the container (Azure ML's layout): the remote root when attaching."""


def run_container(
    image: str,
    score_py: Path,
    name: str = "amldebug-score",
    http_port: int = 5001,
    debug_port: int = 5678,
    network: str = "host",
    timeout: Optional[float] = None,
) -> Tuple[Endpoint, int]:
    """Start ``image`` serving ``score_py`` with its debugpy waiting up to ``timeout`` s (default: the
    config's ``attach_timeout``); returns the debug endpoint and the HTTP port ``/score`` is served on."""
    if timeout is None:
        timeout = context.current().config.attach_timeout
    box, port = containers.run_scoring_container(
        image, score_py, name=name, http_port=http_port, debug_port=debug_port, network=network, timeout=timeout
    )
    containers.remember(name, http_port=port)
    try:
        endpoint = containers.wait_for_endpoint(box, timeout=timeout + 30)
    except BaseException:  # a failed start or an interrupt: nothing is left running
        stop_container(name)
        raise
    return endpoint, port


def score(data: Any, name: Optional[str] = None) -> Any:
    """POST ``data`` (JSON) to the container's ``/score`` and return its answer."""
    info = containers.started(name)
    return containers.score(f"http://127.0.0.1:{info['http_port']}/score", data)


def logs(name: Optional[str] = None) -> Tuple[str, str]:
    """(container name, its recent log)."""
    info = containers.started(name)
    return info["name"], containers.container_logs(containers.docker_client().containers.get(info["name"]))


def restart_container(name: Optional[str] = None) -> str:
    """Restart it: score.py loads again and waits for a debugger. Returns the container's name."""
    info = containers.started(name)
    containers.docker_client().containers.get(info["name"]).restart(timeout=5)
    return str(info["name"])


def stop_container(name: Optional[str] = None) -> str:
    """Stop and remove it. Returns the container's name."""
    key = str(containers.started(name)["name"])
    containers.stop_ours(key)
    containers.forget(key)
    return key
