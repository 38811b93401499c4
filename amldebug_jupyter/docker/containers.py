"""Docker, through one choke point: debug images and scoring containers on this machine.

Containers run on the host network by default (ports stay on 127.0.0.1 where the services
bind), or on a bridge network with ports published on 127.0.0.1 only. Every container we start
carries the label ``amldebug=1`` so the kernel can clean up after itself.
"""

from __future__ import annotations

import atexit
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from amldebug_jupyter.core import context
from amldebug_jupyter.core.endpoints import Endpoint, EndpointDetector
from amldebug_jupyter.errors import BackendError, UserError
from amldebug_jupyter.instrument import SCORE_ENTRY_NAME

if TYPE_CHECKING:  # pragma: no cover
    from amldebug_jupyter.core.endpoints import Endpoint

LABEL = {"amldebug": "1"}
APP_ROOT = "/var/azureml-app"
PACKAGE_HTTP_PORT = 5001
INSTALL_HINT = "Debug images and containers need the Docker SDK: pip install 'amldebug-jupyter[docker]'."


ENGINE_TIMEOUT = 120


def docker_client() -> Any:
    """The Docker engine, or one line saying why it cannot be reached."""
    try:
        import docker
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    try:
        # One API call may create a container, which on the vfs storage driver copies the whole
        # image (over 30 s for a 300 MB image on a busy disk); still bounded.
        client = docker.from_env(timeout=ENGINE_TIMEOUT)
        client.ping()
        return client
    except Exception as e:
        raise UserError(
            f"Docker is not running or not reachable ({_first_line(e)}): start the Docker engine and try again."
        ) from None


def _first_line(error: BaseException) -> str:
    text = (getattr(error, "explanation", None) or str(error) or type(error).__name__).strip()
    return text.splitlines()[0][:300]


def pull_image(
    client: Any, reference: str, auth: Optional[Dict[str, str]] = None, say: Callable[[str], None] = print, every: float = 2.0
) -> Any:
    """Pull with the engine's own error messages and a progress line every few seconds.

    (azureml-core's ``package.pull()`` reads ``status`` from every frame, so a real error such
    as 'unauthorized' or 'manifest unknown' surfaces there only as ``'status'``.)
    """
    import docker

    repository, tag = docker.utils.parse_repository_tag(reference)
    say(f"Pulling {reference}...")
    layers: Dict[str, List[int]] = {}
    last = time.monotonic()
    try:
        for frame in client.api.pull(repository, tag or "latest", stream=True, decode=True, auth_config=auth):
            if "error" in frame:
                raise BackendError(f"Could not pull {reference}: {frame['error'].strip().splitlines()[0][:300]}")
            status, detail = frame.get("status", ""), frame.get("progressDetail") or {}
            if detail.get("total"):
                layers[frame.get("id", "")] = [detail.get("current", 0), detail["total"]]
            if status.startswith(("Status:", "Digest:")):
                say(status)
            elif layers and time.monotonic() - last >= every:
                last = time.monotonic()
                done, total = sum(c for c, _ in layers.values()), sum(t for _, t in layers.values())
                say(f"  {done / 1e6:,.0f} of {total / 1e6:,.0f} MB in {len(layers)} layers")
    except docker.errors.APIError as e:
        raise BackendError(f"Could not pull {reference}: {_first_line(e)}") from None
    return client.images.get(reference)


def is_package_image(image: Any) -> bool:
    """A ``Model.package`` image (services under runit) rather than one of our local builds."""
    return not (image.labels or {}).get("amldebug.hash")


def run_scoring_container(
    image: str,
    score: Path,
    name: str = "amldebug-score",
    http_port: int = 5001,
    debug_port: int = 5678,
    network: str = "host",
    timeout: float = 60.0,
) -> Tuple[Any, int]:
    """Start the image's services with the local score.py mounted; returns the container and the
    host port of its scoring service.

    Our local images run the inference server directly; ``Model.package`` images start their
    services with ``runsvdir /var/runit`` (what the manual workflow types inside the container)
    and serve on 5001, so on the host network their scoring port is 5001 whatever ``http_port`` says.
    """
    import docker

    client = docker_client()
    if not score.is_file():
        raise UserError(f"{score} is not a file: give the score.py to mount with --score.")
    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        raise UserError(f"Image {image!r} is not on this machine: build it with %aml_debug image build.") from None
    for old in client.containers.list(all=True, filters={"name": f"^{name}$"}):
        if old.labels.get("amldebug") != "1":
            raise UserError(f"A container named {name!r} exists and is not ours: pass --name to choose another.")
        old.remove(force=True)
    package = is_package_image(found)
    env = {
        "AMLDEBUG_PORT": str(debug_port),
        "AMLDEBUG_TIMEOUT": f"{timeout:g}",
        "AMLDEBUG_HOST": "127.0.0.1",
        "AMLDEBUG_SCORE": f"{APP_ROOT}/score.py",
        "WORKER_COUNT": "1",
    }
    kwargs: Dict[str, Any] = {}
    if network == "host":
        kwargs["network_mode"] = "host"
        served = PACKAGE_HTTP_PORT if package else http_port
        port = served
    else:  # a bridge or named network, ports published on loopback only: debugpy is unauthenticated code execution
        kwargs["network"] = network
        kwargs["ports"] = {f"{PACKAGE_HTTP_PORT}/tcp": ("127.0.0.1", http_port), f"{debug_port}/tcp": ("127.0.0.1", debug_port)}
        env["AMLDEBUG_HOST"] = "0.0.0.0"  # inside the container's own namespace only
        served, port = http_port, PACKAGE_HTTP_PORT
    if package:
        command = ["runsvdir", "/var/runit"]
    else:
        env.update(AZUREML_ENTRY_SCRIPT=SCORE_ENTRY_NAME, AML_APP_ROOT=APP_ROOT)
        command = ["azmlinfsrv", "--entry_script", f"{APP_ROOT}/{SCORE_ENTRY_NAME}", "--port", str(port)]
    try:
        box = client.containers.run(
            image,
            command,
            name=name,
            detach=True,
            labels=LABEL,
            environment=env,
            volumes={str(score.resolve()): {"bind": f"{APP_ROOT}/score.py", "mode": "ro"}},
            working_dir=APP_ROOT,
            **kwargs,
        )
    except docker.errors.APIError as e:
        raise UserError(f"Could not start the container from {image}: {_first_line(e)}") from None
    return box, served


def container_logs(container: Any, tail: int = 200) -> str:
    return container.logs(tail=tail).decode("utf-8", errors="replace")


def wait_until_running(container: Any, timeout: float = 30.0) -> None:
    """Fail with the container's last log lines when it exits early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            tail = "\n".join(container_logs(container, 20).splitlines()[-5:])
            raise BackendError(f"The container {container.name} exited early: {tail}")
        if container.status == "running":
            return
        time.sleep(0.2)
    raise BackendError(f"The container {container.name} did not start within {timeout:g} s.")


def score(url: str, data: Any, timeout: float = 120.0) -> Any:
    """POST a scoring request; returns the decoded answer."""
    body = data if isinstance(data, bytes) else (data if isinstance(data, str) else json.dumps(data)).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            text = answer.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as e:
        raise UserError(f"The scoring service answered {e.code}: {e.read().decode('utf-8', 'replace')[:300]}") from None
    except (urllib.error.URLError, OSError) as e:
        raise UserError(f"No scoring service at {url} ({e}): is the container running?") from None
    try:
        return json.loads(text)
    except ValueError:
        return text


def stop_ours(name: Optional[str] = None) -> List[str]:
    """Stop and remove our containers (all of them, or the one called ``name``)."""
    client = docker_client()
    stopped = []
    for c in client.containers.list(all=True, filters={"label": "amldebug=1"}):
        if name is None or c.name == name:
            c.remove(force=True)
            stopped.append(c.name)
    return stopped


def wait_for_endpoint(container: Any, timeout: float = 60.0) -> "Endpoint":
    """The debug endpoint the scoring entry announces in the container's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detector = EndpointDetector(container.name)
        for line in container_logs(container, 2000).splitlines():
            found = detector.feed(line)
            if isinstance(found, Endpoint):
                return found
        container.reload()
        if container.status == "exited":
            tail = " | ".join(container_logs(container, 20).splitlines()[-4:])
            raise BackendError(f"The container {container.name} exited before waiting for a debugger: {tail}")
        time.sleep(0.25)
    raise BackendError(
        f"The container {container.name} announced no debug endpoint within {timeout:g} s; see %aml_debug container logs."
    )


class StepContainer:
    """A local run's step in a container of the run's environment image, on the host network.

    The step's snapshot folder is mounted at the same absolute path, so the debug entry, its
    arguments and the source mapping are those of a step run as a process; the container's
    output is appended to the step's log file, where the log tailer finds the endpoint.
    """

    def __init__(self, image: str, argv: List[str], folder: Path, env: Dict[str, str], log_path: Path) -> None:
        import os
        import threading

        import docker

        client = docker_client()
        user = f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None
        try:
            self.container = client.containers.run(
                image,
                argv,
                detach=True,
                labels=LABEL,
                environment=env,
                network_mode="host",
                user=user,
                working_dir=str(folder),
                volumes={str(folder): {"bind": str(folder), "mode": "rw"}},
            )
        except docker.errors.ImageNotFound:
            raise UserError(
                f"Image {image!r} is not on this machine: build it with %aml_debug experiment run --docker."
            ) from None
        except docker.errors.APIError as e:
            raise BackendError(f"Could not start the step's container from {image}: {_first_line(e)}") from None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._copier = threading.Thread(target=self._copy_logs, args=(log_path,), daemon=True)
        self._copier.start()

    def _copy_logs(self, log_path: Path) -> None:
        with open(log_path, "ab", buffering=0) as log:
            for chunk in self.container.logs(stream=True, follow=True):
                log.write(chunk)

    def wait(self) -> int:
        try:
            code = int(self.container.wait().get("StatusCode", 1))
        except Exception:  # removed by a cancel while we waited
            code = 137
        self._copier.join(10)
        self.stop()
        return code

    def stop(self) -> None:
        try:
            self.container.remove(force=True)
        except Exception:  # already gone
            pass


def remember(name: str, **info: Any) -> None:
    """Record a container the active context started; closing the context (or exiting) stops it."""
    ctx = context.current()
    if not ctx.containers:  # its first since the last stop: one release covers them all
        ctx.on_close(lambda: stop_started(ctx))
    ctx.containers[name] = info


def started(name: Optional[str] = None) -> Dict[str, Any]:
    ours = context.current().containers
    if not ours:
        raise UserError("No container started in this session: %aml_debug container run first.")
    key = name or list(ours)[-1]
    if key not in ours:
        raise UserError(f"No container {key!r} started in this session (started: {', '.join(ours)}).")
    return {"name": key, **ours[key]}


def forget(name: str) -> None:
    context.current().containers.pop(name, None)


def stop_started(ctx: Optional[context.Context] = None) -> None:
    """Stop every container ``ctx`` (default: the active context) started (``%unload_ext``, and at exit)."""
    ours = (ctx or context.current()).containers
    for name in list(ours):
        try:
            stop_ours(name)
        except Exception:
            pass
        ours.pop(name, None)


atexit.register(stop_started)  # the active context's (closed ones stopped theirs)
