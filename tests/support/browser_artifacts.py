"""What a browser test leaves under ``test-artifacts/e2e/<test name>/`` (gitignored).

Screenshots of its stages as it goes, the Jupyter server's log as the server writes it, and when
the test fails (tests/conftest.py's ``pytest_runtest_makereport`` calls :meth:`Artifacts.save`):
``last.png``, the page as it was at the failure, and ``console.log``, every message the page logged.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "test-artifacts" / "e2e"
LAST, CONSOLE, SERVER_LOG = "last.png", "console.log", "jupyter-server.log"


class Artifacts:
    """One test's folder, emptied when the test starts."""

    def __init__(self, name: str, root: Path = ROOT) -> None:
        self.dir = root / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.server_log = self.dir / SERVER_LOG
        self.console: list[str] = []
        self.page: Any | None = None
        self._stage = 0

    def watch(self, page: Any) -> None:
        """Record everything ``page`` logs (all levels) and every uncaught error."""
        self.page = page

        def message(m: Any) -> None:
            where = m.location or {}
            self.console.append(f"{m.type}: {m.text}  [{where.get('url', '')}:{where.get('lineNumber', '')}]")

        page.on("console", message)
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def errors(self) -> list[str]:
        return [line for line in self.console if line.startswith(("error:", "pageerror:"))]

    def snap(self, stage: str) -> None:
        """A numbered screenshot of a stage, for a human to look at."""
        self._stage += 1
        assert self.page is not None
        self.page.screenshot(path=str(self.dir / f"{self._stage:02d}-{stage}.png"), timeout=15_000)

    def save(self) -> str:
        """Keep the page as it is now and its console log; return the line that says where they are."""
        # Imported here: conftest imports this module for every test.
        from playwright.sync_api import Error as PlaywrightError

        if self.page is not None and not self.page.is_closed():
            try:
                self.page.screenshot(path=str(self.dir / LAST), timeout=15_000)
            except PlaywrightError as e:  # a crashed page still gets its console log kept
                self.console.append(f"(no screenshot: {e})")
        (self.dir / CONSOLE).write_text("".join(f"{line}\n" for line in self.console))
        kept = [
            ("screenshot " if name == LAST else "") + name for name in (LAST, CONSOLE, SERVER_LOG) if (self.dir / name).exists()
        ]
        shown = self.dir.relative_to(REPO) if self.dir.is_relative_to(REPO) else self.dir
        return f"artifacts: {shown.as_posix()}/ ({', '.join(kept)})"


KEY = pytest.StashKey[Artifacts]()
