"""Backends run a pipeline somewhere and tell the run what happens; see :mod:`.base`."""

from __future__ import annotations

from ..errors import UserError
from .base import Backend

from typing import Any

BACKENDS = ("local", "azureml")


def get_backend(name: str, workspace: Any = None, seed_args: bool = False) -> Backend:
    """Instantiate a backend by name (imports stay lazy: azureml is heavy)."""
    if name == "local":
        from .local import LocalBackend

        if seed_args:
            raise UserError("--seed-args is for --backend azureml; locally, give the seed arguments in the step itself.")
        return LocalBackend()
    if name == "azureml":
        from .azureml import AzureMLBackend

        return AzureMLBackend(workspace=workspace, seed_args=seed_args)
    raise UserError(f"Unknown backend {name!r}: choose one of {', '.join(BACKENDS)}.")
