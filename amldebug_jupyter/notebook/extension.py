"""``%load_ext`` and ``%unload_ext``: what the extension adds to a shell, and taking it all back.

Loading registers ``%aml_debug``, makes the config visible to ``%config`` and, in a Jupyter
kernel, opens the comm to the JupyterLab extension (which installs the debugger bridge). Unloading
detaches the debugger (a remote step keeps running), gives the kernel back its own debugger,
closes the comm, stops the containers this kernel started and removes the magic; runs submitted
before stay usable from Python, and a later ``%load_ext`` lists them again.
"""

from __future__ import annotations

import sys
from typing import Any

from amldebug_jupyter import config
from amldebug_jupyter.notebook import comm
from amldebug_jupyter.notebook.magics import AmlDebugMagics

MAGIC = "aml_debug"


def load(ipython: Any) -> None:
    config.install(ipython)
    ipython.register_magics(AmlDebugMagics)
    comm.install(ipython)


def unload(ipython: Any) -> None:
    comm.uninstall()
    kernel = getattr(ipython, "kernel", None)
    if kernel is not None:
        from amldebug_jupyter.bridge.kernel import KernelBridge

        KernelBridge.uninstall(kernel)
    containers = sys.modules.get("amldebug_jupyter.docker.containers")
    if containers is not None:  # only if this kernel ever used them
        containers.stop_started()
    manager = ipython.magics_manager
    for kind in ("line", "cell"):
        manager.magics[kind].pop(MAGIC, None)
    manager.registry.pop(AmlDebugMagics.__name__, None)
    config.uninstall(ipython)
