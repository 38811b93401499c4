"""Helpers the tests and benchmarks share (the fixtures are in tests/conftest.py).

The modules beside this one each bring up one real thing, or the one fake: ``kernel_harness``
(a real ipykernel driven as JupyterLab drives it), ``docker_env`` (the Docker engine and a base
image), ``azurite`` (Blob storage), ``registry`` (a Docker registry), ``browser_artifacts``
(what a browser test leaves behind) and ``fake_azureml`` (Azure ML's service, faked at its boundary).
"""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path
from typing import Dict

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def line_of(path: Path, marker: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if marker in t)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot_tree(root: Path) -> Dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
