"""The Azure ML v1 backend with real azureml-core objects built offline; only the service is faked."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from azureml.core import RunConfiguration
from azureml.core.conda_dependencies import CondaDependencies
from azureml.pipeline.core import PipelineData, PipelineParameter
from azureml.pipeline.steps import PythonScriptStep
from support import snapshot_tree, write
from support.fake_azureml import FakeAzureMLService, offline_workspace

from amldebug_jupyter import UserError, submit
from amldebug_jupyter.backends.azureml import steps as azureml_backend
from amldebug_jupyter.errors import SpecError


@pytest.fixture(autouse=True)
def fake_service(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeAzureMLService.submitted.clear()
    monkeypatch.setattr(azureml_backend, "AzureMLService", FakeAzureMLService)


def seed_runconfig(pip=("azureml-sdk==1.61.0",)) -> RunConfiguration:
    """The seed document's run configuration, without debug packages."""
    rc = RunConfiguration()
    rc.environment.python.user_managed_dependencies = False
    rc.environment.python.conda_dependencies = CondaDependencies.create(conda_packages=["numpy"], pip_packages=list(pip))
    return rc


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "code" / "step1" / "prep.py", "print('prep')\n")
    write(tmp_path / "code" / "step2" / "train.py", "from helper import lr\nprint('train', lr)\n")
    write(tmp_path / "code" / "step2" / "helper.py", "lr = 0.1\n")
    return tmp_path / "code"


def seed_steps(project: Path, rc: RunConfiguration):
    prepped = PipelineData("prepped")
    lr = PipelineParameter("lr", default_value=0.1)
    prep = PythonScriptStep(
        name="prep",
        script_name="prep.py",
        arguments=["--out", prepped],
        outputs=[prepped],
        compute_target="cpu-cluster",
        source_directory=str(project / "step1"),
        runconfig=rc,
    )
    train = PythonScriptStep(
        name="train",
        script_name="train.py",
        arguments=["--data", prepped, "--lr", lr],
        inputs=[prepped],
        compute_target="cpu-cluster",
        source_directory=str(project / "step2"),
        runconfig=rc,
        allow_reuse=True,
    )
    train.run_after(prep)
    return prep, train, prepped, lr


def last_submission():
    assert FakeAzureMLService.submitted, "nothing was submitted"
    return FakeAzureMLService.submitted[-1]


def test_debug_step_is_rewritten_and_the_others_are_not(project: Path, amldebug_home: Path) -> None:
    rc = seed_runconfig()
    prep, train, prepped, lr = seed_steps(project, rc)
    before = snapshot_tree(project)
    run = submit(
        [prep, train], backend="azureml", debug=["train"], timeout=120, workspace=offline_workspace(), experiment="seed-exp"
    )
    sent = last_submission()
    assert sent["experiment"] == "seed-exp"
    new_prep, new_train = sent["steps"]
    assert new_prep is prep  # unchanged, reuse as the user set it
    assert new_train is not train and new_train.name == "train"
    assert new_train._script_name == "_amldebug_entry.py"
    assert new_train._arguments == [
        "--host",
        "auto",
        "--port",
        "0",
        "--timeout",
        "120",
        "--step",
        "train",
        "--stop-on-entry",
        "--",
        "train.py",
        "--data",
        prepped,
        "--lr",
        lr,
    ]
    assert new_train._arguments[12] is prepped and new_train._arguments[14] is lr  # data bindings untouched
    assert new_train._allow_reuse is False
    assert new_train._inputs[0] is prepped and new_train._compute_target == "cpu-cluster"
    assert new_train.run_after_steps == [prep]
    pip = list(new_train._runconfig.environment.python.conda_dependencies.pip_packages)
    assert pip == ["azureml-sdk==1.61.0", "debugpy"]
    assert list(rc.environment.python.conda_dependencies.pip_packages) == ["azureml-sdk==1.61.0"]  # user's object intact
    staged = Path(new_train._source_directory)
    assert staged.is_relative_to(amldebug_home)
    assert sorted(p.name for p in staged.iterdir()) == ["_amldebug_entry.py", "helper.py", "train.py"]
    assert snapshot_tree(project) == before  # the user's folders untouched
    assert run.links["Azure ML studio"].startswith("https://ml.azure.com/runs/")
    run.cancel()
    assert run.wait(30) == "Canceled"


def test_the_users_debugpy_pin_wins(project: Path) -> None:
    prep, train, *_ = seed_steps(project, seed_runconfig(pip=("azureml-sdk==1.61.0", "debugpy==1.8.0")))
    submit([prep, train], backend="azureml", debug="train", workspace=offline_workspace()).cancel()
    pip = list(last_submission()["steps"][1]._runconfig.environment.python.conda_dependencies.pip_packages)
    assert pip == ["azureml-sdk==1.61.0", "debugpy==1.8.0"]


def test_seed_args_drive_a_seed_instrumented_script(project: Path) -> None:
    prep, train, prepped, lr = seed_steps(project, seed_runconfig())
    run = submit([prep, train], backend="azureml", debug="train", timeout=300, workspace=offline_workspace(), seed_args=True)
    new_train = last_submission()["steps"][1]
    assert new_train._script_name == "train.py" and new_train._source_directory == str(project / "step2")
    args = new_train._arguments
    assert args[:4] == ["--data", prepped, "--lr", lr]
    assert args[4:7] == ["--remote_debug", "--remote_debug_connection_timeout", 300]
    assert args[7] == "--remote_debug_client_ip" and args[9:] == ["--remote_debug_port", 5678]
    assert new_train._allow_reuse is False
    assert any("Cannot assign requested address" in n for n in run.notes)
    run.cancel()


def test_endpoint_from_run_properties_and_status_with_portal_link(project: Path) -> None:
    prep, train, *_ = seed_steps(project, seed_runconfig())
    run = submit([prep, train], backend="azureml", debug="train", workspace=offline_workspace())
    fake = last_submission()["run"]
    fake.start("prep").status = "Finished"
    child = fake.start("train")
    child.properties["amldebug_endpoint_start"] = json.dumps(
        {
            "host": "10.0.0.4",
            "port": 41234,
            "step": "train",
            "remote_root": "/mnt/azureml/cr/j/abc/exe/wd",
            "deadline": time.time() + 300,
            "pid": 77,
        }
    )
    endpoint = run.wait_for_endpoint("train", timeout=10)
    assert endpoint.address == "10.0.0.4:41234"
    assert run.path_mappings("train") == [{"localRoot": str(project / "step2"), "remoteRoot": "/mnt/azureml/cr/j/abc/exe/wd"}]
    deadline = time.monotonic() + 10
    while run.steps["prep"].status != "Completed" and time.monotonic() < deadline:
        time.sleep(0.1)
    from amldebug_jupyter.core.report import RunStatus

    status = RunStatus(run)
    assert "https://ml.azure.com/runs/" in repr(status) and "open in Azure ML studio" in status._repr_html_()
    assert [r["status"] for r in status.rows] == ["Completed", "Running"]
    run.cancel()
    assert run.wait(30) == "Canceled" and run.steps["train"].status == "Canceled"


def test_light_pipeline_on_azureml_is_refused(project: Path) -> None:
    from amldebug_jupyter import Pipeline, Step

    with pytest.raises(SpecError, match="is not a PythonScriptStep: --backend azureml takes a v1 Pipeline"):
        submit(Pipeline("p", [Step("prep", "prep.py", project / "step1")]), backend="azureml", workspace=offline_workspace())


def test_azureml_steps_run_on_the_local_backend(project: Path) -> None:
    plain = PythonScriptStep(
        name="train",
        script_name="train.py",
        arguments=["--lr", 0.5],
        compute_target="cpu-cluster",
        source_directory=str(project / "step2"),
    )
    run = submit([plain])
    assert run.wait(30) == "Completed" and "train 0.1" in run.logs("train")
    prep, train, *_ = seed_steps(project, seed_runconfig())
    with pytest.raises(SpecError, match="argument \\$AZUREML_DATAREFERENCE_prepped \\(PipelineData\\) only exists on Azure ML"):
        submit([prep, train])


def test_missing_workspace_config_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from amldebug_jupyter.backends.azureml.service import AzureMLService

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(UserError) as err:
        AzureMLService().workspace()
    assert str(err.value).startswith("No Azure ML workspace config (config.json) found")


def test_without_the_azureml_extra_it_says_how_to_install(monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
    from amldebug_jupyter import Pipeline, Step

    monkeypatch.setitem(sys.modules, "azureml.pipeline.steps", None)
    with pytest.raises(UserError, match=r"pip install 'amldebug-jupyter\[azureml\]'"):
        submit(Pipeline("p", [Step("prep", "prep.py", project / "step1")]), backend="azureml")
