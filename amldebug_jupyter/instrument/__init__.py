"""The debug entry shipped into a step's snapshot.

``entry.py`` is self-contained (standard library + debugpy only) because on a compute node
amldebug-jupyter itself is not installed: backends copy the file next to the user's code.
"""

from __future__ import annotations

from pathlib import Path

ENTRY_FILE = Path(__file__).with_name("entry.py")
"""Source of the debug entry; backends copy it into snapshots as :data:`ENTRY_NAME`."""

ENTRY_NAME = "_amldebug_entry.py"
"""File name of the entry inside a snapshot (underscore: unlikely to clash with user modules)."""

SCORE_ENTRY_FILE = Path(__file__).with_name("score_entry.py")
"""Source of the scoring wrapper that debug images run as their entry script, as :data:`SCORE_ENTRY_NAME`."""

SCORE_ENTRY_NAME = "amldebug_score.py"

ENDPOINT_MARKER = "AMLDEBUG_ENDPOINT"
ERROR_MARKER = "AMLDEBUG_ERROR"
"""The lines the entry prints for the log detector; ``entry.py`` keeps its own copy (it runs where
this package is not installed), pinned to these by tests/test_entry.py."""
