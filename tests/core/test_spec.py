from pathlib import Path

import pytest
from support import write

from amldebug_jupyter import Pipeline, Step
from amldebug_jupyter.errors import SpecError


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "proj" / "a" / "a.py", "print('a')\n")
    write(tmp_path / "proj" / "b" / "b.py", "print('b')\n")
    return tmp_path / "proj"


def test_yaml_pipeline_resolves_folders_relative_to_the_file(project: Path) -> None:
    spec = write(
        project / "pipeline.yaml",
        """
        name: two
        steps:
          - name: a
            script: a.py
            source_directory: a
            arguments: [--n, 3]
          - {name: b, script: b.py, source_directory: b, debug: true}
    """,
    )
    p = Pipeline.from_yaml(spec)
    p.validate()
    assert [s.name for s in p.steps] == ["a", "b"]
    assert p.steps[0].source_path == (project / "a").resolve()
    assert p.steps[0].arguments == ("--n", "3")
    assert [s.debug for s in p.steps] == [False, True]


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: x\nsteps: [", "not valid YAML (line"),
        ("- 1\n- 2\n", "expected a mapping"),
        ("name: x\nsteps:\n  - {name: a}\n", "needs at least 'name' and 'script'"),
        ("name: x\nsteps:\n  - {name: a, script: a.py, colour: red}\n", "unknown keys: ['colour']"),
        ("name: x\nsteps:\n  - {name: a, script: a.py, arguments: --x}\n", "'arguments' must be a list"),
    ],
)
def test_bad_yaml_is_one_clear_line(project: Path, text: str, message: str) -> None:
    spec = project / "bad.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError) as err:
        Pipeline.from_yaml(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_yaml_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        Pipeline.from_yaml(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "steps, message",
    [
        ([], "has no steps"),
        ([Step("a", "a.py", "a"), Step("a", "b.py", "b")], "used twice"),
        ([Step("a", "missing.py", "a")], "script 'missing.py' not found"),
        ([Step("a", "a.py", "nowhere")], "source_directory 'nowhere' does not exist"),
        ([Step("a/b", "a.py", "a")], "is not usable"),
        (["not a step"], "is not an amldebug_jupyter.Step"),
    ],
)
def test_invalid_pipelines_explain_themselves(project: Path, monkeypatch, steps, message) -> None:
    monkeypatch.chdir(project)
    with pytest.raises(SpecError, match=message):
        Pipeline("p", steps).validate()


def test_with_debug_selects_steps_and_rejects_unknown_names(project: Path) -> None:
    p = Pipeline("p", [Step("a", "a.py", project / "a", debug=True), Step("b", "b.py", project / "b")])
    assert [s.debug for s in p.with_debug(None).steps] == [True, False]
    assert [s.debug for s in p.with_debug("b").steps] == [False, True]
    assert [s.debug for s in p.with_debug(["a", "b"]).steps] == [True, True]
    assert [s.debug for s in p.with_debug("a, b").steps] == [True, True]
    assert [s.debug for s in p.with_debug(True).steps] == [True, True]
    with pytest.raises(SpecError, match="No step named 'c'.*steps: a, b"):
        p.with_debug(["c"])
