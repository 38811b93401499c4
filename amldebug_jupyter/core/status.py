"""The statuses a run and its steps go through (Azure ML's names, which users know from studio)."""

from __future__ import annotations

from enum import Enum


class StepStatus(str, Enum):
    """A step's or a run's status. Compares equal to, prints and serialises as its plain name."""

    NOT_STARTED = "NotStarted"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


TERMINAL = frozenset({StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELED})
