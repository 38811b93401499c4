"""Scoring entry for debug images: starts debugpy before the user's ``init()``, then delegates.

Copied into the image as ``/var/azureml-app/amldebug_score.py`` next to ``_amldebug_entry.py``
(whose helpers it uses); the inference server loads it as its entry script with one worker.
The user's ``score.py`` (mounted from the notebook's folder) is imported from the same folder,
so an edit shows after a service restart. Standard library + debugpy only.
"""

import argparse
import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _amldebug_entry as entry  # noqa: E402

APP_ROOT = os.path.dirname(os.path.abspath(__file__))
_user = None


def _start_debugger():
    opts = argparse.Namespace(
        host=os.environ.get("AMLDEBUG_HOST", "127.0.0.1"), port=int(os.environ.get("AMLDEBUG_PORT", "5678")),
        timeout=float(os.environ.get("AMLDEBUG_TIMEOUT", "60")), step=os.environ.get("AMLDEBUG_STEP", "score"),
        remote_root=APP_ROOT, stop_on_entry=False, post_mortem=False,
        script=os.environ.get("AMLDEBUG_SCORE", os.path.join(APP_ROOT, "score.py")), script_args=[])
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
