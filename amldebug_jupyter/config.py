"""Defaults users set with ``%config AmlDebugConfig.<name> = value`` (or ipython_config.py)."""

from __future__ import annotations

from typing import Any, Optional

from traitlets import Bool, CaselessStrEnum, Float, Int, Unicode
from traitlets.config import Configurable


class AmlDebugConfig(Configurable):
    backend = Unicode("local", config=True, help="Backend for %aml_debug pipeline submit when --backend is not given.")
    attach_timeout = Float(300.0, config=True, help="Seconds a debug step waits for a debugger (--timeout).")
    attach_mode = CaselessStrEnum(["auto", "manual"], "auto", config=True, help=(
        "auto: retarget the kernel's debugger when the first debug step is ready; manual: only announce it."))
    stop_on_entry = Bool(True, config=True, help="Stop at the first statement of a debug step's script.")
    show_panel = Bool(True, config=True, help="Show the run panel after %aml_debug pipeline submit.")
    log_lines = Int(50, config=True, help="Lines %aml_debug logs shows when --lines is not given.")
    panel_log_lines = Int(200, config=True, help="Log lines the panel keeps for the selected step.")
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


def uninstall(shell: Any) -> None:
    """Forget the shell's config object (``%unload_ext``); the next install starts from defaults."""
    global _instance
    if _instance is not None and _instance in shell.configurables:
        shell.configurables.remove(_instance)
    _instance = None


def current() -> AmlDebugConfig:
    global _instance
    if _instance is None:
        _instance = AmlDebugConfig()
    return _instance
