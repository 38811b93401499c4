"""Local debug images: the Azure ML scoring layout (``/var/azureml-app``, port 5001) built from a
base image plus azureml-inference-server-http, debugpy and the user's pip packages. No Azure.

Wheels are fetched on this machine with ``pip download`` (cached under ``$AMLDEBUG_HOME/wheels``)
and installed in the image with ``--no-index``, so a build needs no registry and no network in
the container. A content hash of everything that goes into the image is its label: an unchanged
build reuses the image instead of building again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence

from amldebug_jupyter import _process
from amldebug_jupyter.backends.azureml.service import pip_names
from amldebug_jupyter.backends.local import amldebug_home
from amldebug_jupyter.docker.containers import (
    APP_ROOT,
    LABEL,
    docker_client,
    pull_image,
)
from amldebug_jupyter.errors import BackendError, UserError
from amldebug_jupyter.instrument import (
    ENTRY_FILE,
    ENTRY_NAME,
    SCORE_ENTRY_FILE,
    SCORE_ENTRY_NAME,
)

SERVER_PACKAGES = ("azureml-inference-server-http", "debugpy")

DOCKERFILE = """\
FROM {base}
COPY wheels/ /tmp/amldebug-wheels/
RUN python3 -m pip install --break-system-packages --no-index --find-links /tmp/amldebug-wheels {packages} \\
 && rm -rf /tmp/amldebug-wheels
COPY app/ {app}/
WORKDIR {app}
ENV AML_APP_ROOT={app} AZUREML_ENTRY_SCRIPT={score} WORKER_COUNT=1 PYTHONUNBUFFERED=1
EXPOSE 5001
CMD ["azmlinfsrv", "--entry_script", "{app}/{score}", "--port", "5001"]
"""

RUN_DOCKERFILE = """\
FROM {base}
COPY wheels/ /tmp/amldebug-wheels/
RUN python3 -m pip install --break-system-packages --no-index --find-links /tmp/amldebug-wheels {packages} \\
 && rm -rf /tmp/amldebug-wheels
ENV PYTHONUNBUFFERED=1
"""


def content_hash(base_id: str, packages: Sequence[str], scoring: bool = True) -> str:
    h = hashlib.sha256()
    app = (ENTRY_FILE.read_bytes(), SCORE_ENTRY_FILE.read_bytes()) if scoring else (RUN_DOCKERFILE,)
    for part in (base_id, json.dumps(sorted(packages)), *app):
        h.update(part if isinstance(part, bytes) else part.encode())
    return h.hexdigest()[:16]


def python_version(client: object, base: str) -> str:
    """The base image's Python (the wheels must match it)."""
    try:
        out = client.containers.run(
            base,
            ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],  # type: ignore[attr-defined]
            remove=True,
            network_mode="none",
        )
    except Exception as e:
        reason = str(e).splitlines()[0][:200]
        if "timed out" in reason.lower():
            raise BackendError(
                f"The Docker engine did not start a container of {base} in time ({reason}): "
                "check that it is not overloaded, then try again."
            ) from None
        raise BackendError(f"The base image {base} cannot run python3 ({reason}): use an image with Python 3 and pip.") from None
    return out.decode().strip()


def fetch_wheels(packages: Iterable[str], python: str, dest: Path, timeout: float = 600) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "-d",
        str(dest),
        "--only-binary=:all:",
        "--python-version",
        python,
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "manylinux_2_28_x86_64",
        "--platform",
        "any",
        *packages,
    ]
    done = _process.run(argv, timeout=timeout)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip download failed"])[-1]
        raise BackendError(f"Could not fetch the image's Python packages: {last}")


def build_local_image(
    base: str,
    pip_packages: Sequence[str] = (),
    tag: Optional[str] = None,
    say: Callable[[str], None] = print,
    scoring: bool = True,
) -> str:
    """Build (or reuse) a debug scoring image; returns its tag.

    ``scoring=False``: the environment of a local experiment run instead (base image, debugpy and
    the user's packages; steps run in it with their snapshot mounted).
    """
    import docker

    client = docker_client()
    try:
        base_image = client.images.get(base)
    except docker.errors.ImageNotFound:
        base_image = pull_image(client, base, say=say)
    packages = [*(SERVER_PACKAGES if scoring else ("debugpy",)), *pip_packages]
    digest = content_hash(base_image.id, packages, scoring)
    found = client.images.list(filters={"label": f"amldebug.hash={digest}"})
    if found:
        reused = tag or found[0].tags[0]
        if tag and tag not in found[0].tags:
            found[0].tag(tag)
        say(f"Reusing {reused}: nothing that goes into the image changed.")
        return reused
    tag = tag or f"amldebug-{'debug' if scoring else 'run'}:{digest[:12]}"
    wheels = amldebug_home() / "wheels" / python_version(client, base)
    say(f"Fetching {', '.join(packages)} for Python {wheels.name}...")
    fetch_wheels(packages, wheels.name, wheels)
    with tempfile.TemporaryDirectory(prefix="amldebug-image-") as tmp:
        context = Path(tmp)
        shutil.copytree(wheels, context / "wheels")
        if scoring:
            (context / "app").mkdir()
            shutil.copyfile(ENTRY_FILE, context / "app" / ENTRY_NAME)
            shutil.copyfile(SCORE_ENTRY_FILE, context / "app" / SCORE_ENTRY_NAME)
        dockerfile = DOCKERFILE if scoring else RUN_DOCKERFILE
        (context / "Dockerfile").write_text(
            dockerfile.format(base=base, app=APP_ROOT, score=SCORE_ENTRY_NAME, packages=" ".join(packages))
        )
        _stream_build(client, context, tag, {**LABEL, "amldebug.hash": digest}, say)
    return tag


def _stream_build(client: object, context: Path, tag: str, labels: dict, say: Callable[[str], None]) -> None:
    """Build with the low-level API so each log line shows as it happens, and errors are real."""
    errors: List[str] = []
    for chunk in client.api.build(path=str(context), tag=tag, labels=labels, rm=True, decode=True):  # type: ignore[attr-defined]
        if "stream" in chunk and chunk["stream"].strip():
            say(chunk["stream"].rstrip())
        if "error" in chunk:
            errors.append(chunk["error"].strip())
    if errors:
        raise BackendError(f"The image build failed: {errors[-1].splitlines()[-1][:300]}")


def conda_pip_packages(conda_file: str) -> List[str]:
    """The packages of a conda environment file, as pip requirements (the base image has no conda)."""
    import yaml

    try:
        spec = yaml.safe_load(Path(conda_file).expanduser().read_text())
    except (OSError, yaml.YAMLError) as e:
        raise UserError(f"Cannot read the conda file {conda_file!r}: {e}") from None
    packages: List[str] = []
    for dep in (spec or {}).get("dependencies") or []:
        if isinstance(dep, dict):
            packages += [str(p) for p in dep.get("pip") or []]
        elif isinstance(dep, str) and not dep.startswith(("python=", "python ", "pip")) and dep != "python":
            packages.append(dep.replace("=", "==", 1) if "=" in dep and "==" not in dep else dep)
    return user_packages(packages)


def user_packages(packages: Iterable[str]) -> List[str]:
    """The requirements left once the server and debugger (which every debug image has) are taken out."""
    server = set(SERVER_PACKAGES) | {"azureml-defaults"}
    return [p for p in packages if p.strip() and pip_names([p])[0] not in server]
