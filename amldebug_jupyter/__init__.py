"""amldebug-jupyter: debug Azure ML work from the notebook, with JupyterLab's own debugger.

Public API (imported lazily so that ``%load_ext amldebug_jupyter`` stays cheap)::

    from amldebug_jupyter import Pipeline, Step, submit
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Pipeline": "amldebug_jupyter.core.pipeline",
    "Step": "amldebug_jupyter.core.pipeline",
    "submit": "amldebug_jupyter.api",
    "DebugRun": "amldebug_jupyter.core.run",
    "Endpoint": "amldebug_jupyter.core.endpoints",
    "UserError": "amldebug_jupyter.errors",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from amldebug_jupyter.api import submit
    from amldebug_jupyter.core.endpoints import Endpoint
    from amldebug_jupyter.core.pipeline import Pipeline, Step
    from amldebug_jupyter.core.run import DebugRun
    from amldebug_jupyter.errors import UserError


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext amldebug_jupyter``: register ``%aml_debug`` and, in a Jupyter kernel, open the
    comm to the JupyterLab extension (cheap: no SDK imports)."""
    from amldebug_jupyter.notebook import extension

    extension.load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext amldebug_jupyter``: take back all that loading added (see notebook/extension)."""
    from amldebug_jupyter.notebook import extension

    extension.unload(ipython)


def _jupyter_labextension_paths() -> list:
    """Where the prebuilt JupyterLab extension lives (for ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "amldebug-jupyter"}]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # importlib.metadata is slow to import: only when asked
        return _version()
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'amldebug_jupyter' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def _version() -> str:
    """The installed distribution's version, which its build took from labextension/package.json."""
    import importlib.metadata

    try:
        return importlib.metadata.version("amldebug-jupyter")
    except importlib.metadata.PackageNotFoundError:  # a checkout on sys.path that was never installed
        return "0+unknown"
