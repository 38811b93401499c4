"""Cell output: a step's log as text, and a line updated later from background threads.

A run's status table is :mod:`amldebug_jupyter.core.report` (a run shows it as its own repr).
"""

from __future__ import annotations

import html
from typing import Any, Dict, List


class LogText:
    """The last lines of a step's log, shown as preformatted text."""

    def __init__(self, step: str, lines: List[str]) -> None:
        self.step, self.lines = step, lines

    def __repr__(self) -> str:
        return "\n".join(self.lines)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Dict[str, str]:
        text = "\n".join(self.lines)
        return {"text/plain": text, "text/html": f"<pre class='amldebug-log'>{html.escape(text)}</pre>"}


class Announcer:
    """One line in the cell that started something, updated later from background threads."""

    def __init__(self, text: str = "") -> None:
        from IPython.display import display

        self._text = text
        self._handle = display(self._bundle(), raw=True, display_id=True)

    def _bundle(self) -> Dict[str, str]:
        return {"text/plain": self._text}

    def say(self, text: str) -> None:
        self._text = text
        if self._handle is not None:
            self._handle.update(self._bundle(), raw=True)
        else:  # terminal IPython: no display ids
            print(text)
