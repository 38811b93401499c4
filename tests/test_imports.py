"""Importing the package must stay cheap: heavy SDKs load only when a feature needs them."""

import subprocess
import sys


def test_import_pulls_in_no_heavy_modules() -> None:
    code = ("import sys, amldebug_jupyter; amldebug_jupyter.Pipeline; "
            "heavy = [m for m in ('azureml', 'docker', 'jupyterlab', 'debugpy', 'ipywidgets', 'yaml') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
