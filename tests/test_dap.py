"""DAP framing and the client's pairing, timeouts and link-loss handling."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Callable, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import free_port, write

from amldebug_jupyter import Pipeline, Step, submit
from amldebug_jupyter.dap import DapClient, FrameDecoder, PendingRequests, attach, check_address, encode, first_statement_line
from amldebug_jupyter.errors import DapError

messages = st.lists(
    st.fixed_dictionaries(
        {
            "seq": st.integers(1, 10**6),
            "type": st.sampled_from(["event", "response"]),
            "body": st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=3),
        }
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(msgs=messages, cuts=st.lists(st.integers(0, 3000), max_size=30))
def test_framing_survives_any_chunking(msgs: List[dict], cuts: List[int]) -> None:
    stream = b"".join(encode(m) for m in msgs)  # non-ASCII bodies: Content-Length counts bytes
    decoder, out, last = FrameDecoder(), [], 0
    for cut in sorted(min(c, len(stream)) for c in cuts) + [len(stream)]:
        out += decoder.feed(stream[last:cut])
        last = cut
    assert out == msgs


def test_pending_requests_pair_by_request_seq_not_order() -> None:
    pending = PendingRequests()
    (s1, f1), (s2, f2) = pending.new(), pending.new()
    assert pending.resolve({"request_seq": s2, "body": "second"})
    assert pending.resolve({"request_seq": s1, "body": "first"})
    assert (f1.result(0)["body"], f2.result(0)["body"]) == ("first", "second")
    assert not pending.resolve({"request_seq": 999})
    s3, f3 = pending.new()
    pending.fail_all("link lost")
    with pytest.raises(DapError, match="link lost"):
        f3.result(0)
    with pytest.raises(DapError, match="link lost"):
        pending.new()


class ScriptedAdapter:
    """A one-connection TCP peer whose replies a test scripts (stands in for odd adapters)."""

    def __init__(self, handle: Callable[[socket.socket, List[dict]], None]) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, args=(handle,), daemon=True)
        self.thread.start()

    def _serve(self, handle) -> None:
        conn, _ = self.server.accept()
        with conn:
            handle(conn, [])

    def close(self) -> None:
        self.server.close()


def read_requests(conn: socket.socket, n: int) -> List[dict]:
    decoder, got = FrameDecoder(), []
    while len(got) < n:
        data = conn.recv(65536)
        if not data:
            break
        got += decoder.feed(data)
    return got


def reply(conn: socket.socket, req: dict, **body) -> None:
    conn.sendall(
        encode(
            {"type": "response", "seq": 0, "request_seq": req["seq"], "success": True, "command": req["command"], "body": body}
        )
    )


def test_out_of_order_replies_reach_the_right_caller() -> None:
    def handle(conn, _):
        a, b = read_requests(conn, 2)
        reply(conn, b, which="b")
        reply(conn, a, which="a")
        time.sleep(0.5)

    adapter = ScriptedAdapter(handle)
    with DapClient("127.0.0.1", adapter.port) as client:
        fa, fb = client.send("threads"), client.send("modules")
        assert client.result(fb)["which"] == "b"
        assert client.result(fa)["which"] == "a"
    adapter.close()


def test_a_silent_adapter_times_out_and_a_dropped_link_fails_fast() -> None:
    release = threading.Event()

    def handle(conn, _):
        read_requests(conn, 1)
        release.wait(5)  # say nothing, then hang up

    adapter = ScriptedAdapter(handle)
    with DapClient("127.0.0.1", adapter.port, request_timeout=0.3) as client:
        t0 = time.monotonic()
        with pytest.raises(DapError, match="did not answer 'threads' within 0.3 s"):
            client.request("threads")
        assert time.monotonic() - t0 < 1.5
        pending = client.send("threads")
        release.set()
        t0 = time.monotonic()
        with pytest.raises(DapError, match="closed the connection"):
            client.result(pending, timeout=10)
        assert time.monotonic() - t0 < 2
        with pytest.raises(DapError, match="closed the connection"):
            client.request("threads")
    adapter.close()


def test_nothing_listening_is_one_clear_line_within_the_timeout() -> None:
    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(DapError, match=f"Nothing is listening at 127.0.0.1:{port} \\(waited 0.5 s\\)"):
        DapClient("127.0.0.1", port, connect_timeout=0.5)
    assert time.monotonic() - t0 < 2


def test_second_client_is_refused_clearly(tmp_path: Path, debugger) -> None:
    src = write(tmp_path / "src" / "train.py", "import time\nx = 1\n").parent
    run = submit(Pipeline("p", [Step("train", "train.py", src, debug=True)]), timeout=60)
    endpoint = run.wait_for_endpoint(timeout=30)
    first = debugger(endpoint, breakpoints={str(src / "train.py"): [2]}, path_mappings=run.path_mappings("train"))
    stop = first.stopped()
    with DapClient(endpoint.host, endpoint.port, request_timeout=10) as second:
        with pytest.raises(DapError, match="already being debugged"):
            attach(second, timeout=10)
    first.resume(stop["thread"])
    assert run.wait(timeout=30) == "Completed"


def test_first_statement_line_skips_docstring_and_comments(tmp_path: Path) -> None:
    p = write(tmp_path / "s.py", '"""Doc."""\n# comment\n\nimport os\n')
    assert first_statement_line(str(p)) == 4
    assert first_statement_line(str(write(tmp_path / "bad.py", "def (:\n"))) is None


def test_a_late_reply_after_a_timeout_does_not_break_the_session() -> None:
    import asyncio

    def handle(conn, _):
        slow = read_requests(conn, 1)[0]
        time.sleep(0.5)
        reply(conn, slow, late=True)  # arrives after the caller gave up
        reply(conn, read_requests(conn, 1)[0], which="next")
        time.sleep(0.5)

    adapter = ScriptedAdapter(handle)
    with DapClient("127.0.0.1", adapter.port) as client:

        async def give_up():  # the kernel bridge waits like this; a timeout cancels the future
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.wrap_future(client.send("threads")), 0.1)

        asyncio.run(give_up())
        time.sleep(0.6)
        assert client.request("modules", timeout=5)["which"] == "next"
    adapter.close()


BAD_FRAMES = {
    "body that is not JSON": (b"Content-Length: 5\r\n\r\n{{{{{", "not JSON"),
    "length that is not a number": (b"Content-Length: abc\r\n\r\n", "bad Content-Length 'abc'"),
    "negative length": (b"Content-Length: -5\r\n\r\n", "bad Content-Length '-5'"),
    "body that is not UTF-8": (b"Content-Length: 2\r\n\r\n\xff\xfe", "not UTF-8"),
    "JSON array": (b"Content-Length: 2\r\n\r\n[]", "JSON list, not an object"),
    "no Content-Length": (b"Content-Type: x\r\n\r\n", "without Content-Length"),
    "frame over the limit": (b"Content-Length: 999999999999\r\n\r\n", "over the limit of 67108864"),
    "no header end": (b"HTTP/1.1 200 OK " + b"x" * 9000, "no blank line within 8192 bytes"),
}


@pytest.mark.parametrize("frame, why", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_a_bad_frame_is_a_protocol_error_that_fails_pending_requests_at_once(frame: bytes, why: str) -> None:
    closed = threading.Event()

    def handle(conn, _):
        read_requests(conn, 1)
        conn.sendall(frame)
        closed.set() if conn.recv(1) == b"" else None  # the client hangs up on it

    adapter = ScriptedAdapter(handle)
    with DapClient("127.0.0.1", adapter.port, request_timeout=10) as client:
        t0 = time.monotonic()
        with pytest.raises(DapError, match="broke the protocol") as err:
            client.request("initialize", {})
        assert why in str(err.value) and time.monotonic() - t0 < 2
        assert closed.wait(2), "the client kept the connection open"
        with pytest.raises(DapError, match="broke the protocol"):
            client.request("threads")
    adapter.close()


def test_a_huge_frame_is_refused_from_its_header_without_reading_it() -> None:
    def handle(conn, _):
        read_requests(conn, 1)
        conn.sendall(b"Content-Length: 100000\r\n\r\n" + b" " * 1000)  # it never needs the rest
        time.sleep(2)

    adapter = ScriptedAdapter(handle)
    with DapClient("127.0.0.1", adapter.port, max_frame=50_000) as client:  # AmlDebugConfig.max_frame_bytes
        with pytest.raises(DapError, match="a frame of 100000 bytes, over the limit of 50000"):
            client.request("initialize", {}, timeout=3)
    adapter.close()


@pytest.mark.parametrize(
    "host, port, why",
    [
        ("10..0.0.1", 5678, "is not a host name or an IP address"),
        ("a" * 64 + ".example.com", 5678, "is not a host name or an IP address"),
        ("", 5678, "is not a host name or an IP address"),
        ("node 0", 5678, "is not a host name or an IP address"),
        ("127.0.0.1", 0, "is not a TCP port"),
        ("127.0.0.1", 70000, "is not a TCP port"),
        ("127.0.0.1", "http", "is not a TCP port"),
    ],
)
def test_a_bad_address_is_one_line_before_any_connect(host: str, port, why: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(DapError, match=why):
        DapClient(host, port, connect_timeout=5)
    assert time.monotonic() - t0 < 0.5


def test_good_addresses_pass_the_check() -> None:
    assert check_address("[::1]", 5678) == ("::1", 5678)
    assert check_address("node-0.internal.cloudapp.net", "5678") == ("node-0.internal.cloudapp.net", 5678)
    assert check_address("10.0.0.4", 5678) == ("10.0.0.4", 5678)


def test_a_peer_that_stops_answering_is_lost_within_the_liveness_window() -> None:
    answering = threading.Event()
    answering.set()

    def handle(conn, _):
        decoder = FrameDecoder()
        while True:
            data = conn.recv(65536)
            if not data:
                return
            for req in decoder.feed(data):
                if answering.is_set():
                    reply(conn, req, threads=[])

    adapter = ScriptedAdapter(handle)
    lost: List[str] = []
    with DapClient("127.0.0.1", adapter.port, request_timeout=30) as client:
        client.on_close(lost.append)
        client.watch(interval=0.3, answer_within=0.5)
        time.sleep(1.5)  # it answers the checks: nothing happens
        assert not client.closed and lost == []
        answering.clear()  # frozen: the connection stays open, nothing comes back
        pending = client.send("stackTrace", {"threadId": 1})
        t0 = time.monotonic()
        with pytest.raises(DapError, match="stopped answering"):
            client.result(pending, timeout=30)
        assert time.monotonic() - t0 < 2
        assert lost and "stopped answering" in lost[0]
    adapter.close()
