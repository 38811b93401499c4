"""``%aml_debug``: debug Azure ML pipelines, single scripts and scoring containers from the notebook.

Usage::

    %aml_debug pipeline submit PIPELINE [--backend local|azureml] [--debug STEP[,STEP] | --debug-all]
              [--experiment NAME] [--timeout SECONDS] [--port PORT] [--[no-]stop-on-entry]
              [--attach auto|manual] [--post-mortem] [--no-panel] [--workspace WS] [--seed-args]
    %%aml_debug pipeline submit [same options]    (the cell builds the pipeline; its last
                                                   expression is submitted)
    %aml_debug status [RUN]
    %aml_debug logs STEP [--run RUN] [--lines N] [--follow]
    %aml_debug attach STEP [--wait SECONDS] [--[no-]stop-on-entry]
    %aml_debug attach --host HOST --port PORT [--local-root DIR --remote-root DIR]
    %aml_debug detach
    %aml_debug cancel [RUN]
    %aml_debug panel [RUN]
    %aml_debug launch-json STEP [--path .vscode/launch.json]    (for VS Code users)
    %aml_debug experiment run SCRIPT [--timeout S] [--attach auto|manual] [--[no-]stop-on-entry]
              [--docker [BASE_IMAGE] [--conda-file myenv.yml]] [-- ARGS...]
                                      (one script, run locally under the debug entry; with
                                       --docker, in a container of the run's environment image,
                                       built once and reused while the environment is unchanged)
    %aml_debug image build --model NAME[:VERSION] --entry-script score.py (--conda-file myenv.yml |
              --environment NAME) [--backend azureml] [--tag debug:N] [--workspace WS]
                                      (Model.package with debugpy added; pulled and tagged)
    %aml_debug image build [--backend local] [--base-image IMAGE] [--conda-file myenv.yml] [--tag TAG]
                                      (a local debug scoring image: /var/azureml-app, port 5001)
    %aml_debug container run [IMAGE] --score score.py [--name NAME] [--http-port 8000]
              [--debug-port 5678] [--network host|bridge|NETWORK] [--timeout S] [--attach auto|manual]
    %aml_debug container score --data JSON [--name NAME]
    %aml_debug container logs|restart|stop [--name NAME]

PIPELINE is a name in the notebook bound to an ``amldebug_jupyter.Pipeline``, an azureml v1
``Pipeline`` or a list of ``PythonScriptStep``, or the path of a YAML pipeline. WS is a name
bound to an azureml ``Workspace`` (default: ``Workspace.from_config()``). Defaults come from ``%config AmlDebugConfig`` (e.g.
``%config AmlDebugConfig.attach_timeout = 600``).

Examples::

    from amldebug_jupyter import Pipeline, Step
    pipeline = Pipeline("demo", [Step("prep", "prep.py", "prep"),
                                 Step("train", "train.py", "train")])
    run = %aml_debug pipeline submit pipeline --debug train
    # ... the panel shows 'train' waiting; the debugger is retargeted to it and (with the
    # amldebug JupyterLab extension) turns on by itself; set breakpoints in train/train.py
    %aml_debug status
    %aml_debug logs train --lines 20
    %aml_debug detach
"""

# This module is the magic's grammar (every subcommand, its options and their checks, in one place),
# and its docstring is the magic's help (``%aml_debug?``).
from __future__ import annotations

import argparse
import shlex
from typing import List, Optional

from IPython.core.error import UsageError

from amldebug_jupyter.config import AmlDebugConfig


def help_text() -> str:
    """The docstring above as the plain text ``%aml_debug?`` shows (no reStructuredText marks)."""
    return (__doc__ or "").replace("``", "").replace("::\n", ":\n")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option as IPython's one-line UsageError."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}. See %aml_debug?")

    def exit(self, status: int = 0, message: Optional[str] = None) -> None:  # type: ignore[override]
        raise UsageError((message or "").strip() or f"{self.prog}: see %aml_debug?")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 (any free port) to 65535, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%aml_debug", add_help=False)
    sub = parser.add_subparsers(dest="subcommand", parser_class=_Parser)

    pipeline = sub.add_parser("pipeline", prog="%aml_debug pipeline", add_help=False)
    psub = pipeline.add_subparsers(dest="action", parser_class=_Parser)
    submit = psub.add_parser("submit", prog="%aml_debug pipeline submit", add_help=False)
    submit.add_argument("pipeline", nargs="?", help="a Pipeline in the notebook, or a YAML path")
    submit.add_argument("--backend")
    which = submit.add_mutually_exclusive_group()
    which.add_argument("--debug", help="steps to debug, comma-separated")
    which.add_argument("--debug-all", action="store_true")
    submit.add_argument("--experiment")
    submit.add_argument("--timeout", type=_seconds)
    submit.add_argument("--port", type=_port, default=0)
    _add_stop_on_entry(submit)
    submit.add_argument("--attach", choices=["auto", "manual"])
    submit.add_argument("--post-mortem", action="store_true")
    submit.add_argument("--no-panel", action="store_true")
    submit.add_argument("--workspace", help="a Workspace in the notebook (azureml backend)")
    submit.add_argument(
        "--seed-args", action="store_true", help="azureml: pass the seed document's --remote_debug arguments instead of wrapping"
    )

    status = sub.add_parser("status", prog="%aml_debug status", add_help=False)
    status.add_argument("run", nargs="?")

    logs = sub.add_parser("logs", prog="%aml_debug logs", add_help=False)
    logs.add_argument("step", nargs="?")
    logs.add_argument("--run")
    logs.add_argument("--lines", type=_count)
    logs.add_argument("--follow", action="store_true")

    attach = sub.add_parser("attach", prog="%aml_debug attach", add_help=False)
    attach.add_argument("target", nargs="?", help="a step of the current run")
    attach.add_argument("--host")
    attach.add_argument("--port", type=_port)
    attach.add_argument("--local-root")
    attach.add_argument("--remote-root")
    attach.add_argument("--wait", type=_seconds, help="seconds to wait for the step to announce its endpoint")
    _add_stop_on_entry(attach)

    sub.add_parser("detach", prog="%aml_debug detach", add_help=False)
    cancel = sub.add_parser("cancel", prog="%aml_debug cancel", add_help=False)
    cancel.add_argument("run", nargs="?")
    panel = sub.add_parser("panel", prog="%aml_debug panel", add_help=False)
    panel.add_argument("run", nargs="?")
    experiment = sub.add_parser("experiment", prog="%aml_debug experiment", add_help=False)
    esub = experiment.add_subparsers(dest="action", parser_class=_Parser)
    erun = esub.add_parser("run", prog="%aml_debug experiment run", add_help=False)
    erun.add_argument("script")
    erun.add_argument("--timeout", type=_seconds)
    erun.add_argument("--attach", choices=["auto", "manual"])
    erun.add_argument("--no-panel", action="store_true")
    _add_stop_on_entry(erun)
    erun.add_argument("--docker", nargs="?", const="python:3.11-slim", metavar="BASE_IMAGE")
    erun.add_argument("--conda-file")
    image = sub.add_parser("image", prog="%aml_debug image", add_help=False)
    isub = image.add_subparsers(dest="action", parser_class=_Parser)
    build = isub.add_parser("build", prog="%aml_debug image build", add_help=False)
    build.add_argument("--backend", choices=["azureml", "local"])
    build.add_argument("--model")
    build.add_argument("--entry-script")
    build.add_argument("--conda-file")
    build.add_argument("--environment")
    build.add_argument("--base-image", default="python:3.11-slim")
    build.add_argument("--tag")
    build.add_argument("--workspace")
    container = sub.add_parser("container", prog="%aml_debug container", add_help=False)
    csub = container.add_subparsers(dest="action", parser_class=_Parser)
    crun = csub.add_parser("run", prog="%aml_debug container run", add_help=False)
    crun.add_argument("image", nargs="?")
    crun.add_argument("--score", required=True)
    crun.add_argument("--name", default="amldebug-score")
    crun.add_argument("--http-port", type=_port, default=8000)
    crun.add_argument("--debug-port", type=_port, default=5678)
    crun.add_argument("--network", default="host")
    crun.add_argument("--timeout", type=_seconds)
    crun.add_argument("--attach", choices=["auto", "manual"])
    cscore = csub.add_parser("score", prog="%aml_debug container score", add_help=False)
    cscore.add_argument("--data", required=True)
    cscore.add_argument("--name")
    for action in ("logs", "restart", "stop"):
        csub.add_parser(action, prog=f"%aml_debug container {action}", add_help=False).add_argument("--name")
    launch = sub.add_parser("launch-json", prog="%aml_debug launch-json", add_help=False)
    launch.add_argument("step", nargs="?")
    launch.add_argument("--run")
    launch.add_argument("--path", default=".vscode/launch.json")
    return parser


def _add_stop_on_entry(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stop-on-entry", dest="stop_on_entry", action="store_true", default=None)
    parser.add_argument("--no-stop-on-entry", dest="stop_on_entry", action="store_false")


SUBCOMMANDS = (
    "pipeline",
    "status",
    "logs",
    "attach",
    "detach",
    "cancel",
    "panel",
    "launch-json",
    "experiment",
    "image",
    "container",
)


def parse(line: str, config: Optional[AmlDebugConfig] = None) -> argparse.Namespace:
    """The command of one ``%aml_debug`` line, with ``config``'s defaults filled in where the line
    gave no value (here only, so handlers never consult the config); a UsageError says what was wrong."""
    try:
        words: List[str] = shlex.split(line)
    except ValueError as e:
        raise UsageError(f"%aml_debug: cannot parse the line ({e}).") from None
    if not words:
        raise UsageError(f"%aml_debug: missing subcommand (one of: {', '.join(SUBCOMMANDS)}). See %aml_debug?")
    if words[0] not in SUBCOMMANDS:
        raise UsageError(f"%aml_debug: unknown subcommand {words[0]!r} (one of: {', '.join(SUBCOMMANDS)}).")
    script_args: List[str] = []
    if words[0] == "experiment" and "--" in words:  # everything after -- belongs to the script
        cut = words.index("--")
        words, script_args = words[:cut], words[cut + 1 :]
    args = build_parser().parse_args(words)
    args.script_args = script_args
    if args.subcommand == "pipeline" and args.action is None:
        raise UsageError("%aml_debug pipeline: missing action (submit). See %aml_debug?")
    for group, actions in (("experiment", "run"), ("image", "build"), ("container", "run, score, logs, restart, stop")):
        if args.subcommand == group and args.action is None:
            raise UsageError(f"%aml_debug {group}: missing action ({actions}). See %aml_debug?")
    return with_defaults(args, config or AmlDebugConfig())


def with_defaults(args: argparse.Namespace, config: AmlDebugConfig) -> argparse.Namespace:
    """Fill what the line left open from the config: the one place its defaults apply."""
    fills = {
        "timeout": config.attach_timeout,
        "attach": config.attach_mode,
        "lines": config.log_lines,
        "wait": config.endpoint_wait,
    }
    if args.subcommand in ("pipeline", "experiment"):
        fills.update(stop_on_entry=config.stop_on_entry, backend=config.backend)
    for name, value in fills.items():
        if getattr(args, name, value) is None:
            setattr(args, name, value)
    if hasattr(args, "no_panel"):
        args.show_panel = config.show_panel and not args.no_panel
    return args
