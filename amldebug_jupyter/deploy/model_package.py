"""Debug images from Azure ML's ``Model.package``: the deployment's own image, made debuggable.

The user's environment gets debugpy and azureml-defaults (their own pins win); the entry
script becomes our scoring wrapper, which starts debugpy (one worker) before the user's
``init()``; the package's build log streams as it grows; the image is pulled with the Docker
engine's own errors and progress and tagged ``debug:N``. A content hash of model, environment
and source folder names the pulled image, so a rebuild with unchanged inputs reuses it without
asking Azure to package again (over ten minutes each time otherwise).

Every Azure call goes through :class:`~.backends.azureml_service.AzureMLService`; Docker
through :mod:`.containers`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional, Tuple

from amldebug_jupyter.backends.azureml.service import AzureMLService, require_azureml
from amldebug_jupyter.backends.azureml.steps import add_pip_packages
from amldebug_jupyter.backends.local import snapshot
from amldebug_jupyter.docker.containers import docker_client, pull_image
from amldebug_jupyter.errors import BackendError, UserError
from amldebug_jupyter.instrument import (
    ENTRY_FILE,
    ENTRY_NAME,
    SCORE_ENTRY_FILE,
    SCORE_ENTRY_NAME,
)
from amldebug_jupyter.logs.tail import LineAssembler

SOURCE_DIR = "amldebug-app"
"""The package's source directory: the image has it at ``/var/azureml-app/amldebug-app``."""
DEBUG_PACKAGES = ["debugpy", "azureml-defaults"]
CACHE_REPOSITORY = "amldebug-package"
"""Pulled packages are also tagged ``amldebug-package:<content hash>``: the reuse key."""


def parse_model(text: str) -> Tuple[str, Optional[int]]:
    """``NAME`` or ``NAME:VERSION``."""
    name, _, version = text.partition(":")
    if not name or (version and not version.isdigit()):
        raise UserError(f"--model {text!r}: expected NAME or NAME:VERSION (a registered model, e.g. sklearn-mnist:3).")
    return name, int(version) if version else None


def debug_environment(conda_file: Optional[Path] = None, registered: Any = None) -> Any:
    """The user's environment (from a conda file, or a registered one) plus debugpy and
    azureml-defaults; a registered environment is renamed rather than changed under its name."""
    from azureml.core import Environment

    if conda_file is not None:
        if not conda_file.is_file():
            raise UserError(f"--conda-file {conda_file}: no such file.")
        try:
            env = Environment.from_conda_specification(f"{conda_file.stem}-amldebug", str(conda_file))
        except Exception as e:
            raise UserError(f"Cannot read the conda file {conda_file}: {str(e).splitlines()[0][:200]}") from None
    else:
        env = copy.deepcopy(registered)  # Environment.clone shares its conda dependencies with the original
    add_pip_packages(env, DEBUG_PACKAGES)
    return env


def stage_source(entry_script: Path, into: Path) -> Path:
    """A copy of the entry script's folder plus our wrapper and debug entry (the user's folder
    is never written). Returns the source directory to package."""
    source = into / SOURCE_DIR
    snapshot(entry_script.parent, source, runs_root=into)
    wrapper = SCORE_ENTRY_FILE.read_text()
    named = wrapper.replace('USER_SCORE = "score.py"', f"USER_SCORE = {entry_script.name!r}", 1)
    if named == wrapper and entry_script.name != "score.py":
        raise AssertionError("score_entry.py no longer defines USER_SCORE")
    (source / SCORE_ENTRY_NAME).write_text(named)
    (source / ENTRY_NAME).write_bytes(ENTRY_FILE.read_bytes())
    return source


def content_hash(model_id: str, environment: Any, source: Path) -> str:
    """What decides the package's content: the model version, the environment's definition and
    every file of the source directory (names and bytes)."""
    from azureml.core import Environment

    h = hashlib.sha256(model_id.encode())
    definition = Environment._serialize_to_dict(environment)
    h.update(json.dumps(definition, sort_keys=True, default=str).encode())
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def next_debug_tag(client: Any) -> str:
    """``debug:N`` with N one more than any ``debug:<number>`` on this machine."""
    numbers = [
        int(m.group(1))
        for image in client.images.list(name="debug")
        for tag in image.tags
        if (m := re.fullmatch(r"debug:(\d+)", tag))
    ]
    return f"debug:{max(numbers, default=0) + 1}"


def build_package_image(
    model: str,
    entry_script: Path,
    conda_file: Optional[Path] = None,
    environment: Optional[str] = None,
    workspace: Any = None,
    tag: Optional[str] = None,
    say: Callable[[str], None] = print,
    service: Any = None,
    poll: float = 5.0,
    timeout: float = 3600.0,
) -> str:
    """Package (or reuse) a debug image of a registered model; returns its local tag."""
    import docker

    name, version = parse_model(model)
    if (conda_file is None) == (environment is None):
        raise UserError("image build --backend azureml: give exactly one of --conda-file FILE or --environment NAME.")
    if not entry_script.expanduser().is_file():
        raise UserError(f"--entry-script {entry_script}: no such file.")
    require_azureml()
    client = docker_client()  # fail before any Azure call when Docker is not there
    service = service or AzureMLService()
    ws = service.workspace(workspace)
    found = service.model(ws, name, version)
    env = debug_environment(conda_file) if conda_file else debug_environment(registered=service.environment(ws, environment))
    with tempfile.TemporaryDirectory(prefix="amldebug-package-") as tmp:
        source = stage_source(entry_script.expanduser().resolve(), Path(tmp))
        digest = content_hash(str(found.id), env, source)
        try:
            image = client.images.get(f"{CACHE_REPOSITORY}:{digest}")
        except docker.errors.ImageNotFound:
            image = None
        if image is None:
            from azureml.core.model import InferenceConfig

            config = InferenceConfig(entry_script=SCORE_ENTRY_NAME, source_directory=str(source), environment=env)
            say(f"Packaging model {found.id} with environment {env.name} (debugpy added); Azure ML builds the image...")
            package = service.package(ws, [found], config)
            location = wait_for_package(service, package, say, poll, timeout)
            address, username, password = service.package_registry(package)
            image = pull_image(client, location, {"username": username, "password": password}, say)
            image.tag(CACHE_REPOSITORY, digest)
        else:
            say(f"Reusing the package of {found.id}: model, environment and source are unchanged (no Model.package call).")
    tag = tag or next((t for t in image.tags if t.startswith("debug:")), None) or next_debug_tag(client)
    repository, label = docker.utils.parse_repository_tag(tag)
    image.tag(repository, label or "latest")
    return tag


def wait_for_package(service: Any, package: Any, say: Callable[[str], None], poll: float, timeout: float) -> str:
    """Stream the build log as it grows until the package is ready; returns the image location."""
    lines, offset = LineAssembler(), 0
    deadline = time.monotonic() + timeout
    while True:
        state, error, location = service.package_state(package)
        chunk = service.package_log(package, offset)
        offset += len(chunk)
        for line in lines.feed(chunk) + (lines.flush() if state not in ("NotStarted", "Running") else []):
            say(line)
        if state == "Succeeded":
            if not location:
                raise BackendError("Model.package succeeded but named no image location.")
            return str(location)
        if state not in ("NotStarted", "Running"):
            message = error.get("message") if isinstance(error, dict) else error
            text = str(message or "no error message").strip().splitlines()[0][:300]
            raise BackendError(f"Model.package ended {state}: {text} (the build log is above).")
        if time.monotonic() > deadline:
            raise BackendError(f"Model.package did not finish within {timeout:g} s (state {state}).")
        time.sleep(poll)
