"""``amldebug``: the shell side of amldebug-jupyter (the notebook side is ``%aml_debug``)."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from amldebug_jupyter.backends.local import amldebug_home
from amldebug_jupyter.errors import UserError
from amldebug_jupyter.logs.tail import LOG_PATTERNS


def _logs(args: argparse.Namespace) -> int:
    step_dir = amldebug_home() / "runs" / args.run / args.step
    if not step_dir.is_dir():
        raise UserError(f"No local run step {args.run}/{args.step} under {amldebug_home() / 'runs'}.")
    for pattern in LOG_PATTERNS:
        for path in sorted(step_dir.glob(pattern)):
            sys.stdout.write(path.read_text(encoding="utf-8", errors="replace"))
    return 0


def _kernelspec(args: argparse.Namespace) -> int:
    from amldebug_jupyter.notebook.kernel import DISPLAY_NAME, install_kernelspec

    where = install_kernelspec(user=not args.sys_prefix, prefix=sys.prefix if args.sys_prefix else args.prefix)
    print(f"Installed the kernel '{DISPLAY_NAME}' in {where}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amldebug", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the local debug loop end to end (no Azure needed)")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds train waits for the debugger")
    demo.set_defaults(func=lambda a: __import__("amldebug_jupyter.demo", fromlist=["run_demo"]).run_demo(timeout=a.timeout))
    logs = sub.add_parser("logs", help="print a local run step's log")
    logs.add_argument("run")
    logs.add_argument("step")
    logs.set_defaults(func=_logs)
    spec = sub.add_parser("kernelspec", help="install the 'Python 3 (amldebug)' kernel")
    spec.add_argument("action", choices=["install"])
    where = spec.add_mutually_exclusive_group()
    where.add_argument("--sys-prefix", action="store_true", help="into this Python environment")
    where.add_argument("--prefix", help="into PREFIX/share/jupyter/kernels")
    spec.set_defaults(func=_kernelspec)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as e:
        print(f"amldebug: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
