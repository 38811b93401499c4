"""Shared fixtures: an isolated AMLDEBUG_HOME, sample projects, and a debugger client helper."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
from support.browser_artifacts import KEY as ARTIFACTS

from amldebug_jupyter.dap import DapClient, attach

# The azureml extra's pipeline packages install only on Python < 3.12, so their tests exist there
# only; everywhere else they must import (a missing extra fails, it is not skipped).
AZUREML_TESTS = ["backends/azureml", "deploy/test_model_package.py"]
AZUREML_INSTALLS = sys.version_info < (3, 12)
collect_ignore = [] if AZUREML_INSTALLS else AZUREML_TESTS


@pytest.fixture(autouse=True)
def amldebug_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own run history, never the developer's ~/.amldebug."""
    home = tmp_path / "amldebug-home"
    monkeypatch.setenv("AMLDEBUG_HOME", str(home))
    return home


class Debugger:
    """A DAP client that attached with breakpoints and can read the stopped frame."""

    def __init__(self, client: DapClient, verified: Dict[str, List[dict]]) -> None:
        self.client = client
        self.verified = verified

    def stopped(self, timeout: float = 20) -> dict:
        event = self.client.wait_for_event("stopped", timeout)
        frames = self.client.request("stackTrace", {"threadId": event["body"]["threadId"]})["stackFrames"]
        return {"event": event, "frames": frames, "thread": event["body"]["threadId"]}

    def evaluate(self, frame_id: int, expression: str) -> str:
        return self.client.request("evaluate", {"expression": expression, "frameId": frame_id, "context": "repl"})["result"]

    def resume(self, thread: int) -> None:
        self.client.request("continue", {"threadId": thread})


@pytest.fixture
def debugger() -> Iterator:
    clients: List[DapClient] = []

    def connect(endpoint, path_mappings=(), breakpoints=None, **kw) -> Debugger:
        client = DapClient(endpoint.host, endpoint.port, connect_timeout=5, request_timeout=15)
        clients.append(client)
        return Debugger(client, attach(client, path_mappings=path_mappings, breakpoints=breakpoints, **kw))

    yield connect
    for c in clients:
        if not c.closed:
            try:
                c.request("disconnect", {"terminateDebuggee": False}, timeout=3)
            except Exception:
                pass
            c.close()


PYTHON = sys.executable
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


@pytest.fixture(scope="session")
def debug_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local debug scoring image (the first build takes about 100 s on the vfs driver)."""
    from support.docker_env import ensure_base_image

    from amldebug_jupyter.deploy.images import build_local_image

    home = os.environ.get("AMLDEBUG_IMAGE_HOME") or str(tmp_path_factory.mktemp("image-home"))
    previous = os.environ.get("AMLDEBUG_HOME")
    os.environ["AMLDEBUG_HOME"] = home  # the wheel cache lives here
    try:
        yield build_local_image(ensure_base_image(), say=lambda line: None)
    finally:
        if previous is None:
            os.environ.pop("AMLDEBUG_HOME", None)
        else:
            os.environ["AMLDEBUG_HOME"] = previous


def pytest_report_header() -> str:
    import debugpy
    import ipykernel

    azureml = "" if AZUREML_INSTALLS else f"; not collected on Python 3.12+ (no azureml extra): {', '.join(AZUREML_TESTS)}"
    return f"ipykernel {ipykernel.__version__}, debugpy {debugpy.__version__}{azureml}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failed browser test keeps its screenshot and logs, and its report says where (browser_artifacts.py)."""
    report = (yield).get_result()
    artifacts = item.stash.get(ARTIFACTS, None)
    if report.failed and artifacts is not None:
        note = artifacts.save()
        if hasattr(report.longrepr, "addsection"):  # in the failure's own text, under the traceback
            report.longrepr.addsection("browser test artifacts", note)
        else:
            report.sections.append(("browser test artifacts", note))
