"""FakeAzureMLService: the one stand-in for Azure ML's service calls (submit, children, details, cancel).

Everything above it is real: azureml-core objects built offline, our step rewriting, the session,
and log tailing over HTTP from real Blob storage (Azurite). Tests drive the fake run's states.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence

import jwt


def offline_workspace() -> Any:
    """A real azureml Workspace object that needs no network until a service call is made."""
    from azureml.core import Workspace
    from azureml.core.authentication import ArmTokenAuthentication

    token = jwt.encode({"exp": 4102444800, "oid": "offline", "tid": "offline"}, "offline-test-key-" * 2, algorithm="HS256")
    return Workspace("00000000-0000-0000-0000-000000000000", "rg-amldebug", "ws-amldebug",
                     auth=ArmTokenAuthentication(token), _disable_service_check=True,
                     _workspace_id="11111111-1111-1111-1111-111111111111", _location="westeurope")


class FakeStepRun:
    def __init__(self, name: str) -> None:
        self.name = name
        self.status = "NotStarted"
        self.log_files: Dict[str, str] = {}
        self.properties: Dict[str, str] = {}


class FakePipelineRun:
    def __init__(self, run_id: str, steps: Sequence[Any]) -> None:
        self.id = run_id
        self.steps = list(steps)
        self.status = "Running"
        self.children: Dict[str, FakeStepRun] = {}
        self.canceled = threading.Event()

    def start(self, name: str) -> FakeStepRun:
        child = self.children.setdefault(name, FakeStepRun(name))
        child.status = "Running"
        return child


class FakeAzureMLService:
    """Records what would be sent to Azure ML and answers from state the test controls."""

    submitted: List[Dict[str, Any]] = []

    def __init__(self) -> None:
        self.runs: List[FakePipelineRun] = []
        self.calls: List[str] = []

    def workspace(self, workspace: Any = None) -> Any:
        self.calls.append("workspace")
        return workspace if workspace is not None else offline_workspace()

    def submit(self, workspace: Any, experiment: str, steps: Sequence[Any], description: str) -> FakePipelineRun:
        self.calls.append("submit")
        run = FakePipelineRun(f"{experiment}_fake_{len(self.runs) + 1}", steps)
        self.runs.append(run)
        type(self).submitted.append({"workspace": workspace, "experiment": experiment, "steps": list(steps),
                                     "run": run, "service": self})
        return run

    def step_runs(self, run: FakePipelineRun) -> Dict[str, FakeStepRun]:
        return dict(run.children)

    def status(self, run: Any) -> str:
        return run.status

    def log_files(self, step_run: FakeStepRun) -> Mapping[str, str]:
        return dict(step_run.log_files)

    def properties(self, step_run: FakeStepRun) -> Mapping[str, str]:
        return dict(step_run.properties)

    def cancel(self, run: FakePipelineRun) -> None:
        self.calls.append("cancel")
        run.canceled.set()
        for child in run.children.values():
            if child.status in ("Running", "NotStarted"):
                child.status = "Canceled"
        run.status = "Canceled"

    def portal_url(self, run: FakePipelineRun) -> Optional[str]:
        return f"https://ml.azure.com/runs/{run.id}?wsid=/subscriptions/0/resourcegroups/rg-amldebug/workspaces/ws-amldebug"

    def run_id(self, run: FakePipelineRun) -> str:
        return run.id
