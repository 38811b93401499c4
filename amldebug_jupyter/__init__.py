"""amldebug-jupyter: debug Azure ML work from the notebook, with JupyterLab's own debugger.

Public API (imported lazily so that ``%load_ext amldebug_jupyter`` stays cheap)::

    from amldebug_jupyter import Pipeline, Step, submit
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Pipeline": "amldebug_jupyter.spec",
    "Step": "amldebug_jupyter.spec",
    "submit": "amldebug_jupyter.api",
    "DebugRun": "amldebug_jupyter.session",
    "Endpoint": "amldebug_jupyter.endpoints",
    "UserError": "amldebug_jupyter.errors",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from .api import submit
    from .errors import UserError
    from .endpoints import Endpoint
    from .session import DebugRun
    from .spec import Pipeline, Step


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext amldebug_jupyter``: register ``%aml_debug`` and, in a Jupyter kernel, open the
    comm to the JupyterLab extension (cheap: no SDK imports)."""
    from . import config, frontend
    from .magics import AmlDebugMagics

    config.install(ipython)
    ipython.register_magics(AmlDebugMagics)
    frontend.install(ipython)


def _jupyter_labextension_paths() -> list:
    """Where the prebuilt JupyterLab extension lives (for ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "amldebug-jupyter"}]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'amldebug_jupyter' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
