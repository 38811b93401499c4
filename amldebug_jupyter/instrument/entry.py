"""amldebug-jupyter debug entry: wait for a debugger, then run the user's script unmodified.

Usage (written by a backend, not by hand)::

    python _amldebug_entry.py [--host HOST|auto] [--port N] [--timeout S] [--step NAME]
                              [--stop-on-entry] [--post-mortem] -- SCRIPT [ARGS...]

Each option falls back to an ``AMLDEBUG_<OPTION>`` environment variable. The script runs as
``__main__`` with ``sys.argv == [SCRIPT, *ARGS]`` and its own folder first on ``sys.path``,
exactly as ``python SCRIPT ARGS`` would run it. This file must stay standard-library only
(plus debugpy) and compatible with Python 3.8: it runs on compute nodes.
"""

import argparse
import builtins
import json
import os
import socket
import sys
import threading
import time
import traceback
import types

ENDPOINT_MARKER = "AMLDEBUG_ENDPOINT"
ERROR_MARKER = "AMLDEBUG_ERROR"
_THIS_FILE = os.path.abspath(__file__)


def _env(name, default=None):
    return os.environ.get("AMLDEBUG_" + name, default)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="_amldebug_entry.py", add_help=True)
    parser.add_argument("--host", default=_env("HOST", "auto"), help="address to listen on; 'auto' = this node's own address")
    parser.add_argument("--port", type=int, default=int(_env("PORT", "0")), help="port to listen on; 0 = ephemeral")
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(_env("TIMEOUT", "300")),
        help="seconds to wait for a debugger before running without one",
    )
    parser.add_argument("--step", default=_env("STEP", ""))
    parser.add_argument("--remote-root", default=_env("REMOTE_ROOT", ""))
    parser.add_argument("--stop-on-entry", action="store_true", default=_env("STOP_ON_ENTRY", "0") == "1")
    parser.add_argument("--post-mortem", action="store_true", default=_env("POST_MORTEM", "0") == "1")
    if "--" not in argv:
        parser.error("expected '-- SCRIPT [ARGS...]' after the options")
    split = argv.index("--")
    opts = parser.parse_args(argv[:split])
    rest = argv[split + 1 :]
    if not rest:
        parser.error("no script given after '--'")
    opts.script, opts.script_args = rest[0], rest[1:]
    return opts


def node_address(host):
    """The address debugpy binds: the node's own IP for 'auto', never all interfaces implicitly."""
    if host != "auto":
        return host
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _rank():
    for name in ("AZUREML_PROCESS_RANK", "RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def _say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _record_run_properties(info):
    """On Azure ML, also publish the endpoint as run properties (cheaper than tailing logs).

    Runs beside the wait: importing azureml takes seconds, and a debugger may attach meanwhile.
    """
    if not os.environ.get("AZUREML_RUN_ID"):
        return
    threading.Thread(target=_add_run_properties, args=(info,), name="amldebug-properties", daemon=True).start()


def _add_run_properties(info):
    try:
        from azureml.core import Run  # noqa: PLC0415 - optional, only present on Azure nodes
    except Exception:
        return
    try:
        run = Run.get_context(allow_offline=True)
        if hasattr(run, "add_properties") and not type(run).__name__.startswith("_Offline"):
            run.add_properties({"amldebug_endpoint_%s" % info["reason"]: json.dumps(info)})
    except Exception as exc:  # never let bookkeeping break the user's step
        _say("amldebug: could not record the endpoint as run properties: %s" % exc)


def announce(opts, host, port, timeout, reason):
    """Print the machine-readable endpoint line plus the lines the seed workflow printed."""
    info = {
        "host": host,
        "port": port,
        "pid": os.getpid(),
        "step": opts.step,
        "rank": _rank(),
        "deadline": round(time.time() + timeout, 3),
        "timeout": timeout,
        "remote_root": opts.remote_root or os.path.dirname(_THIS_FILE),
        "script": os.path.abspath(opts.script),
        "stop_on_entry": bool(opts.stop_on_entry),
        "reason": reason,
    }
    _say(ENDPOINT_MARKER + " " + json.dumps(info, sort_keys=True))
    _say("Timeout for debug connection: %g" % timeout)
    _say("ip_address: %s" % host)
    _record_run_properties(info)


def _report_error(opts, message):
    """One machine-readable line the tailer turns into a clear error for the user."""
    _say(ERROR_MARKER + " " + json.dumps({"step": opts.step, "message": message}))


def _configuration_done_flag():
    """An event set when a debugger's ``configurationDone`` reaches pydevd, and that stays set.

    pydevd's own flag is cleared again by a ``disconnect``; a debugger that detaches right after
    ``configurationDone`` (JupyterLab's toggle, on then off) would otherwise leave
    ``wait_for_client()`` waiting for the next debugger until the timeout.
    """
    try:
        import pydevd
    except ImportError:
        return None
    py_db = pydevd.get_global_debugger()
    original = getattr(py_db, "on_configuration_done", None)
    if original is None:
        return None
    flag = threading.Event()

    def on_configuration_done(*args, **kwargs):
        flag.set()
        return original(*args, **kwargs)

    py_db.on_configuration_done = on_configuration_done
    return flag


def wait_for_debugger(debugpy, timeout, released=None):
    """Wait at most ``timeout`` seconds; debugpy's own wait has no timeout, so cancel it.

    ``released`` (from :func:`_configuration_done_flag`, installed before the endpoint is
    announced) ends the wait as soon as a debugger has configured, even if it already left.
    """
    if timeout <= 0:
        return debugpy.is_client_connected()
    released = released or threading.Event()
    done = threading.Event()

    def watch():
        deadline = time.time() + timeout
        while not done.wait(0.05):
            if released.is_set() or (time.time() >= deadline and not debugpy.is_client_connected()):
                # Look cancel up now: it only exists on the instance once the wait has started.
                debugpy.wait_for_client.cancel()
                return

    watcher = threading.Thread(target=watch, name="amldebug-wait", daemon=True)
    watcher.start()
    try:
        debugpy.wait_for_client()
    finally:
        done.set()
    attached = released.is_set() or debugpy.is_client_connected()
    _say("Debugger attached = %s" % attached)
    return attached


def start_debugpy(opts):
    """Listen and wait; returns the debugpy module, or None to run without a debugger."""
    try:
        import debugpy
    except ImportError:
        _report_error(
            opts,
            "debugpy is not installed in this step's environment; add 'debugpy' to its pip packages. Running without a debugger.",
        )
        return None
    debugpy.configure(subProcess=False)
    host = node_address(opts.host)
    try:
        host, port = debugpy.listen((host, opts.port))
    except Exception as exc:
        _report_error(opts, "debugpy could not listen on %s:%s (%s). Running without a debugger." % (host, opts.port, exc))
        return None
    opts.listen_host, opts.listen_port = host, port
    released = _configuration_done_flag()  # before anyone can know where to attach
    announce(opts, host, port, opts.timeout, "start")
    wait_for_debugger(debugpy, opts.timeout, released)
    return debugpy


def post_mortem(debugpy, opts, exc_info):
    """Stop the debugger at the failing frame, waiting (bounded) for a client if none is there."""
    try:
        import pydevd
    except ImportError:
        return
    if not debugpy.is_client_connected():
        released = _configuration_done_flag()
        announce(opts, opts.listen_host, opts.listen_port, opts.timeout, "post_mortem")
        if not wait_for_debugger(debugpy, opts.timeout, released):
            return
    py_db = pydevd.get_global_debugger()
    if py_db is None:
        return
    if hasattr(py_db, "trigger_exception_handler"):  # debugpy >= 1.8.2x: the supported way
        py_db.trigger_exception_handler(exc_info, as_uncaught=False)
        return
    tb, frame = _user_traceback(exc_info[2]), None
    while tb is not None:  # the innermost frame: where the exception was raised
        frame, tb = tb.tb_frame, tb.tb_next
    if frame is None:
        return
    thread = threading.current_thread()
    info = py_db.set_additional_thread_info(thread)
    info.is_tracing += 1
    try:
        py_db.do_stop_on_unhandled_exception(thread, frame, None, exc_info)
    finally:
        info.is_tracing -= 1


def _user_traceback(tb):
    """Drop this entry's frames so the traceback starts in the user's script."""
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == _THIS_FILE:
        tb = tb.tb_next
    return tb


def _excepthook(etype, value, tb):
    traceback.print_exception(etype, value, _user_traceback(tb) or tb)
    sys.stderr.flush()


def exec_as_main(script):
    """Run ``script`` the way ``python script`` does: a fresh ``__main__`` module."""
    path = os.path.abspath(script)
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__dict__.update({"__file__": path, "__builtins__": builtins, "__cached__": None})
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def run_script(opts, debugpy):
    sys.argv = [opts.script] + list(opts.script_args)
    sys.path[0] = os.path.dirname(os.path.abspath(opts.script))
    sys.excepthook = _excepthook
    try:
        exec_as_main(opts.script)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:
        if debugpy is not None and opts.post_mortem:
            post_mortem(debugpy, opts, sys.exc_info())
        raise


def main(argv=None):
    opts = parse_args(list(sys.argv[1:] if argv is None else argv))
    if not os.path.isfile(opts.script):
        sys.stderr.write("amldebug: script %r not found in %s\n" % (opts.script, os.getcwd()))
        return 2
    debugpy = start_debugpy(opts)
    run_script(opts, debugpy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
