import os
import threading
import time
from pathlib import Path
from typing import List

from hypothesis import given, settings
from hypothesis import strategies as st

from amldebug_jupyter.core.endpoints import DetectedError, Endpoint, EndpointDetector
from amldebug_jupyter.core.events import EndpointFound, LogLine
from amldebug_jupyter.logs.tail import FileLogSource, LineAssembler, LogTailer, local_log_sources


def assemble(chunks: List[bytes], max_line: int = 1 << 20) -> List[str]:
    a = LineAssembler(max_line=max_line)
    out: List[str] = []
    for c in chunks:
        out += a.feed(c)
    return out + a.flush()


def split_at(data: bytes, cuts: List[int]) -> List[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    return pieces + [data[last:]]


line_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(line_text, max_size=30),
    cuts=st.lists(st.integers(0, 2000), max_size=40),
    trailing=st.booleans(),
    max_line=st.sampled_from([7, 64, 1 << 20]),
)
def test_any_chunking_gives_the_same_lines(lines, cuts, trailing, max_line) -> None:
    data = "\n".join(lines).encode() + (b"\n" if trailing and lines else b"")
    whole = assemble([data], max_line)
    assert assemble(split_at(data, cuts), max_line) == whole
    if max_line > 1000:  # no forced cuts: exactly the text's lines, multi-byte characters intact
        parts = data.decode().split("\n")
        if parts[-1] == "":  # a final newline ends the last line rather than starting one
            parts.pop()
        assert whole == [p[:-1] if p.endswith("\r") else p for p in parts]


def test_multibyte_character_split_across_reads() -> None:
    data = "temp 21°C — ok ✓\n".encode()
    cut = data.index("°".encode()) + 1  # in the middle of the two-byte sequence
    assert assemble([data[:cut], data[cut:]]) == ["temp 21°C — ok ✓"]


def test_crlf_and_unterminated_line() -> None:
    a = LineAssembler()
    assert a.feed(b"one\r\ntw") == ["one"]
    assert a.feed(b"o") == []
    assert a.flush() == ["two"]


def test_file_source_reads_only_new_bytes(tmp_path: Path) -> None:
    log = tmp_path / "std_log.txt"
    log.write_bytes(b"a" * 1000 + b"\n")
    src = FileLogSource(log)
    assert sum(len(d) for d, _ in src.read_new()) == 1001
    with log.open("ab") as f:
        f.write(b"new line\n")
    chunks = src.read_new()
    assert chunks == [(b"new line\n", False)]
    assert src.bytes_read == 1010
    assert src.read_new() == []


def test_file_source_handles_truncation_and_rotation(tmp_path: Path) -> None:
    log = tmp_path / "std_log.txt"
    log.write_bytes(b"first run line\n")
    src = FileLogSource(log)
    src.read_new()
    log.write_bytes(b"short\n")  # truncated in place (shorter than the offset)
    assert src.read_new() == [(b"short\n", True)]
    with log.open("ab") as f:
        f.write(b"tail of old file\n")
    os.rename(log, tmp_path / "std_log.txt.1")  # rotated: old file moved, new one created
    log.write_bytes(b"fresh file\n")
    assert src.read_new() == [(b"tail of old file\n", False), (b"fresh file\n", True)]


def test_detects_our_endpoint_once_and_ignores_our_seed_style_echo() -> None:
    d = EndpointDetector("train")
    found = d.feed(
        '2024-01-01 AMLDEBUG_ENDPOINT {"host": "10.0.0.4", "port": 40001, "pid": 7, "step": "train",'
        ' "rank": 0, "deadline": 1700000000.5, "remote_root": "/mnt/snap", "extra_key": 1}'
    )
    assert isinstance(found, Endpoint)
    assert (found.address, found.pid, found.remote_root, found.extra) == ("10.0.0.4:40001", 7, "/mnt/snap", {"extra_key": 1})
    assert d.feed("Timeout for debug connection: 300") is None
    assert d.feed("ip_address: 10.0.0.4") is None


def test_detects_seed_instrumented_lines_with_port_from_arguments() -> None:
    d = EndpointDetector("step1", seed_port=6000)
    assert d.feed("Timeout for debug connection: 300") is None
    before = time.time()
    found = d.feed("ip_address: 10.3.0.5")
    assert isinstance(found, Endpoint) and found.origin == "seed"
    assert found.address == "10.3.0.5:6000"
    assert 299 <= found.deadline - before <= 301


def test_seed_port_comes_from_the_scripts_arguments() -> None:
    from amldebug_jupyter.core.endpoints import seed_port

    assert seed_port(["--remote_debug", "--remote_debug_port", 6001]) == 6001
    assert seed_port(["--remote_debug_port=6002"]) == 6002
    assert seed_port(["--remote_debug_port", "$AML_PARAMETER_port"]) == 5678  # not a number: the default
    assert seed_port(["--remote_debug"]) == 5678


def test_detects_entry_errors_and_tolerates_garbage() -> None:
    d = EndpointDetector("s")
    assert d.feed("AMLDEBUG_ENDPOINT {not json") is None
    err = d.feed('AMLDEBUG_ERROR {"step": "s", "message": "debugpy is not installed"}')
    assert err == DetectedError("s", "debugpy is not installed")


def test_tailer_thread_publishes_lines_and_endpoint_then_stops(tmp_path: Path) -> None:
    step_dir = tmp_path / "train"
    (step_dir / "user_logs").mkdir(parents=True)
    (step_dir / "azureml-logs").mkdir()
    events = []
    tailer = LogTailer(interval=0.02)
    tailer.watch("train", local_log_sources(step_dir))
    tailer.subscribe(events.append)
    tailer.subscribe(lambda e: 1 / 0)  # a broken subscriber does not stop the others
    tailer.start()
    std = step_dir / "user_logs" / "std_log.txt"
    std.write_text("hello\n")
    (step_dir / "azureml-logs" / "70_driver_log_1.txt").write_text("ip_address: 127.0.0.1\n")
    with std.open("a") as f:
        f.write('AMLDEBUG_ENDPOINT {"host": "127.0.0.1", "port": 1234}\nno newline at end')
    deadline = time.time() + 5
    while time.time() < deadline and sum(isinstance(e, EndpointFound) for e in events) < 2:
        time.sleep(0.02)
    tailer.stop(drain=True)
    assert not any(t.name == "amldebug-tailer" for t in threading.enumerate())
    lines = [(e.source, e.text) for e in events if isinstance(e, LogLine)]
    assert ("user_logs/std_log.txt", "hello") in lines
    assert ("user_logs/std_log.txt", "no newline at end") in lines  # drained on stop
    found = sorted((e.endpoint.origin, e.endpoint.address) for e in events if isinstance(e, EndpointFound))
    assert found == [("amldebug", "127.0.0.1:1234"), ("seed", "127.0.0.1:5678")]
