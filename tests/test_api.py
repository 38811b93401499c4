"""submit()'s contract for bad input: one clear line, nothing started, user files untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import snapshot_tree, write

from amldebug_jupyter import Pipeline, Step, UserError, submit


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    src = write(tmp_path / "src" / "train.py", "print('ok')\n").parent
    return Pipeline("p", [Step("train", "train.py", src)])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"timeout": -1}, "timeout must be a number of seconds >= 0, got -1"),
        ({"timeout": "soon"}, "timeout must be a number of seconds >= 0, got 'soon'"),
        ({"timeout": float("nan")}, "timeout must be a number"),
        ({"port": 70000}, "port must be an integer from 0"),
        ({"port": "5678"}, "port must be an integer from 0"),
        ({"debug": ["evaluate"]}, "No step named 'evaluate' in pipeline 'p' (steps: train)."),
        ({"backend": "kubernetes"}, "Unknown backend 'kubernetes': choose one of local, azureml."),
    ],
)
def test_bad_options(pipeline: Pipeline, amldebug_home: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(UserError) as err:
        submit(pipeline, **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (amldebug_home / "runs").exists() or not any((amldebug_home / "runs").iterdir())


def test_wrong_pipeline_type(amldebug_home: Path) -> None:
    with pytest.raises(UserError, match="Expected an amldebug_jupyter.Pipeline, a YAML path, or azureml steps, got int"):
        submit(42)


def test_yaml_path_is_accepted(tmp_path: Path) -> None:
    write(tmp_path / "src" / "train.py", "print('from yaml')\n")
    spec = write(tmp_path / "pipeline.yml", "name: y\nsteps:\n  - {name: train, script: train.py, source_directory: src}\n")
    before = snapshot_tree(tmp_path / "src")
    run = submit(str(spec))
    assert run.wait(timeout=30) == "Completed"
    assert "from yaml" in run.logs("train")
    assert snapshot_tree(tmp_path / "src") == before


def test_wait_for_endpoint_without_debug_steps_says_how(pipeline: Pipeline) -> None:
    run = submit(pipeline)
    with pytest.raises(UserError, match=r"has no debug step: pass debug=\['STEP'\]"):
        run.wait_for_endpoint()
    with pytest.raises(UserError, match="No step named 'nope'"):
        run.logs("nope")
    run.wait(timeout=30)
