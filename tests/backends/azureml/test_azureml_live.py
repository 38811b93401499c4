"""Against a real Azure ML workspace: runs only when credentials are provided.

Set AMLDEBUG_LIVE_CONFIG to a workspace config.json and AMLDEBUG_LIVE_COMPUTE to a compute
cluster name (the identity running the tests must be able to submit there).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CONFIG = os.environ.get("AMLDEBUG_LIVE_CONFIG")
COMPUTE = os.environ.get("AMLDEBUG_LIVE_COMPUTE")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not (CONFIG and COMPUTE), reason="live Azure ML test: set AMLDEBUG_LIVE_CONFIG and AMLDEBUG_LIVE_COMPUTE"),
]


def test_a_debug_step_on_a_cluster_announces_its_endpoint(tmp_path: Path) -> None:
    from azureml.core import Workspace
    from azureml.pipeline.steps import PythonScriptStep

    from amldebug_jupyter import submit

    (tmp_path / "train.py").write_text("print('hello from the cluster')\n")
    ws = Workspace.from_config(path=CONFIG)
    step = PythonScriptStep(name="train", script_name="train.py", source_directory=str(tmp_path), compute_target=COMPUTE)
    run = submit([step], backend="azureml", debug=["train"], timeout=120, workspace=ws, experiment="amldebug-live")
    try:
        endpoint = run.wait_for_endpoint("train", timeout=1800)  # cluster start-up can take many minutes
        assert endpoint.port > 0 and endpoint.host
    finally:
        run.cancel()
