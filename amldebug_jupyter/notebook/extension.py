"""``%load_ext`` and ``%unload_ext``: what the extension adds to a shell, and taking it all back.

Loading makes the kernel's :class:`~amldebug_jupyter.core.context.Context` (its config visible to
``%config``), registers ``%aml_debug`` and, in a Jupyter kernel, opens the comm to the JupyterLab
extension. Unloading closes that context: the debugger detaches (a remote step keeps running), the
kernel gets its own debugger back, the comm closes, the containers it started stop; then the magic
and the config go. Runs submitted before pass to the next context: they stay usable from Python,
and a later ``%load_ext`` lists them again.

Local runs outlive a kernel *restart* (the user goes on working): the kernel's shutdown_request
says whether it restarts, and only a plain shutdown stops the steps this kernel started. The new
kernel adopts the runs a previous one left behind (their records under ``AMLDEBUG_HOME``), so
``%aml_debug status``, ``attach`` and ``cancel`` and the sidebar reach a step that still waits.
"""

from __future__ import annotations

import inspect
from typing import Any, List

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
        ctx.on_close(_keep_local_steps_over_restart(kernel))
    comm.install(ipython, ctx)
    if kernel is not None:
        ctx.runs.add_found(lambda: _left_runs(ctx))
    return ctx


def _keep_local_steps_over_restart(kernel: Any) -> Any:
    """Wrap the kernel's shutdown_request: a restart keeps local steps for the next kernel, a
    shutdown stops them. Returns the undo."""
    handlers = getattr(kernel, "control_handlers", {})
    stock = handlers.get("shutdown_request")
    if stock is None:
        return lambda: None

    async def on_shutdown(stream: Any, ident: Any, parent: Any) -> Any:
        from amldebug_jupyter.backends import local

        local.set_exit_policy("keep" if (parent.get("content") or {}).get("restart") else "cancel")
        result = stock(stream, ident, parent)
        return await result if inspect.isawaitable(result) else result

    handlers["shutdown_request"] = on_shutdown

    def undo() -> None:
        if handlers.get("shutdown_request") is on_shutdown:
            handlers["shutdown_request"] = stock

    return undo


def _left_runs(ctx: Context) -> List[Any]:
    """The runs a previous kernel left (imported here, not at %load_ext: the local backend is not cheap)."""
    from amldebug_jupyter.backends import local

    return list(local.adopt_runs(skip_ids=[r.id for r in ctx.runs.all()]))


def unload(ipython: Any) -> None:
    ctx = context.current()
    context.activate(Context(runs=ctx.runs))
    ctx.close()
    manager = ipython.magics_manager
    for kind in ("line", "cell"):
        manager.magics[kind].pop(MAGIC, None)
    manager.registry.pop(AmlDebugMagics.__name__, None)
