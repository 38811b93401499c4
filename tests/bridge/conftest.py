"""Fixtures of the bridge tests: a real kernel as JupyterLab drives it, and a step script."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from support import write
from support.kernel_harness import LabFrontend, lab_kernel
from support.steps import TRAIN


@pytest.fixture
def train_py(tmp_path: Path) -> Path:
    return write(tmp_path / "project" / "train" / "train.py", TRAIN)


@pytest.fixture
def lab(amldebug_home: Path) -> Iterator[LabFrontend]:
    with lab_kernel({"AMLDEBUG_HOME": str(amldebug_home), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}) as fe:
        assert fe.execute("%load_ext amldebug_jupyter")["status"] == "ok"
        yield fe
