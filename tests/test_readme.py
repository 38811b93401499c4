"""The README's Python API example works as written, on the local backend, from a user's folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from support import write

README = Path(__file__).parents[1] / "README.md"

PREP = """import argparse, pathlib
p = argparse.ArgumentParser(); p.add_argument("--out"); a = p.parse_args()
pathlib.Path(a.out).mkdir(parents=True, exist_ok=True)
(pathlib.Path(a.out) / "rows.csv").write_text("x\\n1\\n")
"""
TRAIN = """import argparse, pathlib
p = argparse.ArgumentParser(); p.add_argument("--data"); a = p.parse_args()
print("rows:", (pathlib.Path(a.data) / "rows.csv").read_text().split())
"""


def python_api_example() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's Python API section has no python block"
    return match.group(1)


def test_the_python_api_example_runs_as_written(tmp_path: Path, amldebug_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "code" / "prep" / "prep.py", PREP)
    write(tmp_path / "code" / "train" / "train.py", TRAIN)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_api_example(), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    run = namespace["run"]
    assert run.steps["prep"].status == "Completed"  # prep ran before train waited
    assert (tmp_path / "data" / "rows.csv").read_text() == "x\n1\n"  # where train's --data points
    assert run.status == "Canceled" and os.path.isdir(run.run_dir)
