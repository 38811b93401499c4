"""A run's state as rows, plain text and HTML: what the status table, the panel and the CLI show.

Presentation without IPython: the rich forms follow the ``_repr_mimebundle_`` convention, which
needs no import.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from amldebug_jupyter.core import context
from amldebug_jupyter.core.lifecycle import ENDED, TargetState, TargetView, describe, exception_from_log

if TYPE_CHECKING:  # pragma: no cover
    from amldebug_jupyter.core.run import DebugRun, StepState


def _countdown(seconds: Optional[float]) -> str:
    if seconds is None:
        return ""
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d} left" if seconds > 0 else "expired"


def step_view(step: "StepState", now: Optional[float] = None) -> TargetView:
    """The step's one lifecycle state, with what the kernel's debugger holds of it."""
    endpoint = step.endpoint
    attachment = context.current().attachment_of(endpoint.address) if endpoint is not None else None
    exception = exception_from_log(step.recent_lines) if step.status == "Failed" else None
    return describe(step.status, endpoint, attachment, error=step.error, exception=exception, exit_code=step.exit_code, now=now)


_COUNTING = (TargetState.WAITING, TargetState.POST_MORTEM)


def step_rows(run: "DebugRun", now: Optional[float] = None) -> List[Dict[str, str]]:
    """One row per step: what the status table and the panel both show."""
    now = time.time() if now is None else now
    rows = []
    for s in run.steps.values():
        ep = s.endpoint
        view = step_view(s, now) if s.debug else None
        counting = view is not None and view.state in _COUNTING and view.can_attach and ep is not None
        rows.append(
            {
                "name": s.name,
                "step": s.name + (" (debug)" if s.debug else ""),
                "status": str(s.status),
                "debugger": str(view.state) if view is not None and view.state not in ENDED else "",
                "endpoint": ep.address if ep else ("" if not s.error else "error"),
                "attach": _countdown(ep.seconds_left(now)) if counting and ep is not None else "",
                "note": (view.detail if view is not None else s.error) or "",
            }
        )
    return rows


class RunStatus:
    """A snapshot of a run's state; ``%aml_debug status`` returns one."""

    COLUMNS = ("step", "status", "debugger", "endpoint", "attach", "note")

    def __init__(self, run: "DebugRun") -> None:
        self.run_id, self.status, self.backend = run.id, run.status, run.backend.name
        self.elapsed = run.elapsed
        self.rows = step_rows(run)
        self.location = str(run.run_dir) if run.run_dir else ""
        self.links = dict(run.links)

    def headline(self) -> str:
        return f"Run {self.run_id} ({self.backend}): {self.status}, {self.elapsed:.0f} s"

    def __repr__(self) -> str:
        widths = {c: max(len(c), *(len(r[c]) for r in self.rows)) for c in self.COLUMNS}
        lines = [
            self.headline() + "".join(f"\n{label}: {url}" for label, url in self.links.items()),
            "  ".join(c.ljust(widths[c]) for c in self.COLUMNS).rstrip(),
        ]
        lines += ["  ".join(r[c].ljust(widths[c]) for c in self.COLUMNS).rstrip() for r in self.rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{c}</th>" for c in self.COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(r[c])}</td>" for c in self.COLUMNS) + "</tr>"
            for r in self.rows
        )
        link = "".join(
            f" <a href='{html.escape(url)}' target='_blank'>open in {html.escape(label)}</a>" for label, url in self.links.items()
        )
        return (
            f"<div class='amldebug-status'><b>{html.escape(self.headline())}</b>{link}"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Dict[str, str]:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}
