"""Defaults users set with ``%config AmlDebugConfig.<name> = value`` (or ipython_config.py)."""

from __future__ import annotations

from typing import Any

from traitlets import Bool, CaselessStrEnum, Float, Int, Unicode
from traitlets.config import Configurable


class AmlDebugConfig(Configurable):
    backend = Unicode("local", config=True, help="Backend for %aml_debug pipeline submit when --backend is not given.")
    attach_timeout = Float(300.0, config=True, help="Seconds a debug step waits for a debugger (--timeout).")
    attach_mode = CaselessStrEnum(
        ["auto", "manual"],
        "auto",
        config=True,
        help=("auto: retarget the kernel's debugger when the first debug step is ready; manual: only announce it."),
    )
    stop_on_entry = Bool(True, config=True, help="Stop at the first statement of a debug step's script.")
    show_panel = Bool(True, config=True, help="Show the run panel after %aml_debug pipeline submit.")
    log_lines = Int(50, config=True, help="Lines %aml_debug logs shows when --lines is not given.")
    panel_log_lines = Int(200, config=True, help="Log lines the panel keeps for the selected step.")
    endpoint_wait = Float(
        60.0, config=True, help=("Seconds %aml_debug attach STEP waits for the step to announce its debug endpoint (--wait).")
    )
    connect_timeout = Float(10.0, config=True, help="Seconds to reach a remote debugger and get its answer to 'initialize'.")
    request_timeout = Float(10.0, config=True, help="Seconds any other debugger request may take before it fails.")
    liveness_interval = Float(
        2.0,
        config=True,
        help="Seconds without a word from a running remote debugger before checking that it still answers.",
    )
    liveness_timeout = Float(
        3.0,
        config=True,
        help="Seconds that check may take before the remote counts as lost (frozen, or the network down).",
    )
    max_frame_bytes = Int(64 * 2**20, config=True, help="Largest debugger message accepted; a bigger one closes the connection.")
    configuration_grace = Float(
        3.0,
        config=True,
        help=(
            "After 'attach', seconds to wait for the debugger UI's breakpoints before the remote step is released "
            "(JupyterLab's sequence releases it sooner, at its setExceptionBreakpoints)."
        ),
    )


def register(shell: Any, config: AmlDebugConfig) -> None:
    """Make ``config`` the one ``%config AmlDebugConfig`` edits in ``shell``."""
    if config not in shell.configurables:
        shell.configurables.append(config)


def unregister(shell: Any, config: AmlDebugConfig) -> None:
    if config in shell.configurables:
        shell.configurables.remove(config)
