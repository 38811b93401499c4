"""A small Debug Adapter Protocol client: framing, request/response pairing, timeouts.

Layered so the kernel bridge can reuse the pieces over its own transport:
:func:`encode` and :class:`FrameDecoder` are pure framing, :class:`PendingRequests` pairs
responses by ``request_seq`` (never FIFO), and :class:`DapClient` puts both on a TCP socket
with a reader thread. :func:`attach` runs the init sequence with breakpoints set *before*
``configurationDone``, which is what releases a step waiting in ``wait_for_client()``.
"""

from __future__ import annotations

import ast
import ipaddress
import itertools
import json
import logging
import re
import socket
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from amldebug_jupyter.core import context
from amldebug_jupyter.errors import DapError

log = logging.getLogger(__name__)

Message = Dict[str, Any]


def encode(message: Mapping[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


MAX_HEADER_BYTES = 8192
"""A DAP header is one or two short lines; more without the blank line is not DAP."""


class FrameDecoder:
    """Turns a byte stream into DAP messages; byte-accurate ``Content-Length`` handling.

    Anything that is not a DAP frame (no or a bad ``Content-Length``, a frame over ``max_frame``
    bytes, a body that is not UTF-8 JSON of an object) raises :class:`DapError`: the connection
    cannot be trusted past it, so the caller closes it.
    """

    def __init__(self, max_frame: int = 64 * 2**20) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._need: Optional[Tuple[int, int]] = None
        """(body start, body length) of the frame being received, once its header is read."""

    def feed(self, data: bytes) -> List[Message]:
        self._buf += data
        out: List[Message] = []
        while True:
            if self._need is None:
                head_end = self._buf.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES + 4)
                if head_end < 0:
                    if len(self._buf) > MAX_HEADER_BYTES:
                        raise DapError(f"not a DAP header (no blank line within {MAX_HEADER_BYTES} bytes)")
                    return out
                self._need = (head_end + 4, self._content_length(bytes(self._buf[:head_end])))
            start, length = self._need
            if len(self._buf) < start + length:
                return out
            out.append(self._message(bytes(self._buf[start : start + length])))
            del self._buf[: start + length]
            self._need = None

    def _content_length(self, header: bytes) -> int:
        length = None
        for line in header.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                text = value.strip()
                if not text.isdigit():
                    raise DapError(f"bad Content-Length {text[:40].decode('ascii', 'replace')!r}")
                length = int(text)
        if length is None:
            raise DapError("a DAP frame without Content-Length")
        if length > self.max_frame:
            raise DapError(f"a frame of {length} bytes, over the limit of {self.max_frame} (AmlDebugConfig.max_frame_bytes)")
        return length

    @staticmethod
    def _message(body: bytes) -> Message:
        try:
            msg = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise DapError("a DAP frame whose body is not UTF-8") from None
        except ValueError as e:
            raise DapError(f"a DAP frame whose body is not JSON ({e})") from None
        if not isinstance(msg, dict):
            raise DapError(f"a DAP frame holding a JSON {type(msg).__name__}, not an object")
        return msg


class PendingRequests:
    """Outstanding requests keyed by wire ``seq``; failing them all when the link drops."""

    def __init__(self) -> None:
        self._seq = itertools.count(1)
        self._pending: Dict[int, "Future[Message]"] = {}
        self._lock = threading.Lock()
        self.broken: Optional[str] = None

    def new(self) -> Tuple[int, "Future[Message]"]:
        with self._lock:
            if self.broken:
                raise DapError(self.broken)
            seq = next(self._seq)
            fut: "Future[Message]" = Future()
            self._pending[seq] = fut
            return seq, fut

    def resolve(self, response: Message) -> bool:
        with self._lock:
            fut = self._pending.pop(response.get("request_seq", -1), None)
        if fut is None:
            return False
        if not fut.done():  # a caller that gave up may have cancelled it
            fut.set_result(response)
        return True

    def discard(self, seq: int) -> None:
        with self._lock:
            self._pending.pop(seq, None)

    def fail_all(self, reason: str) -> None:
        with self._lock:
            self.broken = self.broken or reason
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(DapError(reason))


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def check_address(host: str, port: Any) -> Tuple[str, int]:
    """``(host, port)`` when they can name a debug endpoint, else one line saying what is wrong."""
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise DapError(f"Port {port!r} is not a TCP port: give a number from 1 to 65535.")
    name = host.strip("[]") if isinstance(host, str) else ""
    try:
        ipaddress.ip_address(name)
        return name, port
    except ValueError:
        pass
    labels = name.rstrip(".").split(".")
    if not name or len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise DapError(
            f"Host {host!r} is not a host name or an IP address: give one such as 127.0.0.1 or node-0.internal "
            "(labels of 1 to 63 letters, digits or hyphens, separated by single dots)."
        )
    return name, port


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    """Connect, retrying while refused: seed-style scripts print their address before listening.

    A refused connection never reaches debugpy, so retrying is not the port probe that wedges
    its adapter; once connected, the caller speaks DAP at once.
    """
    host, port = check_address(host, port)
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        left = deadline - time.monotonic()
        try:
            return socket.create_connection((host, port), timeout=max(left, 0.1))
        except ConnectionRefusedError:
            if left <= pause:
                raise DapError(
                    f"Nothing is listening at {host}:{port} (waited {timeout:g} s); is the step still waiting for a debugger?"
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
        except socket.timeout:
            raise DapError(f"No debugger endpoint answered at {host}:{port} within {timeout:g} s.") from None
        except socket.gaierror as e:
            raise DapError(f"Cannot find the host {host!r} of the debug endpoint: {e.strerror or e}.") from None
        except (OSError, UnicodeError, ValueError) as e:
            why = getattr(e, "strerror", None) or e
            raise DapError(f"Cannot connect to the debug endpoint {host}:{port}: {why}.") from None


def _keepalive(sock: socket.socket, idle: int = 3, interval: int = 1, count: int = 3) -> None:
    """Let the kernel notice a peer host that is gone (no ACKs) within ``idle + interval * count`` s."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", count)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


class DapClient:
    """A DAP client over TCP. Events are kept in order and can be awaited by name."""

    def __init__(
        self,
        host: str,
        port: int,
        connect_timeout: Optional[float] = None,
        request_timeout: Optional[float] = None,
        keep_events: bool = True,
        max_frame: Optional[int] = None,
    ) -> None:
        """Timeouts and the frame limit default to the config's; ``keep_events=False``: events
        only go to :meth:`on_event` listeners (long sessions)."""
        self.address = f"{host}:{port}"
        self.keep_events = keep_events
        cfg = context.current().config
        self.request_timeout: float = cfg.request_timeout if request_timeout is None else request_timeout
        self._sock = _connect(host, port, cfg.connect_timeout if connect_timeout is None else connect_timeout)
        self._sock.settimeout(None)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _keepalive(self._sock)
        self.max_frame: int = cfg.max_frame_bytes if max_frame is None else max_frame
        self.last_heard = time.monotonic()
        """When the peer last sent anything (a frame or part of one)."""
        self._lost: Optional[str] = None
        self._send_lock = threading.Lock()
        self._pending = PendingRequests()
        self._events: List[Message] = []
        self._claimed: Set[int] = set()
        self._events_cv = threading.Condition()
        self._listeners: List[Callable[[Message], None]] = []
        self._close_listeners: List[Callable[[str], None]] = []
        self.closed = False
        self._closing = False
        self._reader = threading.Thread(target=self._read_loop, name=f"dap-{self.address}", daemon=True)
        self._reader.start()

    # -- inbound ---------------------------------------------------------------------------
    def _read_loop(self) -> None:
        decoder = FrameDecoder(self.max_frame)
        reason = f"The debug endpoint {self.address} closed the connection."
        try:
            while True:
                data = self._sock.recv(65536)
                if not data:
                    break
                self.last_heard = time.monotonic()
                for msg in decoder.feed(data):
                    try:
                        self._dispatch(msg)
                    except Exception:  # one bad message must not end the session
                        log.exception("failed to handle DAP message %s", msg.get("command") or msg.get("event"))
        except OSError:
            pass
        except DapError as e:  # not DAP: nothing after it on this connection can be trusted
            reason = f"The debug endpoint {self.address} broke the protocol ({e}); the connection was closed."
        except Exception as e:  # never a silent dead reader: pending requests must fail now
            log.exception("DAP reader for %s failed", self.address)
            reason = f"Reading from the debug endpoint {self.address} failed ({type(e).__name__}: {e})."
        reason = self._lost or reason
        self.closed = True
        self._shutdown()
        self._pending.fail_all(reason)
        with self._events_cv:
            self._events_cv.notify_all()
        if not self._closing:
            for listener in list(self._close_listeners):
                try:
                    listener(reason)
                except Exception:
                    log.exception("DAP close listener failed")

    def _dispatch(self, msg: Message) -> None:
        kind = msg.get("type")
        if kind == "response":
            self._pending.resolve(msg)
        elif kind == "event":
            if self.keep_events:
                with self._events_cv:
                    self._events.append(msg)
                    self._events_cv.notify_all()
            for listener in list(self._listeners):
                try:
                    listener(msg)
                except Exception:
                    log.exception("DAP event listener failed")
        else:  # reverse requests (runInTerminal, startDebugging) are not supported
            log.debug("ignoring DAP reverse request %s", msg.get("command"))

    def on_event(self, listener: Callable[[Message], None]) -> None:
        self._listeners.append(listener)

    def on_close(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(reason)`` when the peer drops the link (not when we close it)."""
        self._close_listeners.append(listener)

    def wait_for_event(
        self, name: str, timeout: Optional[float] = None, predicate: Callable[[Message], bool] = lambda m: True
    ) -> Message:
        """Return the oldest not-yet-claimed ``name`` event matching ``predicate``."""
        timeout = self.request_timeout if timeout is None else timeout
        with self._events_cv:

            def find() -> Optional[int]:
                for i, ev in enumerate(self._events):
                    if i not in self._claimed and ev.get("event") == name and predicate(ev):
                        return i
                return None

            ok = self._events_cv.wait_for(lambda: find() is not None or self.closed, timeout)
            i = find()
            if i is None:
                why = "the connection closed" if self.closed and ok else f"{timeout:g} s passed"
                raise DapError(f"The debugger at {self.address} sent no '{name}' event ({why}).")
            self._claimed.add(i)
            return self._events[i]

    # -- outbound --------------------------------------------------------------------------
    def send(self, command: str, arguments: Optional[Mapping[str, Any]] = None) -> "Future[Message]":
        seq, fut = self._pending.new()
        msg: Message = {"seq": seq, "type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = dict(arguments)
        try:
            with self._send_lock:
                self._sock.sendall(encode(msg))
        except OSError as e:
            self._pending.discard(seq)
            raise DapError(f"Lost the connection to the debugger at {self.address}: {e}.") from None
        fut.command = command  # type: ignore[attr-defined]  # for messages about a late or failed reply
        fut.seq = seq  # type: ignore[attr-defined]
        return fut

    def result(self, fut: "Future[Message]", timeout: Optional[float] = None) -> Dict[str, Any]:
        """Wait for a response; return its body or raise :class:`DapError` with its message."""
        timeout = self.request_timeout if timeout is None else timeout
        command = getattr(fut, "command", "request")
        try:
            response = fut.result(timeout)
        except FutureTimeout:
            self._pending.discard(getattr(fut, "seq", -1))
            raise DapError(f"The debugger at {self.address} did not answer '{command}' within {timeout:g} s.") from None
        if not response.get("success", False):
            raise DapError(f"The debugger refused '{command}': {response.get('message') or 'no reason given'}.")
        return response.get("body") or {}

    def request(
        self, command: str, arguments: Optional[Mapping[str, Any]] = None, timeout: Optional[float] = None
    ) -> Dict[str, Any]:
        return self.result(self.send(command, arguments), timeout)

    def watch(self, interval: float, answer_within: float) -> None:
        """From now on notice a peer that stops answering (frozen, or a link that drops packets):
        after ``interval`` s without a word from it, ask for ``threads``; no answer within
        ``answer_within`` s closes the link as lost, so every pending request fails at once.

        Only call this once the session runs: a debuggee held in ``wait_for_client()`` is not
        obliged to answer, and debugpy answers ``attach`` only after ``configurationDone``.
        """
        threading.Thread(
            target=self._watch, args=(interval, answer_within), name=f"dap-watch-{self.address}", daemon=True
        ).start()

    def _watch(self, interval: float, answer_within: float) -> None:
        while not self.closed:
            quiet = time.monotonic() - self.last_heard
            if quiet < interval:
                time.sleep(min(interval - quiet, 0.25) + 0.01)
                continue
            try:
                probe = self.send("threads")  # any answer, even a refusal, shows the peer is alive
                probe.result(answer_within)
            except FutureTimeout:
                self._pending.discard(getattr(probe, "seq", -1))
                self.lose(
                    f"{self.address} stopped answering (a liveness check got no reply within {answer_within:g} s): "
                    "the process may be frozen or the network down"
                )
                return
            except DapError:  # the link is closed already
                return

    def lose(self, reason: str) -> None:
        """Give up on the peer: close the link; pending requests and close listeners get ``reason``."""
        self._lost = self._lost or reason
        self._shutdown()

    def _shutdown(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self._closing = True
        self.closed = True
        self._shutdown()
        self._sock.close()
        if threading.current_thread() is not self._reader:
            self._reader.join(2)

    def __enter__(self) -> "DapClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def first_statement_line(path: str) -> Optional[int]:
    """Line of the first executable statement (skipping the docstring): a stop-on-entry target."""
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    body = list(tree.body)
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        body = body[1:]
    return body[0].lineno if body else None


def attach(
    client: DapClient,
    *,
    path_mappings: Sequence[Mapping[str, str]] = (),
    breakpoints: Optional[Mapping[str, Iterable[int]]] = None,
    exception_filters: Sequence[str] = (),
    just_my_code: bool = True,
    timeout: Optional[float] = None,
) -> Dict[str, List[Message]]:
    """Run the DAP init sequence and release the debuggee.

    Breakpoints go in after ``initialized`` and before ``configurationDone``: debugpy answers
    ``attach`` only after ``configurationDone``, and ``configurationDone`` is what lets a step
    blocked in ``wait_for_client()`` run, so nothing can run past them.
    Returns the adapter's ``setBreakpoints`` answers per path.
    """
    client.request(
        "initialize",
        {
            "clientID": "amldebug",
            "clientName": "amldebug-jupyter",
            "adapterID": "python",
            "pathFormat": "path",
            "linesStartAt1": True,
            "columnsStartAt1": True,
            "supportsVariableType": True,
        },
        timeout,
    )
    attach_fut = client.send(
        "attach",
        {
            "justMyCode": just_my_code,
            "redirectOutput": False,
            "pathMappings": [dict(m) for m in path_mappings],
        },
    )
    limit = client.request_timeout if timeout is None else timeout
    deadline = time.monotonic() + limit
    while True:  # 'initialized', or a refusal (e.g. "already being debugged") without it
        if attach_fut.done() and not attach_fut.result().get("success"):
            client.result(attach_fut, 0)
        try:
            client.wait_for_event("initialized", 0.05)
            break
        except DapError:
            if client.closed or time.monotonic() > deadline:
                raise DapError(f"The debugger at {client.address} did not start a session within {limit:g} s.") from None
    verified: Dict[str, List[Message]] = {}
    for path, lines in (breakpoints or {}).items():
        body = client.request(
            "setBreakpoints",
            {
                "source": {"path": path},
                "breakpoints": [{"line": int(n)} for n in lines],
                "sourceModified": False,
            },
            timeout,
        )
        verified[path] = body.get("breakpoints", [])
    client.request("setExceptionBreakpoints", {"filters": list(exception_filters)}, timeout)
    client.request("configurationDone", {}, timeout)
    client.result(attach_fut, timeout)
    return verified
