"""Backends run a pipeline somewhere and tell the run what happens; see :mod:`.base`."""

from __future__ import annotations

from typing import Any, Optional

from amldebug_jupyter.core.backend import Backend
from amldebug_jupyter.errors import UserError

BACKENDS = ("local", "azureml")


def get_backend(name: str, workspace: Any = None, seed_args: bool = False, docker_image: Optional[str] = None) -> Backend:
    """Instantiate a backend by name (imports stay lazy: azureml is heavy)."""
    if name == "local":
        from amldebug_jupyter.backends.local import LocalBackend

        if seed_args:
            raise UserError("--seed-args is for --backend azureml; locally, give the seed arguments in the step itself.")
        return LocalBackend(image=docker_image)
    if docker_image:
        raise UserError("Running steps in a local container is for --backend local.")
    if name == "azureml":
        from amldebug_jupyter.backends.azureml.steps import AzureMLBackend

        return AzureMLBackend(workspace=workspace, seed_args=seed_args)
    raise UserError(f"Unknown backend {name!r}: choose one of {', '.join(BACKENDS)}.")
