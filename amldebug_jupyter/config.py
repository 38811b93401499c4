"""Defaults users set with ``%config AmlDebugConfig.<name> = value`` (or ipython_config.py)."""

from __future__ import annotations

from typing import Any, Optional

from traitlets import Float
from traitlets.config import Configurable


class AmlDebugConfig(Configurable):
    connect_timeout = Float(10.0, config=True, help="Seconds to reach a remote debugger and get its answer to 'initialize'.")
    request_timeout = Float(10.0, config=True, help="Seconds any other debugger request may take before it fails.")
    configuration_grace = Float(3.0, config=True, help=(
        "After 'attach', seconds to wait for the debugger UI's breakpoints before the remote step is released "
        "(JupyterLab's sequence releases it sooner, at its setExceptionBreakpoints)."))


_instance: Optional[AmlDebugConfig] = None


def install(shell: Any) -> AmlDebugConfig:
    """Create the shell's config object and make it visible to ``%config``."""
    global _instance
    _instance = AmlDebugConfig(parent=shell)
    if _instance not in shell.configurables:
        shell.configurables.append(_instance)
    return _instance


def current() -> AmlDebugConfig:
    global _instance
    if _instance is None:
        _instance = AmlDebugConfig()
    return _instance
