"""Every call that reaches the Azure ML service, in one place (tests swap in a fake here).

Everything above this class works on real azureml-core objects (workspaces, run configurations,
``PythonScriptStep``); only these methods talk to Azure.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from amldebug_jupyter.core.status import StepStatus
from amldebug_jupyter.errors import BackendError, UserError

INSTALL_HINT = "The azureml backend needs the Azure ML SDK v1: pip install 'amldebug-jupyter[azureml]'."


def require_azureml() -> None:
    try:
        import azureml.core  # noqa: F401
        import azureml.pipeline.steps  # noqa: F401
    except ImportError:
        raise UserError(INSTALL_HINT) from None


class AzureMLService:
    """The real service: azureml-core v1 calls (each may take a network round trip)."""

    def workspace(self, workspace: Any = None) -> Any:
        if workspace is not None:
            return workspace
        from azureml.core import Workspace

        try:
            return Workspace.from_config()
        except Exception as e:  # the SDK raises UserErrorException, AuthenticationException, ...
            text = sdk_message(e)
            if "config.json" in text and "could not be found" in text:
                raise UserError(
                    "No Azure ML workspace config (config.json) found: download it from the workspace's "
                    "portal page into this folder, or pass workspace=..."
                ) from None
            raise UserError(f"Could not open the Azure ML workspace: {text}") from None

    def submit(self, workspace: Any, experiment: str, steps: Sequence[Any], description: str) -> Any:
        from azureml.core import Experiment
        from azureml.pipeline.core import Pipeline

        try:
            pipeline = Pipeline(workspace, list(steps), description=description)
            return Experiment(workspace, experiment).submit(pipeline, regenerate_outputs=False)
        except Exception as e:
            raise BackendError(f"Azure ML refused the pipeline: {sdk_message(e)}") from None

    def step_runs(self, run: Any) -> Dict[str, Any]:
        return {child.name: child for child in run.get_children()}

    def status(self, run: Any) -> str:
        return str(run.get_status())

    def log_files(self, step_run: Any) -> Mapping[str, str]:
        return dict(step_run.get_details().get("logFiles") or {})

    def properties(self, step_run: Any) -> Mapping[str, str]:
        return dict(step_run.get_properties() or {})

    def cancel(self, run: Any) -> None:
        run.cancel()

    def portal_url(self, run: Any) -> Optional[str]:
        try:
            return str(run.get_portal_url())
        except Exception:
            return None

    def run_id(self, run: Any) -> str:
        return str(run.id)

    # Model.package (debug images of deployments)

    def model(self, workspace: Any, name: str, version: Optional[int]) -> Any:
        from azureml.core import Model

        try:
            return Model(workspace, name=name, version=version)
        except Exception as e:
            which = f"{name}:{version}" if version else name
            raise UserError(f"No registered model {which} in the workspace ({sdk_message(e)}).") from None

    def environment(self, workspace: Any, name: str) -> Any:
        from azureml.core import Environment

        try:
            return Environment.get(workspace, name)
        except Exception as e:
            raise UserError(f"No environment {name!r} in the workspace ({sdk_message(e)}).") from None

    def package(self, workspace: Any, models: Sequence[Any], inference_config: Any) -> Any:
        from azureml.core import Model

        try:
            return Model.package(workspace, list(models), inference_config, generate_dockerfile=False)
        except Exception as e:
            raise BackendError(f"Azure ML refused to package the model: {sdk_message(e)}") from None

    def package_state(self, package: Any) -> Tuple[str, Any, Optional[str]]:
        """(state, error, image location) after a refresh."""
        package.update_creation_state()
        return str(package.state), package.error, package.location

    def package_log(self, package: Any, offset: int) -> bytes:
        """The build log from ``offset`` on (the SDK reads it with an HTTP Range request)."""
        return bytes(package.get_logs(decode=False, offset=offset) or b"")

    def package_registry(self, package: Any) -> Tuple[str, str, str]:
        """(address, username, password) of the registry that holds the package image."""
        registry = package.get_container_registry()
        return str(registry.address), str(registry.username), str(registry.password)


def sdk_message(error: BaseException) -> str:
    """The first line of what the SDK says (its exceptions carry the text in ``.message``)."""
    text = (getattr(error, "message", None) or str(error) or type(error).__name__).strip()
    return text.splitlines()[0][:300]


def status_of(azure_status: str) -> StepStatus:
    """Azure ML's run and step states in the session's five."""
    s = azure_status.lower()
    if s in ("running", "finalizing"):
        return StepStatus.RUNNING
    if s in ("finished", "completed"):
        return StepStatus.COMPLETED
    if s in ("failed", "notresponding"):
        return StepStatus.FAILED
    if s in ("canceled", "cancelled", "cancelrequested"):
        return StepStatus.CANCELED
    return StepStatus.NOT_STARTED  # NotStarted, Queued, Preparing, Starting, Provisioning, Unknown


def pip_names(packages: List[str]) -> List[str]:
    """Package names from pip requirement strings ('debugpy==1.8.0' -> 'debugpy')."""
    import re

    return [re.split(r"[<>=!~\[; ]", p.strip(), maxsplit=1)[0].lower() for p in packages if p.strip()]
