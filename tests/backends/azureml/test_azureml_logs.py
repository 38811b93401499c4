"""Azure backend end to end above the service: fake runs, real log blobs (Azurite), real SAS URLs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest
from azureml.pipeline.steps import PythonScriptStep
from support import write
from support.azurite import Azurite, azurite
from support.fake_azureml import FakeAzureMLService, offline_workspace

from amldebug_jupyter import submit
from amldebug_jupyter.backends.azureml import steps as azureml_backend
from amldebug_jupyter.errors import AttachTimeout, BackendError

pytestmark = pytest.mark.azurite


@pytest.fixture(scope="module")
def blobs() -> Iterator[Azurite]:
    with azurite() as az:
        yield az


@pytest.fixture(autouse=True)
def fake_service(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeAzureMLService.submitted.clear()
    monkeypatch.setattr(azureml_backend, "AzureMLService", FakeAzureMLService)


@pytest.fixture
def steps(tmp_path: Path):
    prep = write(tmp_path / "prep" / "prep.py", "print('prep')\n").parent
    train = write(tmp_path / "train" / "train.py", "print('train')\n").parent
    return [
        PythonScriptStep(name="prep", script_name="prep.py", source_directory=str(prep), compute_target="cpu"),
        PythonScriptStep(name="train", script_name="train.py", source_directory=str(train), compute_target="cpu"),
    ]


def publish_logs(blobs: Azurite, child, container: str) -> None:
    """What get_details()['logFiles'] returns for a step: every blob of its folder, by SAS URL."""
    child.log_files = blobs.list_sas(container)


def test_endpoint_discovered_from_step_logs_while_other_steps_log_too(blobs: Azurite, steps) -> None:
    run = submit(steps, backend="azureml", debug=["train"], timeout=300, workspace=offline_workspace())
    fake = FakeAzureMLService.submitted[-1]["run"]
    blobs.container("prep-logs")
    prep_log = blobs.append_blob("prep-logs", "azureml-logs/70_driver_log_0.txt", b"prep starting\n")
    prep = fake.start("prep")
    publish_logs(blobs, prep, "prep-logs")
    blobs.container("train-logs")
    std = blobs.append_blob("train-logs", "user_logs/std_log_process_0.txt", b"Loading data\n")
    blobs.append_blob("train-logs", "system_logs/lifecycler/execution-wrapper.log", b"ignored\n")
    train = fake.start("train")
    publish_logs(blobs, train, "train-logs")
    t0 = time.monotonic()
    info = {
        "host": "10.0.0.4",
        "port": 40123,
        "pid": 9,
        "step": "train",
        "rank": 0,
        "deadline": time.time() + 300,
        "remote_root": "/mnt/azureml/exe/wd",
    }
    blobs.append(
        std, ("AMLDEBUG_ENDPOINT " + json.dumps(info) + "\nTimeout for debug connection: 300\nip_address: 10.0.0.4\n").encode()
    )
    blobs.append(prep_log, b"prep still going\n")
    endpoint = run.wait_for_endpoint("train", timeout=20)
    assert endpoint.address == "10.0.0.4:40123" and endpoint.remote_root == "/mnt/azureml/exe/wd"
    assert time.monotonic() - t0 < 4  # polled every 1-2 s while a debug step waits
    deadline = time.monotonic() + 10
    while "prep still going" not in run.steps["prep"].recent_lines and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "prep still going" in run.steps["prep"].recent_lines  # all steps tailed together
    assert "ignored" not in run.steps["train"].recent_lines
    assert "Loading data" in run.logs("train")
    prep.status, train.status, fake.status = "Finished", "Finished", "Finished"
    assert run.wait(30) == "Completed"


def test_a_step_that_fails_before_listening_is_reported(blobs: Azurite, steps) -> None:
    run = submit(steps, backend="azureml", debug=["train"], workspace=offline_workspace())
    fake = FakeAzureMLService.submitted[-1]["run"]
    blobs.container("failing")
    blobs.append_blob("failing", "user_logs/std_log.txt", b"ModuleNotFoundError: No module named 'torch'\n")
    fake.start("prep").status = "Finished"
    train = fake.start("train")
    publish_logs(blobs, train, "failing")
    train.status = "Failed"
    fake.status = "Failed"
    with pytest.raises(BackendError, match="ended before train announced a debug endpoint"):
        run.wait_for_endpoint("train", timeout=20)
    assert run.wait(10) == "Failed" and run.steps["train"].status == "Failed"
    assert "No module named 'torch'" in run.logs("train")


def test_a_step_that_never_announces_is_reported_when_the_wait_ends(blobs: Azurite, steps) -> None:
    run = submit(steps, backend="azureml", debug=["train"], timeout=300, workspace=offline_workspace())
    fake = FakeAzureMLService.submitted[-1]["run"]
    blobs.container("silent")
    blobs.append_blob("silent", "user_logs/std_log.txt", b"training without a debugger\n")
    train = fake.start("train")
    publish_logs(blobs, train, "silent")
    with pytest.raises(AttachTimeout, match=r"No debug endpoint from train after 3 s; see its log with run.logs\('train'\)"):
        run.wait_for_endpoint("train", timeout=3)
    run.cancel()
    assert run.wait(10) == "Canceled"


@pytest.mark.parametrize("problem", ["expired", "malformed", "unreachable"])
def test_logs_of_a_step_on_azure_fail_in_one_line_without_the_sas(blobs: Azurite, steps, problem: str) -> None:
    import datetime as dt

    from IPython import get_ipython
    from IPython.core.error import UsageError
    from IPython.testing.globalipapp import start_ipython

    run = submit(steps, backend="azureml", debug=["train"], workspace=offline_workspace())
    fake = FakeAzureMLService.submitted[-1]["run"]
    blobs.container("denied")
    blob = blobs.append_blob("denied", "user_logs/std_log.txt", b"Loading data\n")
    url = {
        "expired": blobs.sas_url(blob, dt.timedelta(minutes=-5)),
        "malformed": blobs.sas_url(blob).split("://", 1)[1],  # no scheme
        "unreachable": "http://127.0.0.1:1/denied/user_logs/std_log.txt?" + blobs.sas_url(blob).split("?", 1)[1],
    }[problem]
    secret = url.split("sig=", 1)[1].split("&", 1)[0]
    fake.start("prep").status = "Finished"
    fake.start("train").log_files = {"user_logs/std_log.txt": url}
    deadline = time.monotonic() + 20
    while run.steps["train"].status != "Running" and time.monotonic() < deadline:  # the backend found the step
        time.sleep(0.1)
    with pytest.raises(BackendError, match="Could not read the log user_logs/std_log.txt of step 'train'") as err:
        run.logs("train")
    assert secret not in str(err.value) and "\n" not in str(err.value)
    ip = start_ipython() or get_ipython()
    ip.extension_manager.load_extension("amldebug_jupyter")  # the runs pass on to its context
    try:
        with pytest.raises(UsageError) as failed:  # the cell fails with one line
            ip.run_line_magic("aml_debug", f"logs train --run {run.id}")
    finally:
        ip.extension_manager.unload_extension("amldebug_jupyter")
    shown = str(failed.value)
    assert "Could not read the log" in shown and secret not in shown and "\n" not in shown
    fake.status = "Canceled"
