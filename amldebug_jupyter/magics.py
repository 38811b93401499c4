"""``%aml_debug``: parse and dispatch only; the work happens in the modules below.

Subcommands::

    %aml_debug attach STEP [--wait SECONDS] [--[no-]stop-on-entry]
    %aml_debug attach --host HOST --port PORT [--local-root DIR --remote-root DIR]
    %aml_debug detach

Examples::

    run = submit(pipeline, debug=["train"])      # from amldebug_jupyter import submit
    %aml_debug attach train                      # then turn on the debugger (bug icon)
    %aml_debug detach                            # the step keeps running
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any, Callable, Dict, List, Optional

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from .errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option as IPython's one-line UsageError."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"%aml_debug {self.prog.split()[-1]}: {message}. See %aml_debug?")

    def exit(self, status: int = 0, message: Optional[str] = None) -> None:  # type: ignore[override]
        if message:
            raise UsageError(message.strip())
        raise UsageError("")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%aml_debug", add_help=False)
    sub = parser.add_subparsers(dest="subcommand", parser_class=_Parser)
    attach = sub.add_parser("attach", add_help=False)
    attach.add_argument("target", nargs="?", help="a step of the current run")
    attach.add_argument("--host")
    attach.add_argument("--port", type=int)
    attach.add_argument("--local-root")
    attach.add_argument("--remote-root")
    attach.add_argument("--wait", type=float, default=60.0,
                        help="seconds to wait for the step to announce its endpoint")
    attach.add_argument("--stop-on-entry", dest="stop_on_entry", action="store_true", default=None)
    attach.add_argument("--no-stop-on-entry", dest="stop_on_entry", action="store_false")
    sub.add_parser("detach", add_help=False)
    return parser


def attach_command(args: argparse.Namespace) -> str:
    from . import bridge
    from .session import current_run

    if args.target and (args.host or args.port):
        raise UsageError("%aml_debug attach: give a STEP or --host/--port, not both.")
    if args.target:
        run = current_run()
        run.step(args.target)
        run.wait_for_endpoint(args.target, timeout=args.wait)
        target = bridge.target_for_step(run, args.target, stop_on_entry=args.stop_on_entry)
        left = run.steps[args.target].endpoint.seconds_left()  # type: ignore[union-attr]
    elif args.host and args.port:
        target = bridge.target_for_address(args.host, args.port, args.local_root, args.remote_root)
        left = None
    else:
        raise UsageError("%aml_debug attach: name a STEP of the current run, or give --host and --port.")
    bridge.attach(target)
    where = "; ".join(f"{m['localRoot']} <-> {m['remoteRoot']}" for m in target.path_mappings) or "no path mapping"
    deadline = f"; it waits {left:.0f} s more" if left is not None else ""
    return (f"Debugger retargeted to {target.name} at {target.address} ({where}{deadline}). "
            "Turn on the debugger (bug icon) for this notebook to debug it.")


def detach_command(args: argparse.Namespace) -> str:
    from . import bridge

    return bridge.detach()


COMMANDS: Dict[str, Callable[[argparse.Namespace], Any]] = {
    "attach": attach_command,
    "detach": detach_command,
}


@magics_class
class AmlDebugMagics(Magics):
    @line_magic
    def aml_debug(self, line: str) -> Any:
        """Debug Azure ML steps from this notebook. See the module docstring for subcommands."""
        try:
            words: List[str] = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"%aml_debug: cannot parse the line ({e}).") from None
        if not words:
            raise UsageError("%aml_debug: missing subcommand (one of: " + ", ".join(COMMANDS) + "). See %aml_debug?")
        if words[0] not in COMMANDS:
            raise UsageError(f"%aml_debug: unknown subcommand {words[0]!r} (one of: {', '.join(COMMANDS)}).")
        args = build_parser().parse_args(words)
        try:
            result = COMMANDS[args.subcommand](args)
        except UserError as e:
            print(f"aml_debug: {e}", file=sys.stderr)
            return None
        if isinstance(result, str):
            print(result)
            return None
        return result


AmlDebugMagics.aml_debug.__doc__ = __doc__
