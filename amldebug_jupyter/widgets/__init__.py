"""ipywidgets views of run state (imported only when a panel is shown)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..session import DebugRun
    from .panel import DebugPanel


def show_panel(run: "DebugRun") -> "DebugPanel":
    from IPython.display import display

    from .panel import DebugPanel

    panel = DebugPanel(run)
    display(panel.widget)
    panel.start()
    return panel
