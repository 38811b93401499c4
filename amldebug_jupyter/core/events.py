"""Events a run publishes to its views (panel, bridge, CLI). Plain values, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from amldebug_jupyter.core.endpoints import Endpoint


@dataclass(frozen=True)
class LogLine:
    step: str
    source: str
    text: str


@dataclass(frozen=True)
class EndpointFound:
    endpoint: Endpoint


@dataclass(frozen=True)
class EndpointFailed:
    """The debug entry said it could not wait for a debugger (debugpy missing, port taken)."""

    step: str
    message: str


@dataclass(frozen=True)
class StatusChanged:
    step: Optional[str]  # None: the pipeline as a whole
    status: str


Event = Union[LogLine, EndpointFound, EndpointFailed, StatusChanged]
