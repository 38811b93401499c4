"""``%load_ext`` and ``%unload_ext``: what the extension adds to a shell, and taking it all back.

Loading makes the kernel's :class:`~amldebug_jupyter.core.context.Context` (its config visible to
``%config``), registers ``%aml_debug`` and, in a Jupyter kernel, opens the comm to the JupyterLab
extension. Unloading closes that context: the debugger detaches (a remote step keeps running), the
kernel gets its own debugger back, the comm closes, the containers it started stop; then the magic
and the config go. Runs submitted before pass to the next context: they stay usable from Python,
and a later ``%load_ext`` lists them again.
"""

from __future__ import annotations

from typing import Any

from amldebug_jupyter import config
from amldebug_jupyter.config import AmlDebugConfig
from amldebug_jupyter.core import context
from amldebug_jupyter.core.context import Context
from amldebug_jupyter.notebook import comm
from amldebug_jupyter.notebook.magics import AmlDebugMagics

MAGIC = "aml_debug"


def load(ipython: Any) -> Context:
    ctx = Context(config=AmlDebugConfig(parent=ipython), runs=context.current().runs)
    context.activate(ctx)
    config.register(ipython, ctx.config)
    ctx.on_close(lambda: config.unregister(ipython, ctx.config))
    ipython.register_magics(AmlDebugMagics)
    kernel = getattr(ipython, "kernel", None)
    if kernel is not None:
        from amldebug_jupyter.bridge.kernel import KernelBridge

        ctx.on_close(lambda: KernelBridge.uninstall(kernel))
    comm.install(ipython, ctx)
    return ctx


def unload(ipython: Any) -> None:
    ctx = context.current()
    context.activate(Context(runs=ctx.runs))
    ctx.close()
    manager = ipython.magics_manager
    for kind in ("line", "cell"):
        manager.magics[kind].pop(MAGIC, None)
    manager.registry.pop(AmlDebugMagics.__name__, None)
