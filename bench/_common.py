"""Helpers the benchmarks share: RESULT lines, breakpoint markers, cleanup of tagged processes."""

from __future__ import annotations

from pathlib import Path

from amldebug_jupyter import _process


def result(name: str, value: float, unit: str, target: str, ok: bool, fmt: str = ".3f") -> str:
    """One ``RESULT <name> <value> <unit> target=<target> PASS|FAIL`` line."""
    return f"RESULT {name} {value:{fmt}} {unit} target={target} {'PASS' if ok else 'FAIL'}"


def marked_line(path: Path, mark: str) -> int:
    """1-based line number of the line holding ``mark`` in ``path``."""
    for n, text in enumerate(path.read_text().splitlines(), 1):
        if mark in text:
            return n
    raise RuntimeError(f"no '{mark}' line in {path}")


def sweep(var: str, tag: str, grace: float = 5.0) -> int:
    """Let tagged leftovers (debug adapters fork away from their group) exit; kill stragglers."""
    return _process.kill_tagged({var: tag}, grace)
