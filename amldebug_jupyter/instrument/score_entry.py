"""Scoring entry for debug images: starts debugpy before the user's ``init()``, then delegates.

Copied into the image next to ``_amldebug_entry.py`` (whose helpers it uses): as
``/var/azureml-app/amldebug_score.py`` in local images, or in the source directory of a
``Model.package`` image. The inference server loads it as its entry script with one worker.
The user's script is ``$AMLDEBUG_SCORE`` (the score.py ``container run`` mounts from the
notebook's folder, so an edit shows after a service restart), else :data:`USER_SCORE` next to
this file. Standard library + debugpy only.
"""

import argparse
import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _amldebug_entry as entry  # noqa: E402

APP_ROOT = os.path.dirname(os.path.abspath(__file__))
USER_SCORE = "score.py"  # rewritten when the user's entry script has another name
_user = None


def _start_debugger():
    script = os.environ.get("AMLDEBUG_SCORE") or os.path.join(APP_ROOT, USER_SCORE)
    opts = argparse.Namespace(
        host=os.environ.get("AMLDEBUG_HOST", "127.0.0.1"),
        port=int(os.environ.get("AMLDEBUG_PORT", "5678")),
        timeout=float(os.environ.get("AMLDEBUG_TIMEOUT", "60")),
        step=os.environ.get("AMLDEBUG_STEP", "score"),
        remote_root=os.path.dirname(script),
        stop_on_entry=False,
        post_mortem=False,
        script=script,
        script_args=[],
    )
    return entry.start_debugpy(opts), opts.script


def _load(script):
    spec = importlib.util.spec_from_file_location("score", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules["score"] = module
    spec.loader.exec_module(module)
    return module


def init():
    global _user
    _debugpy, script = _start_debugger()
    _user = _load(script)
    if hasattr(_user, "init"):
        _user.init()


def run(raw_data):  # the server inspects this signature: exactly one positional parameter
    return _user.run(raw_data)
