"""%aml_debug in a real InteractiveShell: parsing, dispatch, rich results and one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from IPython import get_ipython
from IPython.core.error import UsageError
from IPython.testing.globalipapp import start_ipython
from support import write

from amldebug_jupyter import Pipeline, Step
from amldebug_jupyter.core import context
from amldebug_jupyter.core.context import Context


@pytest.fixture
def ip(tmp_path: Path) -> Iterator:
    shell = start_ipython() or get_ipython()
    shell.extension_manager.unload_extension("amldebug_jupyter")
    context.activate(Context())  # a fresh session: no runs, default config
    shell.extension_manager.load_extension("amldebug_jupyter")
    src = write(
        tmp_path / "proj" / "train" / "train.py", "print('train says hi')\nfor i in range(3):\n    print('line', i)\n"
    ).parent
    write(tmp_path / "proj" / "prep" / "prep.py", "print('prep ran')\n")
    shell.user_ns["pipeline"] = Pipeline("p", [Step("prep", "prep.py", src.parent / "prep"), Step("train", "train.py", src)])
    shell.user_ns["number"] = 42
    shell.run_line_magic("config", "AmlDebugConfig.show_panel = False")
    yield shell
    shell.extension_manager.unload_extension("amldebug_jupyter")


BAD_INPUT = [
    ("", "missing subcommand"),
    ("frobnicate", "unknown subcommand 'frobnicate'"),
    ("pipeline", "missing action (submit)"),
    ("pipeline submit", "missing PIPELINE"),
    ("pipeline submit nosuchname", "'nosuchname' is not defined in the notebook and is not a YAML file"),
    ("pipeline submit number", "Expected an amldebug_jupyter.Pipeline, a YAML path, or azureml steps, got int"),
    ("pipeline submit pipeline --timeout soon", "argument --timeout: expected a number of seconds, got 'soon'"),
    ("pipeline submit pipeline --timeout -5", "argument --timeout: must be a number of seconds >= 0, got '-5'"),
    ("pipeline submit pipeline --debug evaluate", "No step named 'evaluate' in pipeline 'p' (steps: prep, train)."),
    ("pipeline submit pipeline --port 99999", "argument --port: must be from 0"),
    ("pipeline submit pipeline --attach sometimes", "argument --attach: invalid choice"),
    ("pipeline submit pipeline --debug train --debug-all", "not allowed with argument"),
    ("attach", "name a STEP of the current run, or give --host and --port"),
    ("attach train", "No run yet: submit a pipeline first"),
    ("attach --port notanumber", "argument --port: expected a port number"),
    ("attach train --host h --port 1", "give a STEP or --host/--port, not both"),
    ("attach 'unclosed", "cannot parse the line"),
    ("logs", "name the STEP whose log to show"),
    ("logs train", "No run yet"),
    ("logs train --lines 0", "argument --lines: must be > 0"),
    ("cancel", "No run yet"),
    ("status nosuchrun", "No run 'nosuchrun' in this session"),
    ("detach", "needs a Jupyter kernel"),
    ("experiment", "missing action (run)"),
    ("experiment run /no/such/script.py", "'/no/such/script.py' is not a file"),
    ("experiment run {script} --conda-file env.yml", "A conda file describes a container's environment"),
    ("container run --score score.py", "name the IMAGE (or build one first"),
    ("launch-json", "name the STEP to write an attach configuration for"),
]


@pytest.mark.parametrize("line, message", BAD_INPUT)
def test_bad_input_is_one_line(ip, capsys, tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(UsageError) as failed:  # the cell fails with one line: Run All stops there
        ip.run_line_magic("aml_debug", line.format(script=tmp_path / "proj" / "train" / "train.py"))
    text = str(failed.value)
    assert message in text, text
    assert text.strip().count("\n") == 0
    with pytest.raises(UsageError, match="aml_debug: "):  # still usable, and says so again
        ip.run_line_magic("aml_debug", "status nosuchrun")


def test_submit_status_logs_cancel(ip, capsys) -> None:
    run = ip.run_line_magic("aml_debug", "pipeline submit pipeline --experiment exp1")
    assert run.id.startswith("exp1_")
    assert run.wait(30) == "Completed"
    status = ip.run_line_magic("aml_debug", "status")
    bundle = status._repr_mimebundle_()
    assert "<table>" in bundle["text/html"] and "<td style='text-align:left'>train</td>" in bundle["text/html"]
    assert "train" in bundle["text/plain"].splitlines()[3] and "Completed" in bundle["text/plain"]
    logs = ip.run_line_magic("aml_debug", "logs train --lines 2")
    assert repr(logs) == "line 1\nline 2"
    with pytest.raises(UsageError) as failed:
        ip.run_line_magic("aml_debug", "logs evaluate")
    assert str(failed.value) == f"aml_debug: No step named 'evaluate' in run {run.id} (steps: prep, train)."
    with pytest.raises(UsageError, match=r"already ended \(Completed\); nothing to cancel"):
        ip.run_line_magic("aml_debug", "cancel")


def test_yaml_path_and_cell_form(ip, tmp_path: Path) -> None:
    spec = write(tmp_path / "proj" / "p.yaml", "name: y\nsteps:\n  - {name: train, script: train.py, source_directory: train}\n")
    run = ip.run_line_magic("aml_debug", f"pipeline submit {spec}")
    assert run.wait(30) == "Completed" and list(run.steps) == ["train"]
    cell = f"from amldebug_jupyter import Pipeline, Step\nsteps = [Step('t2', 'train.py', {str(tmp_path / 'proj' / 'train')!r})]\nPipeline('cell', steps)\n"
    run2 = ip.run_cell_magic("aml_debug", "pipeline submit --timeout 5", cell)
    assert run2.pipeline.name == "cell" and run2.wait(30) == "Completed"
    assert ip.user_ns["steps"][0].name == "t2"  # the cell ran in the notebook's namespace
    with pytest.raises(UsageError, match="must end with the pipeline"):
        ip.run_cell_magic("aml_debug", "pipeline submit", "x = 1\n")
    with pytest.raises(UsageError, match="only takes 'pipeline submit"):
        ip.run_cell_magic("aml_debug", "status", "pipeline\n")


def test_manual_attach_announces_the_endpoint(ip, tmp_path: Path, capsys) -> None:

    run = ip.run_line_magic("aml_debug", "pipeline submit pipeline --debug train --timeout 1 --attach manual")
    run.wait_for_endpoint("train", timeout=30)
    run.wait(30)
    out = capsys.readouterr().out.splitlines()  # terminal IPython: the run's line, each time it changed
    waiting = next(line for line in out if "step 'train' waiting" in line)
    assert waiting.startswith(f"Run {run.id}: step 'train' waiting (waits for a debugger until ")
    assert " at 127.0.0.1:" in waiting and waiting.endswith("%aml_debug attach train")
    assert out[-1] == f"Run {run.id} completed after {run.elapsed:.0f} s."  # never a stale 'waits' line
    logs = ip.run_line_magic("aml_debug", "logs train --lines 50")
    assert any(line.startswith("[amldebug] train waits for a debugger at 127.0.0.1:") for line in logs.lines)
    assert not any("AMLDEBUG_ENDPOINT" in line for line in logs.lines)  # the entry's JSON is for the detector


def test_a_run_without_panel_still_says_what_happened(ip, capsys) -> None:
    run = ip.run_line_magic("aml_debug", "pipeline submit pipeline --no-panel")
    run.wait(30)
    assert capsys.readouterr().out.splitlines()[0] == f"Run {run.id}: running (no debug step)."


def test_config_defaults_apply(ip) -> None:
    ip.run_line_magic("config", "AmlDebugConfig.attach_timeout = 7")
    ip.run_line_magic("config", "AmlDebugConfig.stop_on_entry = False")
    try:
        run = ip.run_line_magic("aml_debug", "pipeline submit pipeline")
        assert (run.options.timeout, run.options.stop_on_entry) == (7.0, False)
        run.wait(30)
    finally:
        ip.run_line_magic("config", "AmlDebugConfig.attach_timeout = 300")
        ip.run_line_magic("config", "AmlDebugConfig.stop_on_entry = True")


def test_help_shows_usage_with_examples(ip) -> None:
    doc = ip.find_line_magic("aml_debug").__doc__
    assert doc.startswith("%aml_debug: debug Azure ML pipelines")  # for users: no reStructuredText marks
    assert "``" not in doc and "Examples:\n" in doc
    assert "%aml_debug pipeline submit PIPELINE" in doc and "%aml_debug logs STEP" in doc


def test_launch_json_for_vs_code_users(ip, tmp_path: Path, capsys) -> None:
    import json

    from amldebug_jupyter.bridge.launchjson import strip_jsonc

    run = ip.run_line_magic("aml_debug", "pipeline submit pipeline --debug train --timeout 30 --attach manual")
    endpoint = run.wait_for_endpoint("train", timeout=30)
    target = tmp_path / "ws" / ".vscode" / "launch.json"
    target.parent.mkdir(parents=True)
    target.write_text(
        '{\n    // mine\n    "version": "0.2.0",\n    "configurations": [\n        {"name": "mine", "type": "debugpy", "request": "launch"}\n    ]\n}\n'
    )
    ip.run_line_magic("aml_debug", f"launch-json train --path {target}")
    assert f"Added 'Azure ML: train' to {target}" in capsys.readouterr().out
    text = target.read_text()
    assert "// mine" in text
    configs = json.loads(strip_jsonc(text))["configurations"]
    assert [c["name"] for c in configs] == ["mine", "Azure ML: train"]
    assert configs[1]["connect"] == {"host": "127.0.0.1", "port": endpoint.port}
    assert configs[1]["pathMappings"] == run.path_mappings("train")
    run.cancel()
    run.wait(30)


def test_experiment_run_debugs_one_script_with_its_arguments(ip, tmp_path: Path) -> None:
    from amldebug_jupyter.dap import DapClient, attach

    script = write(tmp_path / "exp" / "train.py", "import sys\nargs = sys.argv[1:]\nprint('args', args)  # bp\n")
    run = ip.run_line_magic("aml_debug", f"experiment run {script} --timeout 30 --attach manual -- --lr 0.1 --name 'a b'")
    endpoint = run.wait_for_endpoint(timeout=30)
    with DapClient(endpoint.host, endpoint.port) as client:
        attach(client, path_mappings=run.path_mappings("train"), breakpoints={str(script): [3]})
        stopped = client.wait_for_event("stopped", 20)
        frame = client.request("stackTrace", {"threadId": stopped["body"]["threadId"]})["stackFrames"][0]
        assert (frame["source"]["path"], frame["line"]) == (str(script), 3)
        client.request("continue", {"threadId": stopped["body"]["threadId"]})
        client.request("disconnect", {"terminateDebuggee": False})
    assert run.wait(30) == "Completed"
    assert "args ['--lr', '0.1', '--name', 'a b']" in run.logs("train")


def test_unload_ext_removes_the_magic_and_its_config_and_load_ext_brings_them_back(ip) -> None:
    from amldebug_jupyter.config import AmlDebugConfig

    def configs() -> int:
        return sum(isinstance(c, AmlDebugConfig) for c in ip.configurables)

    assert ip.find_line_magic("aml_debug") is not None and configs() == 1
    ip.extension_manager.unload_extension("amldebug_jupyter")
    assert ip.find_line_magic("aml_debug") is None and configs() == 0
    ip.extension_manager.load_extension("amldebug_jupyter")
    assert ip.find_line_magic("aml_debug") is not None and configs() == 1
