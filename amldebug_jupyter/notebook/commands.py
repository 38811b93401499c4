"""What each ``%aml_debug`` subcommand does: one call into :mod:`amldebug_jupyter.api`, its result
shown with :mod:`.display` or :mod:`.panel`. Nothing here talks to Docker, Azure or a process.

:mod:`.magics` imports this module at the first ``%aml_debug`` (it pulls in the whole API), so
that ``%load_ext`` stays cheap.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import time
from typing import Any, Callable, Dict, List, Optional

from IPython.core.error import UsageError

from amldebug_jupyter import api
from amldebug_jupyter.bridge import auto_attach
from amldebug_jupyter.core import context
from amldebug_jupyter.core.endpoints import readable
from amldebug_jupyter.core.events import LogLine
from amldebug_jupyter.core.report import RunStatus
from amldebug_jupyter.core.run import DebugRun
from amldebug_jupyter.core.status import TERMINAL
from amldebug_jupyter.notebook import grammar
from amldebug_jupyter.notebook.comm import step_target_id
from amldebug_jupyter.notebook.display import LogText, RunLine

Command = Callable[[Any, argparse.Namespace, Optional[str]], Any]


def pipeline(shell: Any, args: argparse.Namespace, cell: Optional[str]) -> Any:
    target = _cell_value(shell, cell) if cell is not None else _resolve_pipeline(shell, args.pipeline)
    debug: Any = True if args.debug_all else (args.debug.split(",") if args.debug else None)
    run = api.submit(
        target,
        backend=args.backend,
        debug=debug,
        timeout=args.timeout,
        port=args.port,
        stop_on_entry=args.stop_on_entry,
        post_mortem=args.post_mortem,
        experiment=args.experiment,
        workspace=_workspace(shell, args.workspace, "pipeline submit"),
        seed_args=args.seed_args,
    )
    for note in run.notes:
        print(note)
    _follow_up(shell, run, args.attach, show_panel=args.show_panel)
    return run


def experiment(shell: Any, args: argparse.Namespace, cell: Optional[str]) -> Any:
    run = api.run_script(
        args.script,
        args.script_args,
        docker_image=args.docker,
        conda_file=args.conda_file,
        timeout=args.timeout,
        stop_on_entry=args.stop_on_entry,
    )
    _follow_up(shell, run, args.attach, show_panel=args.show_panel)
    return run


def image(shell: Any, args: argparse.Namespace, cell: Optional[str]) -> Any:
    tag = api.build_image(
        backend=args.backend,
        base_image=args.base_image,
        conda_file=args.conda_file,
        tag=args.tag,
        model=args.model,
        entry_script=args.entry_script,
        environment=args.environment,
        workspace=_workspace(shell, args.workspace, "image build"),
    )
    print(f"Debug image ready: {tag}")
    return None


def container(shell: Any, args: argparse.Namespace, cell: Optional[str]) -> Any:
    if args.action == "run":
        print(
            api.run_container(
                args.image,
                args.score,
                name=args.name,
                http_port=args.http_port,
                debug_port=args.debug_port,
                network=args.network,
                timeout=args.timeout,
                attach=args.attach == "auto" and _in_kernel(),
            )
        )
    elif args.action == "score":
        try:
            data = json.loads(args.data)
        except ValueError as e:
            raise UsageError(f"%aml_debug container score: --data is not JSON ({e}).") from None
        return api.score(data, args.name)
    elif args.action == "logs":
        return LogText(args.name or "container", api.container_logs(args.name))
    elif args.action == "restart":
        print(f"Restarted {api.restart_container(args.name)}: it loads score.py again and waits for a debugger.")
    else:
        print(f"Stopped and removed {api.stop_container(args.name)}.")
    return None


def status(shell: Any, args: argparse.Namespace, cell: Optional[str]) -> Any:
    return RunStatus(api.find_run(args.run))


def logs(shell: Any, args: argparse.Namespace, cell: Optional[str]) -> Any:
    if not args.step:
        raise UsageError("%aml_debug logs: name the STEP whose log to show.")
    run = api.find_run(args.run)
    run.step(args.step)
    lines = [readable(line) for line in run.logs(args.step).splitlines()[-args.lines :]]
    if not args.follow:
        return LogText(args.step, lines)
    for text in lines:
        print(text)
    _follow(run, args.step)
    return None


def attach(shell: Any, args: argparse.Namespace, cell: Optional[str]) -> Any:
    print(
        api.attach(
            args.target,
            host=args.host,
            port=args.port,
            local_root=args.local_root,
            remote_root=args.remote_root,
            wait=args.wait,
            stop_on_entry=args.stop_on_entry,
        )
    )
    return None


def detach(shell: Any, args: argparse.Namespace, cell: Optional[str]) -> Any:
    print(api.detach())
    return None


def cancel(shell: Any, args: argparse.Namespace, cell: Optional[str]) -> Any:
    print(f"Run {(run := api.cancel(args.run)).id}: {run.status}.")
    return None


def panel(shell: Any, args: argparse.Namespace, cell: Optional[str]) -> Any:
    from amldebug_jupyter.notebook.panel import show_panel  # ipywidgets: loaded when first shown

    show_panel(api.find_run(args.run))
    return None


def launch_json(shell: Any, args: argparse.Namespace, cell: Optional[str]) -> Any:
    if not args.step:
        raise UsageError("%aml_debug launch-json: name the STEP to write an attach configuration for.")
    print(api.write_launch_json(args.step, args.run, args.path))
    return None


def _follow_up(shell: Any, run: DebugRun, attach_mode: str, show_panel: bool) -> None:
    """Below the cell: the panel, then one line drawn from the run's state (kept up to date)."""
    if show_panel:
        panel(shell, argparse.Namespace(run=run.id), None)
    line = RunLine(run)
    if attach_mode == "auto" and _in_kernel() and any(s.debug for s in run.steps.values()):
        auto_attach(
            run,
            line.note,
            lambda step, title, why: context.current().report_problem("attach_failed", step_target_id(run.id, step), title, why),
        )


def _cell_value(shell: Any, cell: str) -> Any:
    """Run the cell in the notebook's namespace; its last expression is the pipeline."""
    tree = ast.parse(shell.transform_cell(cell))
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        raise UsageError(
            "%%aml_debug pipeline submit: the cell must end with the pipeline to submit (an expression such as `pipeline`)."
        )
    last = ast.Expression(tree.body.pop().value)
    ns = shell.user_ns
    exec(compile(tree, "<aml_debug cell>", "exec"), ns)
    return eval(compile(last, "<aml_debug cell>", "eval"), ns)


def _resolve_pipeline(shell: Any, name: Optional[str]) -> Any:
    if not name:
        raise UsageError("%aml_debug pipeline submit: missing PIPELINE (a Pipeline in the notebook or a YAML path).")
    ns = shell.user_ns
    if name in ns:
        return ns[name]
    if name.endswith((".yml", ".yaml")) or os.path.exists(os.path.expanduser(name)):
        return name
    raise UsageError(f"%aml_debug pipeline submit: {name!r} is not defined in the notebook and is not a YAML file.")


def _workspace(shell: Any, name: Optional[str], command: str) -> Any:
    """The notebook's object named by --workspace (None: the service opens config.json)."""
    if not name:
        return None
    if name not in shell.user_ns:
        raise UsageError(f"%aml_debug {command}: --workspace {name!r} is not defined in the notebook.")
    return shell.user_ns[name]


COMMANDS: Dict[str, Command] = {name: globals()[name.replace("-", "_")] for name in grammar.SUBCOMMANDS}


def _in_kernel() -> bool:
    from IPython import get_ipython

    return hasattr(get_ipython(), "kernel")


def _follow(run: DebugRun, step: str, poll: float = 0.25) -> None:
    """Print the step's new log lines until it ends (interrupt the cell to stop earlier)."""
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
