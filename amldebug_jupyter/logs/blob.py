"""Tail step logs held in Azure Blob storage: ranged reads of SAS URLs, only new bytes per poll.

Azure ML hands out each log of a step as a read-only SAS URL
(``StepRun.get_details()["logFiles"]`` is ``{relative_name: sas_url}``). azureml-core downloads
the whole blob again on every poll; an :class:`HttpLogSource` keeps a byte offset and asks for
``Range: bytes=<offset>-<offset+max_read-1>``, so a poll costs what was appended since the last
one. It is a :class:`~amldebug_jupyter.logs.tail.LogSource`: :class:`~amldebug_jupyter.logs.tail.LogTailer`
assembles its lines and spots endpoints exactly as for local files.

Answers, as Azure Blob storage and its emulator Azurite give them:

- 206: the new bytes; ``Content-Range: bytes a-b/total`` tells the blob's size.
- 200: the server ignored Range and sent the whole blob: the bytes after the offset are new.
- 416: Azure's answer for a range starting at the blob's end: nothing new. Its
  ``Content-Range: bytes */total`` below the offset means the blob was truncated. (Azurite answers
  206 with an empty body at the end of a blob, and 416 only past it.)
- 404: the blob does not exist yet: nothing, no error.
- 403: the SAS token expired: ``refresh()`` gives a fresh URL, tried once; else this poll gives up
  quietly.
- 5xx, 408, 429, timeouts, connection errors: retried with exponential backoff, at most
  ``retries`` attempts; then this poll gives up, the offset is kept and the next poll goes on.

A blob that got shorter than the offset, or was re-created (its ``x-ms-creation-time`` changed),
is read again from byte 0 as a new stream, like a truncated or rotated local file.

A SAS URL is a credential: URLs are only ever printed through :func:`redact`, which drops the
query string, and error texts are scrubbed of query strings before they are logged or raised.
"""

from __future__ import annotations

import fnmatch
import http.client
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from amldebug_jupyter.core.backend import Chunk
from amldebug_jupyter.logs.tail import LOG_PATTERNS

log = logging.getLogger(__name__)

Response = Tuple[int, Mapping[str, str], bytes]
"""(HTTP status, response headers with lower-case names, body)."""

RETRY_STATUSES = frozenset({408, 429})
"""Besides every 5xx: answers that mean "try again shortly"."""

_OPENER = urllib.request.build_opener()  # honours http(s)_proxy / no_proxy like other HTTP clients
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(?:(\d+)\s*-\s*(\d+)|\*)\s*/\s*(\d+|\*)\s*$", re.IGNORECASE)
_URL_QUERY_RE = re.compile(r"""(\b[a-z][a-z0-9+.\-]*://[^\s?#'"<>]*)[?#][^\s'"<>]*""", re.IGNORECASE)
_SIGNATURE_RE = re.compile(r"""\bsig=[^&\s'"<>]*""", re.IGNORECASE)


def redact(url: str) -> str:
    """``url`` without its query string and fragment (where a SAS token lives): safe to print."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]  # no user:password either
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]


def scrub(text: str) -> str:
    """``text`` with every URL's query string removed and any stray ``sig=`` value blanked."""
    return _SIGNATURE_RE.sub("<redacted>", _URL_QUERY_RE.sub(r"\1", text))


def http_get(url: str, headers: Mapping[str, str], timeout: float) -> Response:
    """GET ``url``: the module's one network call (tests and benchmarks patch it here).

    Every HTTP status comes back as an answer, never as an exception; header names are
    lower-cased. Failing to get an answer raises ``OSError`` (``TimeoutError``,
    ``ConnectionError``, ...), and a URL that cannot be fetched at all ``ValueError``; their
    texts never hold the URL's query string (a SAS token) however the URL is malformed.
    ``timeout`` bounds the connection and every wait for data.
    """
    try:
        request = urllib.request.Request(url, headers=dict(headers), method="GET")
        response = _OPENER.open(request, timeout=timeout)
        with response:
            return response.status, _lower(response.headers), response.read()
    except urllib.error.HTTPError as exc:  # a 4xx/5xx answer, with headers and a body
        try:
            body = exc.read() if exc.fp is not None else b""
        finally:
            exc.close()
        return exc.code, _lower(dict(exc.headers.items())), body
    except urllib.error.URLError as exc:  # no answer: refused, unreachable, TLS, timeout
        kind = TimeoutError if isinstance(exc.reason, TimeoutError) else ConnectionError
        raise kind(f"GET {redact(url)}: {scrub(str(exc.reason))}") from None
    except http.client.InvalidURL as exc:  # quotes the URL whole
        raise ValueError(f"GET {redact(url)}: not a URL that can be fetched ({_describe(exc)})") from None
    except (OSError, http.client.HTTPException) as exc:  # the answer broke off
        kind = TimeoutError if isinstance(exc, TimeoutError) else ConnectionError
        raise kind(f"GET {redact(url)}: {_describe(exc)}") from None
    except ValueError as exc:  # malformed URL ("unknown url type: '...&sig=...'")
        raise ValueError(f"GET {redact(url)}: not a URL that can be fetched ({_describe(exc)})") from None


def _lower(headers: Optional[Mapping[str, str]]) -> Dict[str, str]:
    return {k.lower(): v for k, v in headers.items()} if headers is not None else {}


def _content_range(value: str) -> Tuple[Optional[int], Optional[int]]:
    """``Content-Range`` -> (first byte, total size); None where absent or ``*``."""
    m = _CONTENT_RANGE_RE.match(value or "")
    if not m:
        return None, None
    first = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(3)) if m.group(3) != "*" else None
    return first, total


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {scrub(str(exc))}"


class _Problems:
    """Logs a recurring problem once at its level, then at DEBUG until something else happens."""

    def __init__(self) -> None:
        self._last: Optional[str] = None

    def report(self, level: int, fmt: str, *args: object) -> None:
        text = fmt % args
        log.log(level if text != self._last else logging.DEBUG, "%s", text)
        self._last = text

    def clear(self) -> None:
        self._last = None


class HttpLogSource:
    """A log blob behind a (SAS) URL, followed by ranged reads from a remembered byte offset.

    ``read_new()`` never raises for network or HTTP trouble: a poll that gets no answer returns
    nothing and the next poll continues from the same offset. ``bytes_read`` counts the log
    bytes delivered, ``bytes_transferred`` every response body byte received (error documents
    and ignored-Range whole bodies included).
    """

    def __init__(
        self,
        name: str,
        url: str,
        refresh: Callable[[], Optional[str]] = lambda: None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_read: int = 8 << 20,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_read < 1:
            raise ValueError("max_read must be at least 1 byte")
        self.name = name
        self.url = url
        self.refresh = refresh
        self.timeout = timeout
        self.retries = max(1, retries)
        self.backoff = backoff
        self.max_read = max_read
        self.sleep = sleep
        self.offset = 0
        self.bytes_read = 0
        self.bytes_transferred = 0
        self._new_stream = True  # the next delivered chunk starts a stream
        self._seen = False  # the blob answered at least once
        self._created: Optional[str] = None  # x-ms-creation-time: changes when re-created
        self._problems = _Problems()

    def __repr__(self) -> str:
        return f"HttpLogSource({self.name!r}, {redact(self.url)!r}, offset={self.offset})"

    def read_new(self) -> List[Chunk]:
        for _ in range(2):  # a truncated or re-created blob is read again from 0 in the same poll
            answer = self._get()
            if answer is None:
                return []
            status, headers, body = answer
            if status == 404:
                self._missing()
                return []
            if status not in (200, 206, 416):
                self._problems.report(
                    logging.WARNING, "%s (%s): unexpected HTTP %d, trying again next poll", self.name, redact(self.url), status
                )
                return []
            self._seen = True
            first, total = _content_range(headers.get("content-range", ""))
            if status == 200:
                first, total = 0, len(body)
            if self._restarted(total, headers.get("x-ms-creation-time")):
                continue
            self._problems.clear()
            if status == 416:
                return self._deliver(b"")
            if status == 206 and first is not None and first != self.offset:
                self._problems.report(
                    logging.WARNING,
                    "%s (%s): asked for bytes from %d, got from %d",
                    self.name,
                    redact(self.url),
                    self.offset,
                    first,
                )
                return []
            return self._deliver(body if status == 206 else body[self.offset :])
        return []

    def _restarted(self, total: Optional[int], created: Optional[str]) -> bool:
        """Truncated (size below the offset) or re-created: start over from byte 0."""
        recreated = created is not None and self._created is not None and created != self._created
        if created is not None:
            self._created = created
        if self.offset and ((total is not None and total < self.offset) or recreated):
            log.info(
                "%s (%s): %s at %d bytes; reading it again from the start",
                self.name,
                redact(self.url),
                "re-created" if recreated else f"truncated to {total} bytes",
                self.offset,
            )
            self.offset, self._new_stream = 0, True
            return True
        return False

    def _missing(self) -> None:
        if self._seen:  # it existed: whatever appears there next is a new stream
            log.info("%s (%s): gone (404); waiting for it to reappear", self.name, redact(self.url))
            self.offset, self._new_stream, self._seen, self._created = 0, True, False, None

    def _deliver(self, data: bytes) -> List[Chunk]:
        new_stream, self._new_stream = self._new_stream, False
        self.offset += len(data)
        self.bytes_read += len(data)
        return [(data, new_stream)] if data or new_stream else []

    def _get(self) -> Optional[Response]:
        """One ranged GET with SAS refresh and retries; None when this poll gives up."""
        headers = {"Range": f"bytes={self.offset}-{self.offset + self.max_read - 1}"}
        refreshed, attempt = False, 0
        while True:
            try:
                status, raw_headers, body = http_get(self.url, headers, self.timeout)
            except ValueError as exc:  # no retry mends a malformed URL; a fresh one may come
                self._problems.report(logging.WARNING, "%s: %s", self.name, scrub(str(exc)))
                return None
            except OSError as exc:
                failure = _describe(exc)
            else:
                self.bytes_transferred += len(body)
                if status == 403 and not refreshed:
                    refreshed = True
                    url = self._fresh_url()
                    if url is not None:
                        self.url = url
                        continue
                if status == 403:
                    self._problems.report(
                        logging.DEBUG,
                        "%s (%s): access denied (expired SAS?) and no fresh URL; trying again next poll",
                        self.name,
                        redact(self.url),
                    )
                    return None
                if status < 500 and status not in RETRY_STATUSES:
                    return status, _lower(raw_headers), body
                failure = f"HTTP {status}"
            attempt += 1
            if attempt >= self.retries:
                self._problems.report(
                    logging.WARNING,
                    "%s (%s): %s after %d attempt(s); trying again next poll",
                    self.name,
                    redact(self.url),
                    failure,
                    attempt,
                )
                return None
            self.sleep(self.backoff * 2 ** (attempt - 1))

    def _fresh_url(self) -> Optional[str]:
        try:
            url = self.refresh()
        except Exception as exc:  # a service call: it may fail like any other
            log.debug("%s: getting a fresh URL failed: %s", self.name, _describe(exc))
            return None
        return url if url and url != self.url else None


def _glob_match(name: str, pattern: str) -> bool:
    """Path glob: ``*`` and ``?`` never cross ``/`` (as ``Path.glob`` for local logs)."""
    parts, pats = name.split("/"), pattern.split("/")
    return len(parts) == len(pats) and all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pats, strict=True))


def matching(names: Iterable[str], patterns: Sequence[str] = LOG_PATTERNS) -> List[str]:
    """The log names (``user_logs/std_log_process_1.txt``, ...) matching ``patterns``, sorted."""
    return sorted({n for n in names if any(_glob_match(n, p) for p in patterns)})


def blob_log_sources(list_files: Callable[[], Mapping[str, str]], **source_kwargs: object) -> Callable[[], List[HttpLogSource]]:
    """Discovery function for :meth:`LogTailer.watch`: one :class:`HttpLogSource` per log blob.

    Each call lists ``{relative_name: sas_url}`` with ``list_files()`` (a service call, e.g.
    ``lambda: step_run.get_details()["logFiles"]``), adds a source for every new name matching
    the step log patterns, hands known sources the freshly listed URL (a new SAS token before the
    old one expires), and returns all sources so far. A failing listing returns those known.
    ``source_kwargs`` go to :class:`HttpLogSource`; each source's ``refresh`` lists again.
    """
    sources: Dict[str, HttpLogSource] = {}
    problems = _Problems()

    def refresher(name: str) -> Callable[[], Optional[str]]:
        return lambda: list_files().get(name)

    def discover() -> List[HttpLogSource]:
        try:
            listed = dict(list_files())
        except Exception as exc:
            problems.report(logging.WARNING, "listing log files failed: %s", _describe(exc))
            return [sources[n] for n in sorted(sources)]
        problems.clear()
        for name in matching(listed):
            url, known = listed[name], sources.get(name)
            if known is None:
                sources[name] = HttpLogSource(name, url, refresh=refresher(name), **source_kwargs)  # type: ignore[arg-type]
            elif url and url != known.url:
                known.url = url
        return [sources[n] for n in sorted(sources)]

    return discover
