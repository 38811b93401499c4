"""Loading the extension stays cheap: heavy SDKs load only when a feature needs them."""

import subprocess
import sys

# A finder that records every *attempt* to import a heavy package, installed or not.
PROBE = r"""
import sys
attempts = []
class Recorder:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('azureml', 'docker', 'jupyterlab', 'debugpy', 'ipywidgets', 'yaml'):
            attempts.append(name)
        return None
sys.meta_path.insert(0, Recorder())
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.extension_manager.load_extension('amldebug_jupyter')
import amldebug_jupyter
amldebug_jupyter.Pipeline, amldebug_jupyter.submit
print(sorted(set(a.split('.')[0] for a in attempts)))
"""


def test_load_ext_and_api_import_nothing_heavy() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
