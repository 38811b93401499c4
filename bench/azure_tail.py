"""Azure log tailing: bytes transferred and endpoint discovery delay, ours vs azureml-core's.

The question of ``bench/tail.py``, asked of Azure Blob storage (Azurite, the storage emulator,
stands in for it). A debug step's ``user_logs/std_log.txt`` append blob grows at a steady rate
to 20 MB; two minutes into the run the debug entry appends its ``AMLDEBUG_ENDPOINT {...}``
announcement and the step waits for a debugger.

Time is simulated: both tailers poll on one virtual timeline. Before each poll the blob is
brought, by real appends, to what it holds at that virtual time; then the poll makes its real
HTTP requests to Azurite. Nothing sleeps, so minutes of run take seconds.

- Ours: ``LogTailer.poll_once`` over ``blob_log_sources`` (one ``HttpLogSource``: a ranged GET
  from its byte offset), every 1.5 virtual seconds (our Azure cadence).
- Anchor, azureml-core's ``Run._stream_run_output``: GET the whole blob (no Range), split it
  into lines and handle those after its "printed" counter; polls spaced by
  ``Run._wait_before_polling(t) = max(2, 60 / (1 + 100 e^(-t/20)))``.

The endpoint line lands just after one of our polls: our worst phase. Then the step waits for a
debugger for ``--attach-window`` virtual seconds (its log stops growing) while both keep polling:
azureml-core's streamer runs until the run ends, ours polls every 1.5 s while a debug step runs.
Measured for each over the whole session: bytes transferred (every response's status line,
headers and body; listing the log URLs is left out for both) per poll and in total, and the
discovery delay in virtual seconds from the endpoint write to the poll that found it.

Bytes per poll is the figure gated (as in ``bench/tail.py``): it is what a poll costs the
notebook and the storage account. The total is printed too; it is bounded by the anchor's
number of whole-log downloads, since any tailer must read each log byte once.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Mapping, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import amldebug_jupyter.logs.blob as logs_http  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import result  # noqa: E402
from support.azurite import Azurite, azurite  # noqa: E402

from amldebug_jupyter.core.endpoints import ENDPOINT_MARKER, Endpoint, EndpointDetector  # noqa: E402
from amldebug_jupyter.core.events import EndpointFound, Event  # noqa: E402
from amldebug_jupyter.logs.blob import blob_log_sources  # noqa: E402
from amldebug_jupyter.logs.tail import LogTailer  # noqa: E402

MB = 1_000_000
SIZE = 20 * MB
ENDPOINT_AT = 120.0  # virtual s: the endpoint line is written two minutes into the run
OUR_INTERVAL = 1.5
ATTACH_WINDOW = 120.0  # virtual s the step then waits for a debugger while both tailers poll
STEP, HOST, PORT = "train", "10.0.0.4", 5678
LOG_NAME = "user_logs/std_log.txt"
BYTES_TARGET = 100.0
DISCOVERY_TARGET = 10.0


# -- the log -------------------------------------------------------------------------------------
def log_content(size: int, seed: int = 11) -> bytes:
    """About ``size`` bytes of whole, realistic training-log lines."""
    rng = random.Random(seed)
    lines, total, n = [], 0, 0
    while total < size:
        n += 1
        stamp = f"2026-11-21 09:{(n // 6000) % 60:02d}:{(n // 100) % 60:02d},{n % 1000:03d}"
        kind = n % 8
        if kind < 5:
            text = (
                f"{stamp} INFO train.py:{88 + kind} epoch {n // 20000:3d}/100 step {n % 20000:5d}/20000 "
                f"loss={rng.uniform(0.05, 2.5):.5f} acc={rng.random():.4f} lr=3.0e-04"
            )
        elif kind == 5:
            text = f"{stamp} INFO data.py:41 Données chargées: lot {n} — {rng.randint(1, 512)} échantillons ✓"
        elif kind == 6:
            text = f"{stamp} WARNING dataloader.py:560 This DataLoader will create {rng.randint(2, 16)} workers"
        else:
            text = f"[rank0]:[{stamp}] grad_norm={rng.uniform(0, 10):.4f} clip=1.0 温度={rng.randint(40, 85)}°C"
        line = (text + "\n").encode("utf-8")
        lines.append(line)
        total += len(line)
    return b"".join(lines)


def endpoint_announcement() -> bytes:
    """What the debug entry prints once debugpy listens on the node."""
    info = {
        "host": HOST,
        "port": PORT,
        "pid": 4242,
        "step": STEP,
        "rank": 0,
        "deadline": 1900000000.0,
        "remote_root": "/mnt/azureml/cr/j/0/exe/wd",
        "script": "train.py",
        "reason": "start",
    }
    return (
        f"{ENDPOINT_MARKER} {json.dumps(info, sort_keys=True)}\nTimeout for debug connection: 300\nip_address: {HOST}\n"
    ).encode("utf-8")


class GrowingBlob:
    """The step's log blob on Azurite, brought to its content at a virtual time by appends."""

    def __init__(self, az: Azurite, log: bytes, endpoint_at: float, prefill: int = 0) -> None:
        self.az, self.log, self.endpoint_at, self.prefill = az, log, endpoint_at, prefill
        self.rate = (len(log) - prefill) / endpoint_at  # bytes per virtual second
        self.blob = az.append_blob("azureml", f"ExperimentRun/dcid.bench/{LOG_NAME}", log[:prefill])
        self.size = prefill
        self.endpoint_written = False
        self.url = az.sas_url(self.blob)

    def advance(self, t: float) -> None:
        due = min(len(self.log), self.prefill + int(self.rate * t))
        if due > self.size:
            self.az.append(self.blob, self.log[self.size : due])
            self.size = due
        if t > self.endpoint_at and not self.endpoint_written:  # strictly after: just missed at t
            self.az.append(self.blob, endpoint_announcement())
            self.endpoint_written = True


# -- metering ------------------------------------------------------------------------------------
@dataclass
class Meter:
    """Response bytes (status line, headers, body) per poll of one tailer."""

    polls: List[int] = field(default_factory=list)
    times: List[float] = field(default_factory=list)
    requests: int = 0

    def start_poll(self, at: float) -> None:
        self.polls.append(0)
        self.times.append(at)

    def median_before(self, t: float) -> float:
        return statistics.median([b for b, at in zip(self.polls, self.times, strict=True) if at <= t] or [0])

    def metered(self, get: Callable[..., logs_http.Response]) -> Callable[..., logs_http.Response]:
        def wrapped(url: str, headers: Mapping[str, str], timeout: float) -> logs_http.Response:
            status, answer_headers, body = get(url, headers, timeout)
            self.requests += 1
            self.polls[-1] += (
                len(f"HTTP/1.1 {status} XX\r\n") + len(body) + 2 + sum(len(k) + len(v) + 4 for k, v in answer_headers.items())
            )
            return status, answer_headers, body

        return wrapped

    @property
    def total(self) -> int:
        return sum(self.polls)


@dataclass
class Tailer:
    """One side of the comparison: when it polls next, and when it found the endpoint."""

    name: str
    poll: Callable[[], Optional[Endpoint]]
    wait: Callable[[float], float]
    meter: Meter
    next_at: float = 0.0
    found_at: Optional[float] = None
    endpoint: Optional[Endpoint] = None


# -- ours ----------------------------------------------------------------------------------------
def ours(url: str, meter: Meter) -> Tailer:
    found: List[Endpoint] = []

    def on_event(event: Event) -> None:
        if isinstance(event, EndpointFound):
            found.append(event.endpoint)

    tailer = LogTailer()
    tailer.watch(STEP, blob_log_sources(lambda: {LOG_NAME: url}))
    tailer.subscribe(on_event)

    def poll() -> Optional[Endpoint]:
        tailer.poll_once()
        return found[0] if found else None

    return Tailer("ours", poll, lambda t: OUR_INTERVAL, meter, next_at=0.0)


# -- anchor: azureml-core --------------------------------------------------------------------------
def azureml_wait(elapsed: float) -> float:
    """``Run._wait_before_polling``: sigmoid from 2 s up to 60 s (MIN=2, MAX=60)."""
    return max(2.0, 60.0 / (1.0 + 100.0 * math.exp(-elapsed / 20.0)))


def azureml(url: str, meter: Meter, http_get: Callable[..., logs_http.Response]) -> Tailer:
    """``_stream_run_output``: whole-blob GET, ``incremental_print`` after ``printed`` lines."""
    get = meter.metered(http_get)
    detector = EndpointDetector(STEP)
    state = {"printed": 0}
    found: List[Endpoint] = []

    def poll() -> Optional[Endpoint]:
        status, _headers, body = get(url, {}, 120.0)  # _get_content_from_uri: session.get(uri)
        text = body.decode("utf-8", errors="replace") if status == 200 else ""
        for count, line in enumerate(text.splitlines()):
            if count >= state["printed"]:
                state["printed"] += 1
                hit = detector.feed(line)
                if isinstance(hit, Endpoint) and not found:
                    found.append(hit)
        return found[0] if found else None

    return Tailer("azureml", poll, azureml_wait, meter, next_at=azureml_wait(0.0))


# -- the run -------------------------------------------------------------------------------------
def simulate(blob: GrowingBlob, tailers: List[Tailer], limit: float) -> None:
    """Poll in virtual-time order until ``limit`` (the end of the attach window)."""
    while True:
        tailer = min(tailers, key=lambda t: t.next_at)
        now = tailer.next_at
        if now > limit:
            return
        blob.advance(now)
        tailer.meter.start_poll(now)
        endpoint = tailer.poll()
        if endpoint is not None and tailer.found_at is None:
            tailer.found_at, tailer.endpoint = now, endpoint
        tailer.next_at = now + tailer.wait(now)


def check(tailer: Tailer) -> None:
    ep = tailer.endpoint
    if ep is not None and (ep.host, ep.port, ep.step) != (HOST, PORT, STEP):
        raise RuntimeError(f"{tailer.name} found a wrong endpoint: {ep}")


def delay(tailer: Tailer, written_at: float) -> float:
    return tailer.found_at - written_at if tailer.found_at is not None else math.inf


def report(tailer: Tailer, written_at: float) -> None:
    d = delay(tailer, written_at)
    found = f"found at t={tailer.found_at:.2f} s (delay {d:.2f} s)" if math.isfinite(d) else "never found"
    print(
        f"{tailer.name:>8}: {len(tailer.meter.polls):3d} polls, {tailer.meter.requests:3d} requests, "
        f"total {tailer.meter.total / MB:8.2f} MB, median {statistics.median(tailer.meter.polls or [0]):>12,.0f} "
        f"B/poll, {found}"
    )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=SIZE / MB, help="log size when the endpoint is written")
    parser.add_argument("--endpoint-at", type=float, default=ENDPOINT_AT, help="virtual s of the endpoint write")
    parser.add_argument(
        "--attach-window",
        type=float,
        default=ATTACH_WINDOW,
        help="virtual s the step waits for a debugger after announcing itself",
    )
    parser.add_argument(
        "--prefill-mb",
        type=float,
        default=0.0,
        help="log already written when the tailers start (default 0: both start with the run)",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    log = log_content(int(args.size_mb * MB))
    ours_meter, azureml_meter = Meter(), Meter()
    real_get = logs_http.http_get
    with azurite() as az:
        blob = GrowingBlob(az, log, args.endpoint_at, min(len(log), int(args.prefill_mb * MB)))
        logs_http.http_get = ours_meter.metered(real_get)  # HttpLogSource's choke point
        try:
            tailers = [ours(blob.url, ours_meter), azureml(blob.url, azureml_meter, real_get)]
            simulate(blob, tailers, args.endpoint_at + args.attach_window)
        finally:
            logs_http.http_get = real_get
    for t in tailers:
        check(t)
    mine, theirs = tailers
    print(
        f"log {blob.prefill / MB:.1f} -> {len(log) / MB:.1f} MB over {args.endpoint_at:.0f} virtual s "
        f"({blob.rate / 1000:.0f} KB/s), then the endpoint line; {time.perf_counter() - started:.1f} s real time"
    )
    report(mine, args.endpoint_at)
    report(theirs, args.endpoint_at)
    per_poll = statistics.median(theirs.meter.polls or [0]) / max(statistics.median(mine.meter.polls or [0]), 1)
    growing = theirs.meter.median_before(args.endpoint_at) / max(mine.meter.median_before(args.endpoint_at), 1)
    print(
        f"median bytes per poll, azureml/ours: {per_poll:,.0f} x over the session; {growing:,.0f} x while the log "
        f"grows at {blob.rate / 1000:.0f} KB/s (before the endpoint line)"
    )
    print(
        f"log bytes fetched per log byte: azureml {theirs.meter.total / len(log):.2f}, ours "
        f"{mine.meter.total / len(log):.3f} (ours reads each byte once, so the total ratio cannot exceed "
        f"azureml's {len(theirs.meter.polls)} whole-log GETs)"
    )

    bytes_ratio = theirs.meter.total / max(mine.meter.total, 1)
    d_ours, d_theirs = delay(mine, args.endpoint_at), delay(theirs, args.endpoint_at)
    discovery_ratio = d_theirs / d_ours if d_ours > 0 else math.inf
    if not (math.isfinite(d_ours) and math.isfinite(d_theirs)):
        discovery_ratio = math.nan if not math.isfinite(d_ours) else math.inf
    lines = [
        result("azure_tail_bytes_per_poll_ours", statistics.median(mine.meter.polls), "bytes", "none", True, ".0f"),
        result("azure_tail_bytes_per_poll_azureml", statistics.median(theirs.meter.polls), "bytes", "none", True, ".0f"),
        result("azure_tail_bytes_per_poll_ratio", per_poll, "x", f">={BYTES_TARGET:g}", per_poll >= BYTES_TARGET, ".0f"),
        result("azure_tail_bytes_total_ours", mine.meter.total, "bytes", "none", True, ".0f"),
        result("azure_tail_bytes_total_azureml", theirs.meter.total, "bytes", "none", True, ".0f"),
        result("azure_tail_bytes_total_ratio", bytes_ratio, "x", "none", True, ".1f"),
        result("azure_tail_discovery_ours", d_ours, "s", "none", math.isfinite(d_ours), ".2f"),
        result("azure_tail_discovery_azureml", d_theirs, "s", "none", True, ".2f"),
        result(
            "azure_tail_discovery_ratio",
            discovery_ratio,
            "x",
            f">={DISCOVERY_TARGET:g}",
            discovery_ratio >= DISCOVERY_TARGET,
            ".1f",
        ),
    ]
    print("\n".join(lines))
    return 0 if all(line.endswith("PASS") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
