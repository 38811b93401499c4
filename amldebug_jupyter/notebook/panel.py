"""The run panel: a row per step (status, endpoint, attach countdown, buttons) and a log tail.

A view of a :class:`~amldebug_jupyter.core.run.DebugRun`: it never decides anything. Run events
only mark it dirty; a background thread redraws at most ``refresh`` times a second (and every
second while a countdown runs), so a chatty log never floods the frontend or blocks the kernel.
Button callbacks go through :class:`PanelActions`; their errors appear in the panel.
"""

from __future__ import annotations

import html
import threading
from collections import deque
from typing import Callable, Deque, Dict, Optional, Protocol

import ipywidgets as w

from amldebug_jupyter.bridge import attach_step, detach
from amldebug_jupyter.core import context
from amldebug_jupyter.core.endpoints import readable
from amldebug_jupyter.core.events import Event, LogLine
from amldebug_jupyter.core.lifecycle import TargetState
from amldebug_jupyter.core.report import step_rows, step_view
from amldebug_jupyter.core.run import DebugRun
from amldebug_jupyter.errors import UserError


class PanelActions(Protocol):
    def attach(self, run: DebugRun, step: str) -> str: ...

    def detach(self) -> str: ...

    def cancel(self, run: DebugRun) -> str: ...


class KernelActions:
    """What the buttons do in a notebook kernel."""

    def attach(self, run: DebugRun, step: str) -> str:
        return attach_step(run, step)

    def detach(self) -> str:
        return detach()

    def cancel(self, run: DebugRun) -> str:
        run.cancel()
        return f"Canceling run {run.id}..."


class _StepRow:
    def __init__(self, name: str, on: Callable[[str, str], None]) -> None:
        self.name = w.Label(name, layout=w.Layout(width="14em"))
        self.status = w.Label("", layout=w.Layout(width="14em"))
        self.endpoint = w.Label("", layout=w.Layout(width="12em"))
        self.countdown = w.Label("", layout=w.Layout(width="7em"))
        self.buttons = {
            label: w.Button(description=label, layout=w.Layout(width="6em")) for label in ("Attach", "Detach", "Logs", "Cancel")
        }
        for label, button in self.buttons.items():
            button.on_click(lambda _b, label=label: on(label, name))
        self.box = w.HBox([self.name, self.status, self.endpoint, self.countdown, *self.buttons.values()])


class DebugPanel:
    def __init__(
        self, run: DebugRun, actions: Optional[PanelActions] = None, log_lines: Optional[int] = None, refresh: float = 0.25
    ) -> None:
        self.run = run
        self.actions = actions or KernelActions()
        self.refresh = refresh
        self.log_lines: Deque[str] = deque(maxlen=log_lines or context.current().config.panel_log_lines)
        self.selected: Optional[str] = next((n for n, s in run.steps.items() if s.debug), next(iter(run.steps)))
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

        self.header = w.HTML()
        self.rows: Dict[str, _StepRow] = {name: _StepRow(name, self._clicked) for name in run.steps}
        self.log_title = w.Label()
        self.log = w.Textarea(layout=w.Layout(width="100%", height="12em"), disabled=True)
        self.message = w.HTML()
        self._message_states: Optional[tuple] = None
        """The states the message was shown in: it goes when they change (no stale lines)."""
        self.widget = w.VBox([self.header, *(r.box for r in self.rows.values()), self.message, self.log_title, self.log])
        self._load_log(self.selected)
        self._unsubscribe = run.subscribe(self._on_event)
        self._ctx = context.current()
        self._ctx.target_changed.append(self._dirty.set)
        self.render()

    # -- events (any thread) ---------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, LogLine):
            if event.step != self.selected:
                return
            with self._lock:
                self.log_lines.append(readable(event.text))
        self._dirty.set()

    def _load_log(self, step: Optional[str]) -> None:
        with self._lock:
            self.log_lines.clear()
            if step is not None:
                self.log_lines.extend(readable(line) for line in self.run.steps[step].recent_lines)

    # -- buttons (kernel thread) -------------------------------------------------------------
    def _clicked(self, label: str, step: str) -> None:
        try:
            if label == "Logs":
                self.selected = step
                self._load_log(step)
                note = ""
            elif label == "Attach":
                note = self.actions.attach(self.run, step)
            elif label == "Detach":
                note = self.actions.detach()
            else:
                note = self.actions.cancel(self.run)
            self.show_message(note)
        except UserError as e:
            self.show_message(str(e), error=True)
        except Exception as e:  # a bug must show up in the panel, not vanish in a log
            self.show_message(f"{type(e).__name__}: {e}", error=True)
        self._dirty.set()
        self.render()

    def show_message(self, text: str, error: bool = False) -> None:
        colour = "var(--jp-error-color1, #c00)" if error else "inherit"
        self.message.value = f"<span style='color:{colour}'>{html.escape(text)}</span>" if text else ""
        self._message_states = self._states()

    def _states(self) -> tuple:
        return (self.run.status, *(step_view(s).state if s.debug else s.status for s in self.run.steps.values()))

    # -- drawing -----------------------------------------------------------------------------
    def render(self) -> None:
        run = self.run
        link = "".join(
            f" &middot; <a href='{html.escape(url)}' target='_blank'>{html.escape(label)}</a>" for label, url in run.links.items()
        )
        self.header.value = (
            f"<b>{run.pipeline.name}</b> &middot; run {run.id} &middot; {run.status} &middot; {run.elapsed:.0f} s{link}"
        )
        for row in step_rows(run):
            name = row["name"]
            view, state = self.rows[name], run.steps[name]
            lifecycle = step_view(state) if state.debug else None
            view.status.value = f"{row['status']} · {row['debugger']}" if row["debugger"] else row["status"]
            view.status.tooltip = row["note"] or None
            view.endpoint.value = row["endpoint"]
            view.countdown.value = row["attach"]
            view.buttons["Attach"].disabled = not (lifecycle is not None and lifecycle.can_attach and state.endpoint is not None)
            view.buttons["Detach"].disabled = not (lifecycle is not None and lifecycle.can_detach)
            view.buttons["Cancel"].disabled = run.done
        if self._message_states is not None and self._message_states != self._states():
            self.show_message(self._ended_note() if run.done else "")
            self._message_states = None
        with self._lock:
            text = "\n".join(self.log_lines)
        self.log_title.value = f"Log of {self.selected} (last {self.log_lines.maxlen} lines)" if self.selected else ""
        if self.log.value != text:
            self.log.value = text

    def _ended_note(self) -> str:
        """After the run: why a debug step failed (the panel's last word on it)."""
        for state in self.run.steps.values():
            view = step_view(state) if state.debug else None
            if view is not None and view.state == TargetState.FAILED:
                return f"Step '{state.name}' failed: {view.detail or 'see its log'}"
        return ""

    def _loop(self) -> None:
        while not self._stop.is_set():
            counting = any(step_view(s).state == TargetState.WAITING for s in self.run.steps.values() if s.debug)
            if self._dirty.wait(1.0) or counting:
                self._dirty.clear()
                try:
                    self.render()
                except Exception:  # the frontend went away; keep the kernel quiet
                    pass
            if self.run.done:
                self.render()
                self._forget_context()
                return
            self._stop.wait(self.refresh)

    def _forget_context(self) -> None:
        if self._dirty.set in self._ctx.target_changed:
            self._ctx.target_changed.remove(self._dirty.set)

    def start(self) -> "DebugPanel":
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="amldebug-panel", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._unsubscribe()
        self._forget_context()
        if self._thread is not None:
            self._thread.join(2)
        self.widget.close()


def show_panel(run: DebugRun) -> DebugPanel:
    """Display a live panel for ``run`` below the cell."""
    from IPython.display import display

    panel = DebugPanel(run)
    display(panel.widget)
    panel.start()
    return panel
