"""The optional "Python 3 (amldebug)" kernel: a stock IPython kernel whose debugger target survives
restarts, so JupyterLab's "Restart Kernel and Debug" goes back to the remote step.

Install it with ``amldebug kernelspec install``. In a stock kernel ``%load_ext amldebug_jupyter``
gives the same bridge, but a restart forgets the target (the extension is not reloaded before
JupyterLab's debugger reconnects).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

from ipykernel.ipkernel import IPythonKernel

from amldebug_jupyter.backends.local import amldebug_home
from amldebug_jupyter.bridge.kernel import KernelBridge
from amldebug_jupyter.bridge.remote import Target

KERNEL_NAME = "amldebug"
DISPLAY_NAME = "Python 3 (amldebug)"


def _state_file() -> Optional[Path]:
    """One file per kernel connection file: jupyter_client restarts a kernel with the same one."""
    from ipykernel.kernelapp import IPKernelApp

    if not IPKernelApp.initialized():
        return None
    connection = IPKernelApp.instance().connection_file
    if not connection:
        return None
    return amldebug_home() / "kernels" / (Path(connection).stem + ".json")


def save_target(path: Path, target: Optional[Target]) -> None:
    if target is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    data: Dict[str, Any] = {
        "host": target.host,
        "port": target.port,
        "label": target.label,
        "path_mappings": list(target.path_mappings),
        "just_my_code": target.just_my_code,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def load_target(path: Path) -> Optional[Target]:
    try:
        data = json.loads(path.read_text())
        return Target(
            data["host"],
            int(data["port"]),
            label=data.get("label", ""),
            path_mappings=tuple(data.get("path_mappings") or ()),
            just_my_code=bool(data.get("just_my_code", True)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


class AmlDebugKernel(IPythonKernel):
    implementation = "amldebug"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        bridge = KernelBridge.install(self)
        state = _state_file()
        if state is not None:
            bridge.target = load_target(state)
            bridge.on_change.append(lambda target, what: save_target(state, bridge.target))
        if self.shell is not None:
            self.shell.extension_manager.load_extension("amldebug_jupyter")


def install_kernelspec(user: bool = True, prefix: Optional[str] = None) -> str:
    """Install the kernelspec; returns where it went."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = {
        "argv": [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            f"--IPKernelApp.kernel_class={AmlDebugKernel.__module__}.{AmlDebugKernel.__name__}",
            "-f",
            "{connection_file}",
        ],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
    }
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "kernel.json").write_text(json.dumps(spec, indent=1))
        return KernelSpecManager().install_kernel_spec(tmp, KERNEL_NAME, user=user and prefix is None, prefix=prefix)
