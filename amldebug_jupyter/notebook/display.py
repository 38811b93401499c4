"""Cell output: a step's log as text, and a run's line updated later from background threads.

A run's status table is :mod:`amldebug_jupyter.core.report` (a run shows it as its own repr).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from amldebug_jupyter.core import context
from amldebug_jupyter.core.events import LogLine
from amldebug_jupyter.core.lifecycle import TargetState
from amldebug_jupyter.core.report import step_view
from amldebug_jupyter.core.status import StepStatus

if TYPE_CHECKING:  # pragma: no cover
    from amldebug_jupyter.core.run import DebugRun, StepState


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


class RunLine(Announcer):
    """The cell's one line about a run, redrawn from its debug steps' lifecycle on every change,
    so it never says 'waits for a debugger' after the step completed."""

    def __init__(self, run: "DebugRun") -> None:
        self.run = run
        self._note: Optional[str] = None
        self._note_states: Optional[Tuple[str, ...]] = None
        self._ctx = context.current()
        super().__init__(self._line())
        self._unsubscribe = run.subscribe(lambda event: None if isinstance(event, LogLine) else self.redraw())
        self._ctx.target_changed.append(self.redraw)

    def note(self, text: str) -> None:
        """An attach's outcome: shown until a debug step's state changes."""
        self._note, self._note_states = text, self._states()
        self.redraw()

    def redraw(self) -> None:
        text = self._line()
        if text != self._text:
            self.say(text)
        if self.run.done:
            self._unsubscribe()
            if self.redraw in self._ctx.target_changed:
                self._ctx.target_changed.remove(self.redraw)

    def _states(self) -> Tuple[str, ...]:
        return tuple(str(step_view(s).state) for s in self.run.steps.values() if s.debug)

    def _line(self) -> str:
        run = self.run
        if run.done:
            failed = [(s.name, step_view(s).detail) for s in run.steps.values() if s.status == StepStatus.FAILED]
            why = "".join(f" Step '{name}' failed: {detail or 'see its log'}." for name, detail in failed)
            return f"Run {run.id} {str(run.status).lower()} after {run.elapsed:.0f} s.{why}"
        if self._note is not None and self._note_states == self._states():
            return self._note
        parts = [self._step_part(s) for s in run.steps.values() if s.debug]
        return f"Run {run.id}: " + ("; ".join(parts) if parts else f"{str(run.status).lower()} (no debug step).")

    @staticmethod
    def _step_part(step: "StepState") -> str:
        view = step_view(step)
        if view.state == TargetState.PREPARING:
            return f"step '{step.name}' is starting"
        text = f"step '{step.name}' {view.state}" + (f" ({view.detail})" if view.detail else "")
        if view.can_attach and step.endpoint is not None:
            text += f" at {step.endpoint.address}: Attach in the amldebug panel or %aml_debug attach {step.name}"
        return text
