"""HttpLogSource against a real Blob service (Azurite): ranged tailing, SAS refresh, faults."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from typing import Callable, Dict, Iterator, List, Tuple

import pytest
from support.azurite import Azurite, AzuriteUnavailable, FaultProxy, azurite

import amldebug_jupyter.logs.blob as logs_http
from amldebug_jupyter.core.events import EndpointFound, LogLine
from amldebug_jupyter.logs.blob import HttpLogSource, blob_log_sources, http_get, matching, redact
from amldebug_jupyter.logs.tail import LogTailer

pytestmark = pytest.mark.azurite

CONTAINER = "azureml"
EXPIRED = dt.timedelta(minutes=-5)


@pytest.fixture(scope="module")
def az() -> Iterator[Azurite]:
    try:
        with azurite() as emulator:
            yield emulator
    except AzuriteUnavailable as e:
        if "Node.js" in str(e):  # no Node here: nothing to run the emulator with
            pytest.skip(str(e))
        raise


@pytest.fixture
def proxy(az: Azurite) -> Iterator[FaultProxy]:
    with FaultProxy(f"http://127.0.0.1:{az.port}") as p:
        yield p


def blob_name(leaf: str = "user_logs/std_log.txt") -> str:
    return f"ExperimentRun/dcid.{uuid.uuid4().hex[:12]}/{leaf}"


class Recorder:
    """``sleep`` stand-in: records the backoff delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: List[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def statuses(monkeypatch: pytest.MonkeyPatch) -> List[int]:
    """The HTTP status of every answer HttpLogSource got (the choke point, wrapped)."""
    seen: List[int] = []

    def recording_get(url: str, headers: Dict[str, str], timeout: float):  # type: ignore[no-untyped-def]
        answer = http_get(url, headers, timeout)
        seen.append(answer[0])
        return answer

    monkeypatch.setattr(logs_http, "http_get", recording_get)
    return seen


def read_all(source: HttpLogSource) -> Tuple[bytes, List[bool]]:
    chunks = source.read_new()
    return b"".join(d for d, _ in chunks), [n for _, n in chunks]


# -- tailing by Range ------------------------------------------------------------------------------
def test_reads_exactly_the_appended_bytes_across_many_appends(az: Azurite, statuses: List[int]) -> None:
    rng = random.Random(3)
    blob = az.append_blob(CONTAINER, blob_name())
    source = HttpLogSource("user_logs/std_log.txt", az.sas_url(blob), max_read=1500)
    written, got, flags = b"", b"", []
    for i in range(40):
        data = "".join(f"épisode {i}.{j} loss={rng.random():.4f} ✓\n" for j in range(rng.randint(0, 60))).encode()
        data = data[: rng.randint(0, len(data))]  # lines (and characters) cut anywhere
        az.append(blob, data)
        written += data
        for _ in range(len(data) // source.max_read + 1):  # a backlog over max_read takes several polls
            chunk, new = read_all(source)
            got, flags = got + chunk, flags + new
    assert got == written
    assert source.bytes_read == source.offset == len(written)
    if set(statuses) == {206}:  # Azurite: nothing but the new bytes ever crossed the wire
        assert source.bytes_transferred == len(written)
    else:  # Azure: the 416 answers at the blob's end carry a small XML error document
        assert set(statuses) == {206, 416}
    assert flags[0] is True and not any(flags[1:])


def test_nothing_new_reads_nothing(az: Azurite, statuses: List[int]) -> None:
    blob = az.append_blob(CONTAINER, blob_name(), b"one line\n")
    source = HttpLogSource("user_logs/std_log.txt", az.sas_url(blob))
    assert source.read_new() == [(b"one line\n", True)]
    transferred = source.bytes_transferred
    for _ in range(3):
        assert source.read_new() == []
    assert source.bytes_read == source.offset == 9
    # Azure answers 416 at the end of a blob; Azurite 206 with an empty body: both mean nothing new
    assert set(statuses[1:]) <= {206, 416}
    if set(statuses[1:]) == {206}:
        assert source.bytes_transferred == transferred


def test_empty_blob_is_a_new_stream_with_nothing_in_it(az: Azurite) -> None:
    blob = az.append_blob(CONTAINER, blob_name())
    source = HttpLogSource("user_logs/std_log.txt", az.sas_url(blob))
    assert source.read_new() == [(b"", True)]  # like FileLogSource opening an empty file
    assert source.read_new() == []
    az.append(blob, b"first\n")
    assert source.read_new() == [(b"first\n", False)]


def test_tailer_assembles_lines_and_finds_the_endpoint(az: Azurite) -> None:
    prefix = blob_name("")
    std = az.append_blob(CONTAINER, prefix + "user_logs/std_log.txt")
    az.append_blob(CONTAINER, prefix + "azureml-logs/60_control_log.txt", b'AMLDEBUG_ENDPOINT {"host": "bad", "port": 1}\n')
    az.append_blob(CONTAINER, prefix + "system_logs/lifecycler/execution-wrapper.txt", b"noise\n")
    calls: List[int] = []

    def list_files() -> Dict[str, str]:
        calls.append(1)
        return az.list_sas(CONTAINER, prefix)

    discover = blob_log_sources(list_files, retries=2, backoff=0.01)
    events: list = []
    tailer = LogTailer()
    tailer.watch("train", discover)
    tailer.subscribe(events.append)
    endpoint = 'AMLDEBUG_ENDPOINT {"host": "10.0.0.4", "port": 5678, "step": "train"}'
    pieces = [
        b"Starting train.py\nepoch 1 lo",
        b"ss=0.25 \xc3",
        b"\xa9t\xc3\xa9\n",
        endpoint.encode()[:20],
        endpoint.encode()[20:] + b"\nTimeout for debug connection: 300\n",
    ]
    for piece in pieces:
        az.append(std, piece)
        tailer.poll_once()
    lines = [(e.source, e.text) for e in events if isinstance(e, LogLine)]
    assert lines == [
        ("user_logs/std_log.txt", t)
        for t in ["Starting train.py", "epoch 1 loss=0.25 été", endpoint, "Timeout for debug connection: 300"]
    ]
    found = [e.endpoint for e in events if isinstance(e, EndpointFound)]
    assert [(f.host, f.port, f.step) for f in found] == [("10.0.0.4", 5678, "train")]
    assert [s.name for s in discover()] == ["user_logs/std_log.txt"]  # control and system logs not tailed
    assert tailer.bytes_read == sum(len(p) for p in pieces)


# -- blobs that come and go --------------------------------------------------------------------------
def test_blob_not_created_yet_is_no_error_then_appears(az: Azurite, statuses: List[int]) -> None:
    client = az.container(CONTAINER).get_blob_client(blob_name())
    source = HttpLogSource("user_logs/std_log.txt", az.sas_url(client))  # SAS for a blob to come
    assert source.read_new() == [] and source.read_new() == []
    assert statuses == [404, 404] and source.offset == 0
    az.append_blob(CONTAINER, client.blob_name, b"hello\n")
    assert source.read_new() == [(b"hello\n", True)]


def test_discovery_picks_up_logs_as_they_appear_and_survives_listing_failures(az: Azurite) -> None:
    prefix = blob_name("")
    listing: List[object] = [{}]

    def list_files() -> Dict[str, str]:
        current = listing[-1]
        if isinstance(current, Exception):
            raise current
        return az.list_sas(CONTAINER, prefix) if current == "azure" else dict(current)  # type: ignore[arg-type]

    discover = blob_log_sources(list_files, timeout=2.0)
    assert discover() == []
    az.append_blob(CONTAINER, prefix + "user_logs/std_log_process_0.txt", b"rank 0\n")
    az.append_blob(CONTAINER, prefix + "user_logs/std_log_process_1.txt", b"rank 1\n")
    listing.append("azure")
    sources = discover()
    assert [s.name for s in sources] == ["user_logs/std_log_process_0.txt", "user_logs/std_log_process_1.txt"]
    listing.append(RuntimeError("service unavailable"))
    assert discover() == sources  # the listing failed: the sources known so far
    listing.append("azure")
    again = discover()
    assert all(a is b for a, b in zip(again, sources, strict=True)) and len(again) == 2  # cached, not re-created
    assert [s.read_new() for s in again] == [[(b"rank 0\n", True)], [(b"rank 1\n", True)]]


def test_truncated_blob_is_read_again_from_the_start_as_a_new_stream(az: Azurite) -> None:
    blob = az.append_blob(CONTAINER, blob_name(), b"first attempt line one\nfirst attempt, partial")
    source = HttpLogSource("user_logs/std_log.txt", az.sas_url(blob))
    source.read_new()
    az.truncate(blob, b"retry\n")
    assert source.read_new() == [(b"retry\n", True)]
    assert source.offset == 6
    az.append(blob, b"more\n")
    assert source.read_new() == [(b"more\n", False)]


def test_recreated_blob_longer_than_the_offset_is_a_new_stream(az: Azurite) -> None:
    blob = az.append_blob(CONTAINER, blob_name(), b"old\n")
    source = HttpLogSource("user_logs/std_log.txt", az.sas_url(blob))
    source.read_new()
    time.sleep(1.1)  # x-ms-creation-time has a resolution of one second
    az.truncate(blob, b"a whole new log\n")
    assert source.read_new() == [(b"a whole new log\n", True)]


def test_tailer_closes_a_partial_line_when_the_blob_is_truncated(az: Azurite) -> None:
    blob = az.append_blob(CONTAINER, blob_name(), b"complete\npartial line")
    url = az.sas_url(blob)
    events: list = []
    tailer = LogTailer()
    tailer.watch("s", blob_log_sources(lambda: {"user_logs/std_log.txt": url}))
    tailer.subscribe(events.append)
    tailer.poll_once()
    az.truncate(blob, b"new\n")
    tailer.poll_once()
    assert [e.text for e in events if isinstance(e, LogLine)] == ["complete", "partial line", "new"]


# -- SAS expiry --------------------------------------------------------------------------------
def test_expired_sas_is_refreshed_and_tailing_continues_without_rereading(az: Azurite, statuses: List[int]) -> None:
    blob = az.append_blob(CONTAINER, blob_name(), b"before expiry\n")
    expires = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=3)
    refreshes: List[str] = []

    def refresh() -> str:
        refreshes.append(az.sas_url(blob))
        return refreshes[-1]

    source = HttpLogSource("user_logs/std_log.txt", az.sas_url(blob, expires), refresh=refresh)
    assert source.read_new() == [(b"before expiry\n", True)]
    while dt.datetime.now(dt.timezone.utc) < expires + dt.timedelta(seconds=1.2):
        time.sleep(0.1)
    az.append(blob, b"after expiry\n")
    statuses.clear()
    assert source.read_new() == [(b"after expiry\n", False)]
    assert statuses == [403, 206] and len(refreshes) == 1 and source.url == refreshes[0]
    assert source.bytes_read == len(b"before expiry\nafter expiry\n")
    az.append(blob, b"later\n")
    assert source.read_new() == [(b"later\n", False)] and len(refreshes) == 1


def test_expired_sas_without_a_refresh_is_quiet(az: Azurite, caplog: pytest.LogCaptureFixture) -> None:
    blob = az.append_blob(CONTAINER, blob_name(), b"secret-free\n")
    caplog.set_level(logging.DEBUG, logger="amldebug_jupyter")
    for refresh in (lambda: None, lambda: az.sas_url(blob, EXPIRED)):
        source = HttpLogSource("user_logs/std_log.txt", az.sas_url(blob, EXPIRED), refresh=refresh, sleep=Recorder())
        assert source.read_new() == [] and source.read_new() == []
        assert source.offset == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_failing_refresh_is_quiet_too(az: Azurite, caplog: pytest.LogCaptureFixture) -> None:
    blob = az.append_blob(CONTAINER, blob_name(), b"x\n")

    def refresh() -> str:
        raise RuntimeError("service down")

    source = HttpLogSource("user_logs/std_log.txt", az.sas_url(blob, EXPIRED), refresh=refresh)
    assert source.read_new() == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# -- server errors and stalls ------------------------------------------------------------------
def test_server_errors_are_retried_with_backoff_until_an_answer(az: Azurite, proxy: FaultProxy) -> None:
    blob = az.append_blob(CONTAINER, blob_name(), b"through the storm\n")
    sleep = Recorder()
    source = HttpLogSource("std", proxy.url_for(az.sas_url(blob)), retries=3, backoff=0.2, sleep=sleep)
    proxy.fail_next(2, 503)
    assert source.read_new() == [(b"through the storm\n", True)]
    assert proxy.requests == 3 and sleep.delays == [0.2, 0.4]


def test_persistent_server_errors_give_up_quickly_and_the_next_poll_resumes(
    az: Azurite, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    blob = az.append_blob(CONTAINER, blob_name(), b"line 1\n")
    source = HttpLogSource("std", proxy.url_for(az.sas_url(blob)), retries=3, backoff=0.05)
    assert source.read_new() == [(b"line 1\n", True)]
    az.append(blob, b"line 2\n")
    proxy.fail_next(1000, 500)
    started = time.monotonic()
    assert source.read_new() == []
    assert time.monotonic() - started < 2.0  # 3 attempts, 0.05 + 0.1 s of backoff
    assert proxy.requests == 4 and source.offset == 7
    assert any("HTTP 500 after 3 attempt(s)" in r.getMessage() for r in caplog.records)
    proxy.clear()
    assert source.read_new() == [(b"line 2\n", False)]


def test_stalled_answer_times_out_then_retry_succeeds(az: Azurite, proxy: FaultProxy) -> None:
    blob = az.append_blob(CONTAINER, blob_name(), b"slow\n")
    source = HttpLogSource("std", proxy.url_for(az.sas_url(blob)), timeout=0.3, retries=2, backoff=0.0)
    proxy.stall_next(1, 10.0)
    started = time.monotonic()
    assert source.read_new() == [(b"slow\n", True)]
    assert 0.3 <= time.monotonic() - started < 3.0 and proxy.requests == 2


def test_stalls_on_every_attempt_give_up_within_bounded_time(az: Azurite, proxy: FaultProxy) -> None:
    blob = az.append_blob(CONTAINER, blob_name(), b"eventually\n")
    source = HttpLogSource("std", proxy.url_for(az.sas_url(blob)), timeout=0.3, retries=3, backoff=0.01)
    proxy.stall_next(3, 10.0)
    started = time.monotonic()
    assert source.read_new() == []
    assert time.monotonic() - started < 3.0
    assert source.read_new() == [(b"eventually\n", True)]


def test_unreachable_server_is_retried_then_given_up(az: Azurite) -> None:
    from support import free_port

    sleep = Recorder()
    url = f"http://127.0.0.1:{free_port()}/{CONTAINER}/x.txt?sv=2024-01-01&sig=SECRET"
    source = HttpLogSource("std", url, retries=3, backoff=0.1, sleep=sleep)
    assert source.read_new() == [] and sleep.delays == [0.1, 0.2]


# -- names and secrets -------------------------------------------------------------------------
def test_matching_picks_step_logs_of_both_layouts_and_all_ranks() -> None:
    names = [
        "user_logs/std_log.txt",
        "user_logs/std_log_process_1.txt",
        "user_logs/std_log_process_0.txt",
        "azureml-logs/70_driver_log.txt",
        "azureml-logs/70_driver_log_1.txt",
        "azureml-logs/70_driver_log_0.txt",
        "azureml-logs/60_control_log.txt",
        "azureml-logs/55_azureml-execution-tvmps_x.txt",
        "system_logs/lifecycler/execution-wrapper.txt",
        "logs/azureml/executionlogs.txt",
        "user_logs/std_log/extra.txt",
        "other/user_logs/std_log.txt",
        "user_logs/std_log.txt",
    ]
    assert matching(names) == [
        "azureml-logs/70_driver_log.txt",
        "azureml-logs/70_driver_log_0.txt",
        "azureml-logs/70_driver_log_1.txt",
        "user_logs/std_log.txt",
        "user_logs/std_log_process_0.txt",
        "user_logs/std_log_process_1.txt",
    ]
    assert matching(names, ["system_logs/*/*.txt"]) == ["system_logs/lifecycler/execution-wrapper.txt"]


def test_redact_drops_the_sas_token() -> None:
    url = "https://acct.blob.core.windows.net/azureml/ExperimentRun/dcid.x/user_logs/std_log.txt?sv=2024-05-04&sr=b&sig=abc%2Bdef%3D&se=2030-01-01"
    assert redact(url) == "https://acct.blob.core.windows.net/azureml/ExperimentRun/dcid.x/user_logs/std_log.txt"
    assert "sig=" not in repr(HttpLogSource("std", url))


def test_no_sas_signature_in_any_log_record_or_error(az: Azurite, proxy: FaultProxy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    blob = az.append_blob(CONTAINER, blob_name(), b"a\n")
    good = az.sas_url(blob)
    assert "sig=" in good
    scenarios: List[Callable[[], object]] = []

    def tail(url: str, **kw: object) -> Callable[[], object]:
        return lambda: HttpLogSource("std", url, **kw).read_new()  # type: ignore[arg-type]

    scenarios.append(tail(az.sas_url(blob, EXPIRED)))  # 403, no refresh
    scenarios.append(tail(az.sas_url(blob, EXPIRED), refresh=lambda: 1 / 0))  # failing refresh
    proxied = proxy.url_for(good)
    scenarios.append(lambda: (proxy.fail_next(5, 503), tail(proxied, retries=2, backoff=0)()))
    scenarios.append(lambda: (proxy.stall_next(2, 5), tail(proxied, retries=2, backoff=0, timeout=0.2)()))
    scenarios.append(lambda: (proxy.fail_next(1, 418), tail(proxied)()))  # unexpected status
    scenarios.append(tail("http://127.0.0.1:1/c/b.txt?sv=1&sig=SECRETSIG", retries=2, backoff=0))
    blob2 = az.append_blob(CONTAINER, blob_name(), b"long line\n" * 10)
    src = HttpLogSource("std", az.sas_url(blob2))
    scenarios.append(lambda: (src.read_new(), az.truncate(blob2, b"x\n"), src.read_new()))  # info: truncated
    scenarios.append(lambda: blob_log_sources(lambda: 1 / 0)())  # listing failure mentions no URL
    for run in scenarios:
        run()
    errors = []
    for bad in ("http://127.0.0.1:1/c/b.txt?sv=1&sig=SECRETSIG", "nope://x/y?sig=SECRETSIG"):
        with pytest.raises((OSError, ValueError)) as info:
            http_get(bad, {}, 1.0)
        errors.append(str(info.value))
    texts = [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records] + errors
    assert len(caplog.records) >= 5
    assert not [t for t in texts if "sig=" in t or "SECRETSIG" in t]


MALFORMED = [
    "acct.blob.core.windows.net/c/std_log.txt?sv=1&se=2030&sig=SECRETSIG",  # no scheme
    "https://acct.blob.core.windows.net:99x/c/std_log.txt?sv=1&sig=SECRETSIG",  # bad port
    "https://acct.blob.core.windows.net/c/std log.txt?sv=1&sig=SECRETSIG",  # a space
    "https://acct.blob.core.windows.net/c/\x00std_log.txt?sv=1&sig=SECRETSIG",  # a control character
    "https://[acct/c/std_log.txt?sv=1&sig=SECRETSIG",  # a broken IPv6 host
]


@pytest.mark.parametrize("url", MALFORMED, ids=["no scheme", "bad port", "space", "control character", "bad IPv6"])
def test_a_malformed_sas_url_is_one_line_that_holds_no_signature(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises((OSError, ValueError)) as info:
        http_get(url, {}, 1.0)
    assert "SECRETSIG" not in str(info.value) and "\n" not in str(info.value)
    source = HttpLogSource("std", url, retries=1, backoff=0)
    for _ in range(3):  # every poll: no exception, nothing secret logged, the problem said once
        assert source.read_new() == []
    texts = [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    assert texts and not [t for t in texts if "SECRETSIG" in t]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
