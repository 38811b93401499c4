"""``%aml_debug``: the grammar, parsed in one place and dispatched to the library below.

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
    # ... the panel shows 'train' waiting; the debugger is retargeted to it:
    # turn on the debugger (bug icon) and set breakpoints in train/train.py
    %aml_debug status
    %aml_debug logs train --lines 20
    %aml_debug detach
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shlex
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from amldebug_jupyter.errors import UserError


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
    submit.add_argument("--seed-args", action="store_true",
                        help="azureml: pass the seed document's --remote_debug arguments instead of wrapping")

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
    attach.add_argument("--wait", type=_seconds, default=60.0,
                        help="seconds to wait for the step to announce its endpoint")
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
    crun.add_argument("--timeout", type=_seconds, default=60.0)
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


SUBCOMMANDS = ("pipeline", "status", "logs", "attach", "detach", "cancel", "panel", "launch-json", "experiment",
               "image", "container")


@magics_class
class AmlDebugMagics(Magics):
    @line_cell_magic
    def aml_debug(self, line: str, cell: Optional[str] = None) -> Any:
        args = self._parse(line)
        if cell is not None and (args.subcommand, getattr(args, "action", None)) != ("pipeline", "submit"):
            raise UsageError("%%aml_debug (cell form) only takes 'pipeline submit [options]'.")
        try:
            return COMMANDS[args.subcommand](self, args, cell)
        except UserError as e:
            print(f"aml_debug: {e}", file=sys.stderr)
            return None

    @staticmethod
    def _parse(line: str) -> argparse.Namespace:
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
            words, script_args = words[:cut], words[cut + 1:]
        args = build_parser().parse_args(words)
        args.script_args = script_args
        if args.subcommand == "pipeline" and args.action is None:
            raise UsageError("%aml_debug pipeline: missing action (submit). See %aml_debug?")
        for group, actions in (("experiment", "run"), ("image", "build"), ("container", "run, score, logs, restart, stop")):
            if args.subcommand == group and args.action is None:
                raise UsageError(f"%aml_debug {group}: missing action ({actions}). See %aml_debug?")
        return args

    # -- subcommands ---------------------------------------------------------------------
    def pipeline(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter import config
        from amldebug_jupyter.api import submit

        cfg = config.current()
        target = self._cell_value(cell) if cell is not None else self._resolve_pipeline(args.pipeline)
        debug: Any = True if args.debug_all else (args.debug.split(",") if args.debug else None)
        workspace = self._workspace(args.workspace, "pipeline submit")
        run = submit(target, backend=args.backend or cfg.backend, debug=debug,
                     timeout=cfg.attach_timeout if args.timeout is None else args.timeout, port=args.port,
                     stop_on_entry=cfg.stop_on_entry if args.stop_on_entry is None else args.stop_on_entry,
                     post_mortem=args.post_mortem, experiment=args.experiment, workspace=workspace,
                     seed_args=args.seed_args)
        for note in run.notes:
            print(note)
        self._follow_up(run, args.attach or cfg.attach_mode, show_panel=cfg.show_panel and not args.no_panel)
        return run

    def _follow_up(self, run: Any, attach_mode: str, show_panel: bool) -> None:
        from amldebug_jupyter.bridge import auto_attach
        from amldebug_jupyter.notebook.display import Announcer

        debug_steps = [n for n, s in run.steps.items() if s.debug]
        if show_panel:
            from amldebug_jupyter.notebook.panel import show_panel as display_panel

            display_panel(run)
        if not debug_steps:
            return
        announcer = Announcer(f"Run {run.id}: waiting for {', '.join(debug_steps)} to wait for a debugger...")
        if attach_mode == "auto" and _in_kernel():
            from amldebug_jupyter.notebook.comm import report_problem, step_target_id

            auto_attach(run, announcer.say, lambda step, title, why: report_problem(
                "attach_failed", step_target_id(run.id, step), title, why))
        else:
            run.subscribe(_announce_endpoints(announcer.say))

    def _cell_value(self, cell: str) -> Any:
        """Run the cell in the notebook's namespace; its last expression is the pipeline."""
        shell = self.shell
        tree = ast.parse(shell.transform_cell(cell))
        if not tree.body or not isinstance(tree.body[-1], ast.Expr):
            raise UsageError("%%aml_debug pipeline submit: the cell must end with the pipeline to submit "
                             "(an expression such as `pipeline`).")
        last = ast.Expression(tree.body.pop().value)
        ns = shell.user_ns
        exec(compile(tree, "<aml_debug cell>", "exec"), ns)
        return eval(compile(last, "<aml_debug cell>", "eval"), ns)

    def _resolve_pipeline(self, name: Optional[str]) -> Any:
        if not name:
            raise UsageError("%aml_debug pipeline submit: missing PIPELINE (a Pipeline in the notebook or a YAML path).")
        ns = self.shell.user_ns
        if name in ns:
            return ns[name]
        if name.endswith((".yml", ".yaml")) or os.path.exists(os.path.expanduser(name)):
            return name
        raise UsageError(f"%aml_debug pipeline submit: {name!r} is not defined in the notebook and is not a YAML file.")

    def experiment(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        """Seed workflow 1: one script, a snapshot of its folder, a debugger; run as a process, or in a
        container of the run's environment image (built once, reused while the environment is unchanged)."""
        from pathlib import Path

        from amldebug_jupyter import config
        from amldebug_jupyter.api import submit
        from amldebug_jupyter.core.pipeline import Pipeline, Step

        cfg = config.current()
        script = Path(args.script).expanduser()
        if not script.is_file():
            raise UsageError(f"%aml_debug experiment run: {args.script!r} is not a file.")
        if args.conda_file and not args.docker:
            raise UsageError("%aml_debug experiment run: --conda-file describes a container's environment; add --docker.")
        image = None
        if args.docker:
            from amldebug_jupyter.deploy.images import (
                build_local_image,
                conda_pip_packages,
            )

            packages = conda_pip_packages(args.conda_file) if args.conda_file else []
            image = build_local_image(args.docker, packages, scoring=False)
        step = Step(script.stem, script.name, script.resolve().parent, args.script_args, debug=True)
        run = submit(Pipeline(script.stem, [step]), timeout=cfg.attach_timeout if args.timeout is None else args.timeout,
                     stop_on_entry=cfg.stop_on_entry if args.stop_on_entry is None else args.stop_on_entry,
                     docker_image=image)
        self._follow_up(run, args.attach or cfg.attach_mode, show_panel=cfg.show_panel and not args.no_panel)
        return run

    def image(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from pathlib import Path

        backend = args.backend or ("azureml" if args.model else "local")
        if backend == "azureml":
            from amldebug_jupyter.deploy.model_package import build_package_image

            if not (args.model and args.entry_script):
                raise UsageError("%aml_debug image build --backend azureml: needs --model NAME[:VERSION] and "
                                 "--entry-script score.py.")
            tag = build_package_image(args.model, Path(args.entry_script),
                                      Path(args.conda_file).expanduser() if args.conda_file else None,
                                      args.environment, workspace=self._workspace(args.workspace, "image build"),
                                      tag=args.tag)
        else:
            from amldebug_jupyter.deploy.images import (
                build_local_image,
                conda_pip_packages,
            )

            if args.model or args.environment:
                raise UsageError("%aml_debug image build: --model and --environment need --backend azureml "
                                 "(a local image takes --conda-file).")
            packages = conda_pip_packages(args.conda_file) if args.conda_file else []
            tag = build_local_image(args.base_image, packages, tag=args.tag)
        self._last_image = tag
        print(f"Debug image ready: {tag}")
        return None

    def _workspace(self, name: Optional[str], command: str) -> Any:
        """The notebook's object named by --workspace (None: the service opens config.json)."""
        if not name:
            return None
        if name not in self.shell.user_ns:
            raise UsageError(f"%aml_debug {command}: --workspace {name!r} is not defined in the notebook.")
        return self.shell.user_ns[name]

    def container(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from pathlib import Path

        from amldebug_jupyter import config
        from amldebug_jupyter.docker import containers

        if args.action == "run":
            image = args.image or getattr(self, "_last_image", None)
            if not image:
                raise UsageError("%aml_debug container run: name the IMAGE (or build one first with %aml_debug image build).")
            score_py = Path(args.score).expanduser().resolve()
            box, http_port = containers.run_scoring_container(image, score_py, name=args.name,
                                                              http_port=args.http_port, debug_port=args.debug_port,
                                                              network=args.network, timeout=args.timeout)
            containers.remember(args.name, http_port=http_port)
            try:
                endpoint = containers.wait_for_endpoint(box, timeout=args.timeout + 30)
            except BaseException:  # a failed start or an interrupt: nothing is left running
                containers.stop_ours(args.name)
                containers.forget(args.name)
                raise
            print(f"Container {args.name} serves http://127.0.0.1:{http_port}/score and waits for a debugger "
                  f"at {endpoint.address} ({endpoint.seconds_left():.0f} s left).")
            if (args.attach or config.current().attach_mode) == "auto" and _in_kernel():
                from amldebug_jupyter import bridge

                target = bridge.attach(bridge.target_for_address(endpoint.host, endpoint.port, str(score_py.parent),
                                                                 containers.APP_ROOT, label=f"container '{args.name}'"))
                print(bridge.retargeted(target, endpoint.seconds_left(), goal="debug init() and run()"))
            return None
        info = containers.started(args.name)
        if args.action == "score":
            try:
                data = json.loads(args.data)
            except ValueError as e:
                raise UsageError(f"%aml_debug container score: --data is not JSON ({e}).") from None
            return containers.score(f"http://127.0.0.1:{info['http_port']}/score", data)
        box = containers.docker_client().containers.get(info["name"])
        if args.action == "logs":
            return _log_text(info["name"], containers.container_logs(box).splitlines())
        if args.action == "restart":
            box.restart(timeout=5)
            print(f"Restarted {info['name']}: it loads score.py again and waits for a debugger.")
            return None
        containers.stop_ours(info["name"])
        containers.forget(info["name"])
        print(f"Stopped and removed {info['name']}.")
        return None

    def status(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter.core.report import RunStatus
        from amldebug_jupyter.core.run import find_run

        return RunStatus(find_run(args.run))

    def logs(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter import config
        from amldebug_jupyter.core.run import find_run
        from amldebug_jupyter.notebook.display import LogText

        if not args.step:
            raise UsageError("%aml_debug logs: name the STEP whose log to show.")
        run = find_run(args.run)
        run.step(args.step)
        lines = run.logs(args.step).splitlines()[-(args.lines or config.current().log_lines):]
        if not args.follow:
            return LogText(args.step, lines)
        for text in lines:
            print(text)
        _follow(run, args.step)
        return None

    def attach(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter import bridge
        from amldebug_jupyter.core.run import current_run

        if args.target and (args.host or args.port):
            raise UsageError("%aml_debug attach: give a STEP or --host/--port, not both.")
        if args.target:
            run = current_run()
            run.step(args.target)
            run.wait_for_endpoint(args.target, timeout=args.wait)
            print(bridge.attach_step(run, args.target, stop_on_entry=args.stop_on_entry))
        elif args.host and args.port:
            target = bridge.attach(bridge.target_for_address(args.host, args.port, args.local_root, args.remote_root))
            print(bridge.retargeted(target))
        else:
            raise UsageError("%aml_debug attach: name a STEP of the current run, or give --host and --port.")
        return None

    def detach(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter import bridge

        print(bridge.detach())
        return None

    def cancel(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter.core.run import find_run

        run = find_run(args.run)
        run.cancel()
        run.wait(timeout=30)
        print(f"Run {run.id}: {run.status}.")
        return None

    def panel(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter.core.run import find_run
        from amldebug_jupyter.notebook.panel import show_panel

        show_panel(find_run(args.run))
        return None


    def launch_json(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter.bridge.launchjson import write_attach_config
        from amldebug_jupyter.core.run import find_run

        if not args.step:
            raise UsageError("%aml_debug launch-json: name the STEP to write an attach configuration for.")
        run = find_run(args.run)
        endpoint = run.step(args.step).endpoint
        if endpoint is None:
            raise UserError(f"Step '{args.step}' has not announced a debug endpoint yet: try again when it waits.")
        print(write_attach_config(args.path, f"Azure ML: {args.step}", endpoint.host, endpoint.port,
                                  run.path_mappings(args.step)))
        return None


COMMANDS: Dict[str, Callable[[AmlDebugMagics, argparse.Namespace, Optional[str]], Any]] = {
    name: getattr(AmlDebugMagics, name.replace("-", "_")) for name in SUBCOMMANDS
}
AmlDebugMagics.aml_debug.__doc__ = __doc__


def _log_text(name: str, lines: List[str]) -> Any:
    from amldebug_jupyter.notebook.display import LogText

    return LogText(name, lines)


def _in_kernel() -> bool:
    from IPython import get_ipython

    return hasattr(get_ipython(), "kernel")


def _announce_endpoints(say: Callable[[str], None]) -> Callable[[Any], None]:
    from amldebug_jupyter.core.events import EndpointFound

    def on_event(event: Any) -> None:
        if isinstance(event, EndpointFound):
            ep = event.endpoint
            say(f"Step '{ep.step}' waits for a debugger at {ep.address}: %aml_debug attach {ep.step}")

    return on_event


def _follow(run: Any, step: str, poll: float = 0.25) -> None:
    """Print the step's new log lines until it ends (interrupt the cell to stop earlier)."""
    from amldebug_jupyter.core.events import LogLine

    pending: List[str] = []
    unsubscribe = run.subscribe(lambda e: pending.append(e.text) if isinstance(e, LogLine) and e.step == step else None)
    try:
        while True:
            while pending:
                print(pending.pop(0))
            if run.steps[step].status in ("Completed", "Failed", "Canceled") or run.done:
                time.sleep(poll)  # the tailer's last lines
                while pending:
                    print(pending.pop(0))
                return
            time.sleep(poll)
    except KeyboardInterrupt:
        return
    finally:
        unsubscribe()
