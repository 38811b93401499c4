"""Error family: expected problems the user can fix versus internal failures.

A :class:`UserError` is always shown as one clear line (what was wrong and what to do), never
as a traceback. Anything else escaping the library is a bug in amldebug-jupyter.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: bad input, a missing file, a timeout they chose."""


class SpecError(UserError):
    """A pipeline or step description is invalid."""


class BackendError(UserError):
    """A backend could not start, observe or stop a run."""


class AttachTimeout(UserError):
    """No debug endpoint appeared, or a debugger could not attach, in the allowed time."""


class DapError(UserError):
    """A debug adapter refused a request, did not answer in time, or dropped the link."""
