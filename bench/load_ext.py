"""Cost of ``%load_ext amldebug_jupyter`` in a fresh IPython, next to ``import ipywidgets``.

Loading the extension must stay cheap: it registers ``%aml_debug`` and its config and nothing
heavy (no azureml, docker or jupyterlab; widgets and debugpy load when first used). Each
figure is the median of fresh processes, so nothing is cached in ``sys.modules``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import List

TARGET_S = 0.3

PROBE = r"""
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = set(sys.modules)
t0 = time.perf_counter()
{action}
elapsed = time.perf_counter() - t0
new = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('azureml', 'docker', 'jupyterlab'))
print(json.dumps({{"elapsed": elapsed, "heavy": new}}))
"""

ACTIONS = {
    "load_ext": "shell.extension_manager.load_extension('amldebug_jupyter')",
    "import_ipywidgets": "import ipywidgets",
}


def measure(action: str, repeat: int) -> List[dict]:
    code = PROBE.format(action=ACTIONS[action])
    return [
        json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout)
        for _ in range(repeat)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    ours = measure("load_ext", args.repeat)
    widgets = measure("import_ipywidgets", args.repeat)
    t_ours = statistics.median(r["elapsed"] for r in ours)
    t_widgets = statistics.median(r["elapsed"] for r in widgets)
    heavy = sorted({m for r in ours for m in r["heavy"]})
    print(f"%load_ext amldebug_jupyter: median {t_ours * 1000:.1f} ms over {args.repeat} fresh processes")
    print(f"import ipywidgets:          median {t_widgets * 1000:.1f} ms")
    print(f"ratio load_ext / import ipywidgets: {t_ours / t_widgets:.2f} x")
    print(f"heavy modules imported by load_ext: {heavy or 'none'}")
    ok_time = t_ours <= TARGET_S
    ok_heavy = not heavy
    print(f"RESULT load_ext_time {t_ours:.3f} s target=<={TARGET_S} {'PASS' if ok_time else 'FAIL'}")
    print(f"RESULT import_ipywidgets_time {t_widgets:.3f} s target=none PASS")
    print(f"RESULT load_ext_vs_ipywidgets {t_ours / t_widgets:.2f} x target=none PASS")
    print(f"RESULT load_ext_heavy_modules {len(heavy)} modules target=0 {'PASS' if ok_heavy else 'FAIL'}")
    return 0 if ok_time and ok_heavy else 1


if __name__ == "__main__":
    sys.exit(main())
