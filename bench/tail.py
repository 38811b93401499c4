"""Log tailing cost and endpoint discovery delay: our tailer against azureml-core's approach.

A debug step announces where its debugger waits with one line in its log, often after a long
and chatty setup. azureml-core's ``Run._stream_run_output`` follows a log by re-downloading the
WHOLE file on every poll, splitting it into lines and printing those after a "printed" line
counter, sleeping ``max(2, 60 / (1 + 100 * exp(-t / 20)))`` s between polls. Our
:class:`amldebug_jupyter.logs.tail.LogTailer` keeps a byte offset per file and polls every 0.1 s.

Scenario: ``user_logs/std_log.txt`` already holds 48 MB of realistic training output when both
tailers start; a writer appends more at ~400 KB/s up to 50 MB, then writes the debug entry's
``AMLDEBUG_ENDPOINT {...}`` announcement and goes quiet (the step now waits for a debugger).
Both tailers follow the same file concurrently (threads of this process). Measured for each:
bytes read per poll (median), total bytes read, polls, and the delay from the endpoint line
being written to it being detected.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import result  # noqa: E402

from amldebug_jupyter.core.endpoints import ENDPOINT_MARKER, Endpoint, EndpointDetector
from amldebug_jupyter.core.events import EndpointFound, Event
from amldebug_jupyter.logs.tail import FileLogSource, LogTailer, local_log_sources

MB = 1_000_000
PREFILL = 48 * MB
FINAL_SIZE = 50 * MB
WRITE_RATE = 400_000  # bytes/s
WRITE_TICK = 0.02  # s between appends
OUR_INTERVAL = 0.1
ANCHOR_GRACE = 10.0  # s after the endpoint write before the anchor is stopped
STEP = "train"
PORT = 5678
RATIO_TARGET = 100.0
DISCOVERY_TARGET = 0.3

Poll = Tuple[float, int]
"""(monotonic time the poll's read finished, bytes it read)."""


# -- the log being written ---------------------------------------------------------------------
class LogLines:
    """Realistic step output: timestamps, epochs, losses, warnings, some non-ASCII text."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.n = 0
        self.clock = time.mktime((2026, 11, 21, 9, 0, 0, 0, 0, -1))

    def line(self) -> str:
        self.n += 1
        self.clock += self.rng.random() * 0.05
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.clock)) + f",{self.n % 1000:03d}"
        kind = self.n % 10
        epoch, step = self.n // 20000, self.n % 20000
        if kind < 6:
            return (
                f"{stamp} INFO train.py:{87 + kind} epoch {epoch:3d}/100 step {step:5d}/20000 "
                f"loss={self.rng.uniform(0.05, 2.5):.5f} acc={self.rng.random():.4f} lr=3.0e-04 "
                f"throughput={self.rng.uniform(700, 900):.1f} samples/s"
            )
        if kind == 6:
            return (
                f"{stamp} INFO data.py:41 Données chargées: lot {step} — {self.rng.randint(1, 512)} "
                f"échantillons ✓ (latence {self.rng.uniform(1, 90):.1f} µs)"
            )
        if kind == 7:
            return (
                f"{stamp} WARNING torch/utils/data/dataloader.py:560 This DataLoader will create "
                f"{self.rng.randint(2, 16)} worker processes in total; suggested max is 4"
            )
        if kind == 8:
            return (
                f"{stamp} DEBUG metrics.py:17 gpu0 mem={self.rng.uniform(1, 15):.2f}GiB "
                f"util={self.rng.randint(0, 100)}% 温度={self.rng.randint(40, 85)}°C"
            )
        return f"[rank0]:[{stamp}] grad_norm={self.rng.uniform(0, 10):.4f} clip=1.0 ░▒▓ step {step}"

    def block(self, nbytes: int) -> bytes:
        """At least ``nbytes`` bytes of whole lines."""
        lines, size = [], 0
        while size < nbytes:
            text = self.line() + "\n"
            lines.append(text)
            size += len(text.encode("utf-8"))
        return "".join(lines).encode("utf-8")


def endpoint_announcement(step_dir: Path) -> bytes:
    """What the debug entry prints once debugpy listens (same JSON keys, sorted the same way)."""
    info = {
        "host": "127.0.0.1",
        "port": PORT,
        "pid": os.getpid(),
        "step": STEP,
        "rank": 0,
        "deadline": round(time.time() + 300, 3),
        "timeout": 300.0,
        "remote_root": str(step_dir),
        "script": str(step_dir / "train.py"),
        "stop_on_entry": False,
        "reason": "start",
    }
    lines = [
        f"{ENDPOINT_MARKER} {json.dumps(info, sort_keys=True)}",
        "Timeout for debug connection: 300",
        "ip_address: 127.0.0.1",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def prefill(path: Path, gen: LogLines, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        while f.tell() < size:
            f.write(gen.block(min(1 * MB, size - f.tell())))


class Writer(threading.Thread):
    """Appends lines at ``WRITE_RATE`` until ``FINAL_SIZE``, then the endpoint announcement."""

    def __init__(self, path: Path, gen: LogLines, step_dir: Path, limit: float) -> None:
        super().__init__(name="bench-writer", daemon=True)
        self.path, self.gen, self.step_dir, self.limit = path, gen, step_dir, limit
        self.endpoint_written: Optional[float] = None
        self.stop = threading.Event()

    def run(self) -> None:
        with open(self.path, "ab", buffering=0) as f:
            start, written = time.monotonic(), 0
            size = os.fstat(f.fileno()).st_size
            while size < FINAL_SIZE and not self.stop.is_set():
                elapsed = time.monotonic() - start
                if elapsed > self.limit:
                    return  # never reached FINAL_SIZE: no endpoint, both tailers will FAIL
                due = min(int(WRITE_RATE * elapsed), FINAL_SIZE - size + written) - written
                if due > 0:
                    data = self.gen.block(due)
                    f.write(data)
                    written, size = written + len(data), size + len(data)
                self.stop.wait(WRITE_TICK)
            f.write(endpoint_announcement(self.step_dir))
            self.endpoint_written = time.monotonic()


# -- ours ----------------------------------------------------------------------------------------
class CountingFileSource(FileLogSource):
    """A FileLogSource that records how many bytes each poll read."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.polls: List[Poll] = []

    def read_new(self):  # type: ignore[override]
        before = self.bytes_read
        chunks = super().read_new()
        self.polls.append((time.monotonic(), self.bytes_read - before))
        return chunks


def counting_sources(step_dir: Path, registry: List[CountingFileSource]) -> Callable[[], List[FileLogSource]]:
    """``local_log_sources(step_dir)``, each file wrapped as a CountingFileSource."""
    discover = local_log_sources(step_dir)

    def wrapped() -> List[FileLogSource]:
        out: List[FileLogSource] = []
        for src in discover():
            known = next((s for s in registry if s.name == src.name), None)
            if known is None:
                known = CountingFileSource(src.path, name=src.name, max_read=src.max_read)
                registry.append(known)
            out.append(known)
        return out

    return wrapped


@dataclass
class Found:
    """When (monotonic) and what a tailer detected; set once."""

    at: Optional[float] = None
    endpoint: Optional[Endpoint] = None
    event: threading.Event = field(default_factory=threading.Event)

    def record(self, endpoint: Endpoint) -> None:
        if self.at is None:
            self.at, self.endpoint = time.monotonic(), endpoint
            self.event.set()


def start_ours(step_dir: Path) -> Tuple[LogTailer, List[CountingFileSource], Found]:
    sources: List[CountingFileSource] = []
    found = Found()

    def on_event(event: Event) -> None:
        if isinstance(event, EndpointFound):
            found.record(event.endpoint)

    tailer = LogTailer(interval=OUR_INTERVAL)
    tailer.watch(STEP, counting_sources(step_dir, sources))
    tailer.subscribe(on_event)
    return tailer.start(), sources, found


# -- anchor: azureml-core's Run._stream_run_output -------------------------------------------------
def azureml_wait(elapsed: float) -> float:
    """``Run._wait_before_polling``: sigmoid from 2 s up to 60 s (MIN=2, MAX=60)."""
    return max(2.0, 60.0 / (1.0 + 100.0 * math.exp(-elapsed / 20.0)))


def incremental_print(log: str, printed: int, fileout: IO[str], detector: EndpointDetector, found: Found) -> int:
    """azureml-core's ``incremental_print``, plus a look at each newly printed line."""
    count = 0
    for line in log.splitlines():
        if count >= printed:
            fileout.write(line + "\n")
            printed += 1
            hit = detector.feed(line)
            if isinstance(hit, Endpoint):
                found.record(hit)
        count += 1
    return printed


class AzuremlTailer(threading.Thread):
    """Sleep per the formula, read the whole log, decode, split, handle lines after ``printed``."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="bench-azureml", daemon=True)
        self.path = path
        self.polls: List[Poll] = []
        self.found = Found()
        self.stop = threading.Event()

    def run(self) -> None:
        detector = EndpointDetector(STEP)
        printed, start = 0, time.monotonic()
        with open(os.devnull, "w", encoding="utf-8") as sink:  # stands in for the notebook's stdout
            while not self.stop.wait(azureml_wait(time.monotonic() - start)):
                data = self.path.read_bytes()  # download_text_from_url(...): the whole log
                self.polls.append((time.monotonic(), len(data)))
                printed = incremental_print(data.decode("utf-8", errors="replace"), printed, sink, detector, self.found)
                if self.found.at is not None:
                    return


# -- measuring -----------------------------------------------------------------------------------
@dataclass
class Figures:
    name: str
    polls: int
    median_bytes: float
    total_bytes: int
    delay: float  # endpoint written -> detected; inf when never detected


def figures(name: str, polls: List[Poll], found: Found, written: Optional[float]) -> Figures:
    """Stats over the polls up to (and including) the one that found the endpoint."""
    upto = [p for p in polls if found.at is None or p[0] <= found.at] or [(0.0, 0)]
    delay = found.at - written if (found.at is not None and written is not None) else math.inf
    return Figures(name, len(upto), statistics.median(b for _, b in upto), sum(b for _, b in upto), delay)


def run_scenario(root: Path, time_limit: float) -> Tuple[Figures, Figures, float]:
    """Prefill, start both tailers and the writer, wait (bounded) for both discoveries."""
    step_dir = root / STEP
    log_path = step_dir / "user_logs" / "std_log.txt"
    gen = LogLines()
    t = time.perf_counter()
    prefill(log_path, gen, PREFILL)
    print(f"prefilled {log_path.stat().st_size / MB:.1f} MB ({gen.n} lines) in {time.perf_counter() - t:.1f} s")

    tailer, sources, ours_found = start_ours(step_dir)
    anchor = AzuremlTailer(log_path)
    anchor.start()
    writer = Writer(log_path, gen, step_dir, limit=time_limit)
    writer.start()
    try:
        writer.join(time_limit + 5)
        written = writer.endpoint_written
        if written is not None:
            deadline = written + ANCHOR_GRACE
            ours_found.event.wait(max(0.0, deadline - time.monotonic()))
            anchor.found.event.wait(max(0.0, deadline - time.monotonic()))
    finally:
        writer.stop.set()
        anchor.stop.set()
        tailer.stop(drain=False)
        anchor.join(30)
        writer.join(5)
    catch_up = catch_up_seconds(sources[0].polls if sources else [], PREFILL)
    ours = figures("ours", sources[0].polls if sources else [], ours_found, written)
    theirs = figures("azureml", anchor.polls, anchor.found, written)
    check_detected(ours_found, "ours")
    check_detected(anchor.found, "azureml")
    return ours, theirs, catch_up


def catch_up_seconds(polls: List[Poll], backlog: int) -> float:
    """How long our tailer took to read the prefilled backlog (informational)."""
    total, first = 0, polls[0][0] if polls else 0.0
    for at, nbytes in polls:
        total += nbytes
        if total >= backlog:
            return at - first
    return math.inf


def check_detected(found: Found, who: str) -> None:
    ep = found.endpoint
    if ep is not None and (ep.port != PORT or ep.step != STEP or ep.host != "127.0.0.1"):
        raise RuntimeError(f"{who} detected a wrong endpoint: {ep}")


def report(f: Figures) -> None:
    delay = f"{f.delay:.3f} s" if math.isfinite(f.delay) else "never"
    print(
        f"{f.name:>8}: {f.polls:4d} polls, median {f.median_bytes:>12,.0f} B/poll, "
        f"total {f.total_bytes / MB:8.1f} MB, discovery delay {delay}"
    )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds the writer may take to reach 50 MB (default 30)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="amldebug-bench-tail-") as tmp:
        os.environ["AMLDEBUG_HOME"] = str(Path(tmp) / "home")
        ours, theirs, catch_up = run_scenario(Path(tmp), args.time_limit)

    print(
        f"log {PREFILL / MB:.0f} MB -> {FINAL_SIZE / MB:.0f} MB at {WRITE_RATE / 1000:.0f} KB/s; "
        f"our tailer read the {PREFILL / MB:.0f} MB backlog in {catch_up:.2f} s"
    )
    report(ours)
    report(theirs)
    ratio = theirs.median_bytes / ours.median_bytes if ours.median_bytes else math.inf
    print(
        f"bytes per poll, azureml/ours: {ratio:,.0f} x (target >= {RATIO_TARGET:g}); "
        f"total bytes, azureml/ours: {theirs.total_bytes / max(ours.total_bytes, 1):.1f} x"
    )
    lines = [
        result("tail_bytes_per_poll_ours", ours.median_bytes, "bytes", "none", True, ".0f"),
        result("tail_bytes_per_poll_azureml", theirs.median_bytes, "bytes", "none", True, ".0f"),
        result("tail_bytes_ratio", ratio, "x", f">={RATIO_TARGET:g}", ratio >= RATIO_TARGET, ".0f"),
        result("tail_discovery_ours", ours.delay, "s", f"<={DISCOVERY_TARGET:g}", ours.delay <= DISCOVERY_TARGET, ".3f"),
        result("tail_discovery_azureml", theirs.delay, "s", "none", True, ".3f"),
    ]
    print("\n".join(lines))
    return 0 if all(line.endswith("PASS") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
