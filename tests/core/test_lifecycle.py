"""One state per debug step, whatever view asks: the table of what the user sees at each stage."""

from __future__ import annotations

from typing import Optional

import pytest

from amldebug_jupyter.core.endpoints import Endpoint
from amldebug_jupyter.core.lifecycle import Attachment, TargetState, describe, exception_from_log
from amldebug_jupyter.core.status import StepStatus

NOW = 1_000_000.0
WAITING = Endpoint("127.0.0.1", 5678, step="train", deadline=NOW + 90)
EXPIRED = Endpoint("127.0.0.1", 5678, step="train", deadline=NOW - 1)
CRASHED = Endpoint("127.0.0.1", 5678, step="train", deadline=NOW + 90, reason="post_mortem")

R, C, F, X = StepStatus.RUNNING, StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELED


@pytest.mark.parametrize(
    "status, endpoint, attachment, state, can_attach, can_detach",
    [
        (StepStatus.NOT_STARTED, None, None, TargetState.PREPARING, False, False),
        (R, WAITING, None, TargetState.WAITING, True, False),
        (R, WAITING, Attachment(), TargetState.ATTACHED, False, True),
        (R, WAITING, Attachment(connected=True), TargetState.RUNNING, False, True),
        (R, WAITING, Attachment(connected=True, paused_at="train.py:3"), TargetState.PAUSED, False, True),
        (
            R,
            WAITING,
            Attachment(connected=True, paused_at="t.py:2", exception="KeyError: 3"),
            TargetState.POST_MORTEM,
            False,
            True,
        ),
        (R, CRASHED, None, TargetState.POST_MORTEM, True, False),
        (R, WAITING, Attachment(held=False, was_detached=True), TargetState.DETACHED, True, False),
        (R, EXPIRED, None, TargetState.TIMED_OUT, True, False),
        (R, WAITING, Attachment(connected=True, lost="Lost the connection"), TargetState.LOST, True, True),
        # An ended step is ended, whatever the debugger still holds of it.
        (C, WAITING, Attachment(connected=True), TargetState.COMPLETED, False, False),
        (F, WAITING, Attachment(connected=True, paused_at="x"), TargetState.FAILED, False, False),
        (X, WAITING, Attachment(), TargetState.CANCELED, False, False),
    ],
)
def test_each_stage_has_one_state_and_its_actions(
    status: StepStatus,
    endpoint: Optional[Endpoint],
    attachment: Optional[Attachment],
    state: TargetState,
    can_attach: bool,
    can_detach: bool,
) -> None:
    view = describe(status, endpoint, attachment, now=NOW)
    assert (view.state, view.can_attach, view.can_detach) == (state, can_attach, can_detach)


def test_details_say_what_the_user_needs() -> None:
    paused = describe(R, WAITING, Attachment(connected=True, paused_at="train.py:3"), now=NOW)
    assert paused.detail == "stopped at train.py:3"
    post_mortem = describe(R, WAITING, Attachment(connected=True, paused_at="t.py:2", exception="KeyError: 3"), now=NOW)
    assert post_mortem.detail == "KeyError: 3 (at t.py:2)"
    assert describe(R, WAITING, None, now=NOW).detail.startswith("waits for a debugger until ")  # type: ignore[union-attr]
    assert describe(F, None, None, exception="ValueError: bad", exit_code=1).detail == "ValueError: bad"
    assert describe(F, None, None, exit_code=3).detail == "exit code 3"
    assert describe(X, None, None).detail is None


def test_the_exception_comes_from_the_last_traceback_in_the_log() -> None:
    log = [
        "epoch 1",
        "Traceback (most recent call last):",
        '  File "train.py", line 2, in <module>',
        "    raise KeyError('price')",
        "KeyError: 'price'",
        "During handling, a second one:",
        "Traceback (most recent call last):",
        '  File "train.py", line 9, in <module>',
        "ZeroDivisionError: division by zero",
        "done",
    ]
    assert exception_from_log(log) == "ZeroDivisionError: division by zero"
    assert exception_from_log(["all fine", "Error: not a traceback"]) is None
