"""%aml_debug in a real InteractiveShell: parsing, dispatch and one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from IPython.core.error import UsageError
from IPython import get_ipython
from IPython.testing.globalipapp import start_ipython

from amldebug_jupyter import session


@pytest.fixture
def ip() -> Iterator:
    shell = start_ipython() or get_ipython()
    shell.extension_manager.load_extension("amldebug_jupyter")
    session._current = None
    yield shell
    session._current = None


@pytest.mark.parametrize("line, message", [
    ("", "missing subcommand"),
    ("frobnicate", "unknown subcommand 'frobnicate'"),
    ("attach", "name a STEP of the current run, or give --host and --port"),
    ("attach --port notanumber", "argument --port: invalid int value"),
    ("attach train --host h --port 1", "give a STEP or --host/--port, not both"),
    ("attach 'unclosed", "cannot parse the line"),
])
def test_usage_errors_are_one_line(ip, line: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        ip.run_line_magic("aml_debug", line)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("line, message", [
    ("attach train", "aml_debug: No run yet: submit a pipeline first"),
    ("detach", "aml_debug: Attaching JupyterLab's debugger needs a Jupyter kernel"),
    ("attach --host 127.0.0.1 --port 5678 --local-root /x", "aml_debug: Give both --local-root and --remote-root"),
])
def test_user_errors_print_one_line_without_traceback(ip, capsys, line: str, message: str) -> None:
    assert ip.run_line_magic("aml_debug", line) is None
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_attach_to_an_unknown_step_of_the_current_run(ip, capsys, tmp_path: Path) -> None:
    from amldebug_jupyter import Pipeline, Step, submit

    (tmp_path / "train.py").write_text("pass\n")
    run = submit(Pipeline("p", [Step("train", "train.py", tmp_path)]))
    run.wait(30)
    ip.run_line_magic("aml_debug", "attach evaluate")
    assert capsys.readouterr().err == f"aml_debug: No step named 'evaluate' in run {run.id} (steps: train).\n"


def test_help_shows_usage_with_examples(ip) -> None:
    doc = ip.find_line_magic("aml_debug").__doc__
    assert "%aml_debug attach STEP" in doc and "Examples" in doc
