"""``%aml_debug``: parse a line with :mod:`.grammar`, dispatch it to the library, show the result."""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from amldebug_jupyter.core import context
from amldebug_jupyter.core.status import TERMINAL
from amldebug_jupyter.errors import UserError
from amldebug_jupyter.notebook import grammar


@magics_class
class AmlDebugMagics(Magics):
    @line_cell_magic
    def aml_debug(self, line: str, cell: Optional[str] = None) -> Any:
        args = grammar.parse(line, context.current().config)
        if cell is not None and (args.subcommand, getattr(args, "action", None)) != ("pipeline", "submit"):
            raise UsageError("%%aml_debug (cell form) only takes 'pipeline submit [options]'.")
        try:
            return COMMANDS[args.subcommand](self, args, cell)
        except UserError as e:
            print(f"aml_debug: {e}", file=sys.stderr)
            return None

    # -- subcommands ---------------------------------------------------------------------
    def pipeline(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter.api import submit

        target = self._cell_value(cell) if cell is not None else self._resolve_pipeline(args.pipeline)
        debug: Any = True if args.debug_all else (args.debug.split(",") if args.debug else None)
        workspace = self._workspace(args.workspace, "pipeline submit")
        run = submit(target, backend=args.backend, debug=debug, timeout=args.timeout, port=args.port,
                     stop_on_entry=args.stop_on_entry, post_mortem=args.post_mortem, experiment=args.experiment,
                     workspace=workspace, seed_args=args.seed_args)
        for note in run.notes:
            print(note)
        self._follow_up(run, args.attach, show_panel=args.show_panel)
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
            from amldebug_jupyter.notebook.comm import step_target_id

            auto_attach(run, announcer.say, lambda step, title, why: context.current().report_problem(
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

        from amldebug_jupyter.api import submit
        from amldebug_jupyter.core.pipeline import Pipeline, Step

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
        run = submit(Pipeline(script.stem, [step]), timeout=args.timeout, stop_on_entry=args.stop_on_entry,
                     docker_image=image)
        self._follow_up(run, args.attach, show_panel=args.show_panel)
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

        from amldebug_jupyter.deploy import scoring

        if args.action == "run":
            image = args.image or getattr(self, "_last_image", None)
            if not image:
                raise UsageError("%aml_debug container run: name the IMAGE (or build one first with %aml_debug image build).")
            score_py = Path(args.score).expanduser().resolve()
            endpoint, http_port = scoring.run_container(image, score_py, name=args.name, http_port=args.http_port,
                                                        debug_port=args.debug_port, network=args.network,
                                                        timeout=args.timeout)
            print(f"Container {args.name} serves http://127.0.0.1:{http_port}/score and waits for a debugger "
                  f"at {endpoint.address} ({endpoint.seconds_left():.0f} s left).")
            if args.attach == "auto" and _in_kernel():
                from amldebug_jupyter import bridge

                target = bridge.attach(bridge.target_for_address(endpoint.host, endpoint.port, str(score_py.parent),
                                                                 scoring.APP_ROOT, label=f"container '{args.name}'"))
                print(bridge.retargeted(target, endpoint.seconds_left(), goal="debug init() and run()"))
            return None
        if args.action == "score":
            try:
                data = json.loads(args.data)
            except ValueError as e:
                raise UsageError(f"%aml_debug container score: --data is not JSON ({e}).") from None
            return scoring.score(data, args.name)
        if args.action == "logs":
            name, text = scoring.logs(args.name)
            return _log_text(name, text.splitlines())
        if args.action == "restart":
            name = scoring.restart_container(args.name)
            print(f"Restarted {name}: it loads score.py again and waits for a debugger.")
            return None
        print(f"Stopped and removed {scoring.stop_container(args.name)}.")
        return None

    def status(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter.core.report import RunStatus

        return RunStatus(context.current().runs.find(args.run))

    def logs(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter.notebook.display import LogText

        if not args.step:
            raise UsageError("%aml_debug logs: name the STEP whose log to show.")
        run = context.current().runs.find(args.run)
        run.step(args.step)
        lines = run.logs(args.step).splitlines()[-args.lines:]
        if not args.follow:
            return LogText(args.step, lines)
        for text in lines:
            print(text)
        _follow(run, args.step)
        return None

    def attach(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter import bridge

        if args.target and (args.host or args.port):
            raise UsageError("%aml_debug attach: give a STEP or --host/--port, not both.")
        if args.target:
            run = context.current().runs.current()
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

        run = context.current().runs.find(args.run)
        run.cancel()
        run.wait(timeout=30)
        print(f"Run {run.id}: {run.status}.")
        return None

    def panel(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter.notebook.panel import show_panel

        show_panel(context.current().runs.find(args.run))
        return None

    def launch_json(self, args: argparse.Namespace, cell: Optional[str]) -> Any:
        from amldebug_jupyter.bridge.launchjson import write_attach_config

        if not args.step:
            raise UsageError("%aml_debug launch-json: name the STEP to write an attach configuration for.")
        run = context.current().runs.find(args.run)
        endpoint = run.step(args.step).endpoint
        if endpoint is None:
            raise UserError(f"Step '{args.step}' has not announced a debug endpoint yet: try again when it waits.")
        print(write_attach_config(args.path, f"Azure ML: {args.step}", endpoint.host, endpoint.port,
                                  run.path_mappings(args.step)))
        return None


COMMANDS: Dict[str, Callable[[AmlDebugMagics, argparse.Namespace, Optional[str]], Any]] = {
    name: getattr(AmlDebugMagics, name.replace("-", "_")) for name in grammar.SUBCOMMANDS
}
AmlDebugMagics.aml_debug.__doc__ = grammar.__doc__


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
            if run.steps[step].status in TERMINAL or run.done:
                time.sleep(poll)  # the tailer's last lines
                while pending:
                    print(pending.pop(0))
                return
            time.sleep(poll)
    except KeyboardInterrupt:
        return
    finally:
        unsubscribe()
