"""Backends run a pipeline somewhere and tell the run what happens; see :mod:`.base`."""

from __future__ import annotations

from ..errors import UserError
from .base import Backend

BACKENDS = ("local",)


def get_backend(name: str) -> Backend:
    """Instantiate a backend by name (imports stay lazy: azureml is heavy)."""
    if name == "local":
        from .local import LocalBackend

        return LocalBackend()
    raise UserError(f"Unknown backend {name!r}: choose one of {', '.join(BACKENDS)}.")
