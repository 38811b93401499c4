"""FakeAzureMLService: the one stand-in for Azure ML's service calls (submit, children, details, cancel).

Everything above it is real: azureml-core objects built offline, our step rewriting, the session,
and log tailing over HTTP from real Blob storage (Azurite). Tests drive the fake run's states.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence

import jwt


def offline_workspace() -> Any:
    """A real azureml Workspace object that needs no network until a service call is made."""
    from azureml.core import Workspace
    from azureml.core.authentication import ArmTokenAuthentication

    token = jwt.encode({"exp": 4102444800, "oid": "offline", "tid": "offline"}, "offline-test-key-" * 2, algorithm="HS256")
    return Workspace(
        "00000000-0000-0000-0000-000000000000",
        "rg-amldebug",
        "ws-amldebug",
        auth=ArmTokenAuthentication(token),
        _disable_service_check=True,
        _workspace_id="11111111-1111-1111-1111-111111111111",
        _location="westeurope",
    )


class FakeStepRun:
    def __init__(self, name: str) -> None:
        self.name = name
        self.status = "NotStarted"
        self.log_files: Dict[str, str] = {}
        self.properties: Dict[str, str] = {}


class FakePipelineRun:
    def __init__(self, run_id: str, steps: Sequence[Any]) -> None:
        self.id = run_id
        self.steps = list(steps)
        self.status = "Running"
        self.children: Dict[str, FakeStepRun] = {}
        self.canceled = threading.Event()

    def start(self, name: str) -> FakeStepRun:
        child = self.children.setdefault(name, FakeStepRun(name))
        child.status = "Running"
        return child


class FakeAzureMLService:
    """Records what would be sent to Azure ML and answers from state the test controls."""

    submitted: List[Dict[str, Any]] = []

    def __init__(self) -> None:
        self.runs: List[FakePipelineRun] = []
        self.calls: List[str] = []

    def workspace(self, workspace: Any = None) -> Any:
        self.calls.append("workspace")
        return workspace if workspace is not None else offline_workspace()

    def submit(self, workspace: Any, experiment: str, steps: Sequence[Any], description: str) -> FakePipelineRun:
        self.calls.append("submit")
        run = FakePipelineRun(f"{experiment}_fake_{len(self.runs) + 1}", steps)
        self.runs.append(run)
        type(self).submitted.append(
            {"workspace": workspace, "experiment": experiment, "steps": list(steps), "run": run, "service": self}
        )
        return run

    def step_runs(self, run: FakePipelineRun) -> Dict[str, FakeStepRun]:
        return dict(run.children)

    def status(self, run: Any) -> str:
        return run.status

    def log_files(self, step_run: FakeStepRun) -> Mapping[str, str]:
        return dict(step_run.log_files)

    def properties(self, step_run: FakeStepRun) -> Mapping[str, str]:
        return dict(step_run.properties)

    def cancel(self, run: FakePipelineRun) -> None:
        self.calls.append("cancel")
        run.canceled.set()
        for child in run.children.values():
            if child.status in ("Running", "NotStarted"):
                child.status = "Canceled"
        run.status = "Canceled"

    def portal_url(self, run: FakePipelineRun) -> Optional[str]:
        return f"https://ml.azure.com/runs/{run.id}?wsid=/subscriptions/0/resourcegroups/rg-amldebug/workspaces/ws-amldebug"

    def run_id(self, run: FakePipelineRun) -> str:
        return run.id


# Model.package: the service builds the deployment image and pushes it to the workspace's registry.
# The fake does the same with the real Docker engine and a real local registry (tests/registry.py):
# an image in Model.package's layout (/var/azureml-app/<source dir>, services under runit, scoring
# on 5001) whose Python packages come from the environment, pushed and then removed locally, so
# the client's pull, credentials and errors run for real.

PACKAGE_DOCKERFILE = """\
FROM {server_image}
LABEL amldebug.hash=""
COPY azureml-app /var/azureml-app
ENV AML_APP_ROOT=/var/azureml-app AZUREML_SOURCE_DIRECTORY={source} \\
    AZUREML_ENTRY_SCRIPT=/var/azureml-app/{source}/{entry}
RUN mkdir -p /var/runit/gunicorn \\
 && printf '#!/bin/sh\\nexec azmlinfsrv --entry_script "$AZUREML_ENTRY_SCRIPT" --port 5001 2>&1\\n' \\
    > /var/runit/gunicorn/run && chmod +x /var/runit/gunicorn/run
CMD ["runsvdir", "/var/runit"]
"""


def fake_model(workspace: Any, name: str, version: Optional[int]) -> Any:
    """A real azureml ``Model`` object (its constructor would call the service)."""
    from azureml.core import Model

    model = Model.__new__(Model)
    model.workspace, model.name, model.version = workspace, name, version or 1
    model.id = f"{name}:{model.version}"
    return model


class FakePackage:
    def __init__(self, number: int) -> None:
        self.number = number
        self.state = "NotStarted"
        self.error: Any = None
        self.location: Optional[str] = None
        self.log = bytearray()


class FakePackagingService(FakeAzureMLService):
    """FakeAzureMLService plus Model.package, building for real; set ``registry`` (address,
    username, password) and ``base_image`` before packaging. ``fail_with`` makes the build fail."""

    registry: Optional[tuple] = None
    base_image: Optional[str] = None
    fail_with: Optional[str] = None
    packages: List[FakePackage] = []
    environments: Dict[str, Any] = {}

    def model(self, workspace: Any, name: str, version: Optional[int]) -> Any:
        self.calls.append("model")
        if name == "missing":
            from amldebug_jupyter.errors import UserError

            raise UserError(f"No registered model {name} in the workspace (ModelNotFound).")
        return fake_model(workspace, name, version)

    def environment(self, workspace: Any, name: str) -> Any:
        self.calls.append("environment")
        return type(self).environments[name]

    def package(self, workspace: Any, models: Sequence[Any], inference_config: Any) -> FakePackage:
        import shutil
        import tempfile
        from pathlib import Path

        self.calls.append("package")
        package = FakePackage(len(type(self).packages) + 1)
        type(self).packages.append(package)
        context = Path(tempfile.mkdtemp(prefix="fake-package-"))
        source = Path(inference_config.source_directory)
        shutil.copytree(source, context / "azureml-app" / source.name)  # uploaded now, as the SDK does
        pip = list(inference_config.environment.python.conda_dependencies.pip_packages)
        threading.Thread(
            target=self._build, args=(package, context, source.name, inference_config.entry_script, pip), daemon=True
        ).start()
        return package

    def _build(self, package: FakePackage, context: Any, source: str, entry: str, pip: List[str]) -> None:
        import shutil

        from amldebug_jupyter.deploy.images import _stream_build, build_local_image, user_packages
        from amldebug_jupyter.docker.containers import docker_client

        package.state = "Running"
        say = lambda line: package.log.extend(line.encode() + b"\n")  # noqa: E731
        try:
            if type(self).fail_with:
                say("Step 1/6 : FROM mcr.microsoft.com/azureml/base")
                raise RuntimeError(type(self).fail_with)
            address, username, password = type(self).registry  # type: ignore[misc]
            server_image = build_local_image(type(self).base_image, user_packages(pip), say=say)
            (context / "Dockerfile").write_text(PACKAGE_DOCKERFILE.format(server_image=server_image, source=source, entry=entry))
            client = docker_client()
            repository = f"{address}/package"
            _stream_build(client, context, f"{repository}:{package.number}", {}, say)
            digest = None
            for frame in client.api.push(
                repository,
                str(package.number),
                stream=True,
                decode=True,
                auth_config={"username": username, "password": password},
            ):
                if "error" in frame:
                    raise RuntimeError(frame["error"])
                digest = (frame.get("aux") or {}).get("Digest") or digest
            client.images.remove(f"{repository}:{package.number}")  # only the registry has it now
            package.location = f"{repository}@{digest}"
            package.state = "Succeeded"
        except Exception as e:
            say(f"ERROR: {e}")
            package.error = {"statusCode": 400, "message": f"Image build failed: {e}"}
            package.state = "Failed"
        finally:
            shutil.rmtree(context, ignore_errors=True)

    def package_state(self, package: FakePackage) -> tuple:
        return package.state, package.error, package.location

    def package_log(self, package: FakePackage, offset: int) -> bytes:
        return bytes(package.log[offset:])

    def package_registry(self, package: FakePackage) -> tuple:
        return type(self).registry  # type: ignore[return-value]
