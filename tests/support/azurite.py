"""Azurite, the Azure Storage emulator, on 127.0.0.1 for tests and benchmarks (no pytest needed).

    with azurite() as az:
        blob = az.append_blob("logs", "run1/user_logs/std_log.txt", b"hello\\n")
        az.append(blob, b"more\\n")
        url = az.sas_url(blob, expiry=timedelta(minutes=5))   # a negative delta: already expired

``azurite@3`` is installed with npm once into ``<repo>/.cache/azurite`` (or ``cache_dir``, or
``$AMLDEBUG_AZURITE_CACHE``) and reused. Each :func:`azurite` runs its own blob service on a free
port with a temporary data folder, waits (bounded) until it answers, and kills it on exit.
:class:`FaultProxy` sits between a client and Azurite and answers with errors or stalls on demand.

Needs Node.js and npm on PATH (:class:`AzuriteUnavailable` otherwise) and the Python package
``azure-storage-blob``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobClient, BlobSasPermissions, BlobServiceClient, ContainerClient, generate_blob_sas

AZURITE_PACKAGE = "azurite@3"
CACHE_DIR = Path(os.environ.get("AMLDEBUG_AZURITE_CACHE") or Path(__file__).resolve().parents[2] / ".cache" / "azurite")
HOST = "127.0.0.1"
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""The emulator's well-known development account (published in Azurite's documentation)."""
APPEND_BLOCK_MAX = 4 * 1024 * 1024
INSTALL_TIMEOUT = 300.0
READY_TIMEOUT = 30.0

Expiry = Union[dt.timedelta, dt.datetime]


class AzuriteUnavailable(RuntimeError):
    """Azurite could not be installed or started here."""


# -- install -----------------------------------------------------------------------------------
def ensure_installed(cache_dir: Optional[Path] = None, timeout: float = INSTALL_TIMEOUT) -> Path:
    """The ``azurite-blob`` launcher, installed with npm into ``cache_dir`` unless already there."""
    cache = Path(cache_dir or CACHE_DIR)
    binary = cache / "node_modules" / ".bin" / "azurite-blob"
    marker = cache / ".installed"  # written last: a half-finished install is redone
    if binary.exists() and marker.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise AzuriteUnavailable("Azurite needs Node.js and npm on PATH")
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test sessions install once
        if binary.exists() and marker.exists():
            return binary
        try:
            proc = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(cache), AZURITE_PACKAGE],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise AzuriteUnavailable(f"npm install {AZURITE_PACKAGE} took more than {timeout:.0f} s") from None
        if proc.returncode != 0 or not binary.exists():
            raise AzuriteUnavailable(
                f"npm install {AZURITE_PACKAGE} failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}"
            )
        marker.write_text(AZURITE_PACKAGE + "\n")
    return binary


def _supports_disable_telemetry(binary: Path) -> bool:
    """Recent Azurite phones home unless told not to (it cannot reach the network here anyway)."""
    env_js = binary.resolve().parent / "BlobEnvironment.js"
    return env_js.exists() and "disableTelemetry" in env_js.read_text(errors="replace")


# -- run -----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    """Azurite's blob service (not just anything) answers HTTP on ``port``."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", f"/{DEV_ACCOUNT}?comp=list")
        response = conn.getresponse()
        response.read()
        return "azurite" in (response.getheader("Server") or "").lower()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _stop(proc: subprocess.Popen) -> None:
    """Stop the Azurite process group we started (by its id), killing it if it lingers."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
    proc.wait(5)


def _start(binary: Path, location: Path, ready_timeout: float) -> Tuple[subprocess.Popen, int]:
    """Start Azurite on a free port; a port someone else grabbed meanwhile means another try."""
    log_path = location / "azurite.log"
    for _ in range(3):
        port = free_port()
        argv = [
            str(binary),
            "--blobHost",
            HOST,
            "--blobPort",
            str(port),
            "--location",
            str(location / "data"),
            "--silent",
            "--skipApiVersionCheck",
        ]
        if _supports_disable_telemetry(binary):
            argv.append("--disableTelemetry")
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, cwd=location, start_new_session=True
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if _answers(port):
                return proc, port
            time.sleep(0.1)
        _stop(proc)
    tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
    raise AzuriteUnavailable(f"Azurite did not answer within {ready_timeout:.0f} s: {tail}")


class Azurite:
    """A running emulator: endpoint, a client for the dev account, and log-blob helpers."""

    def __init__(self, port: int, location: Path) -> None:
        self.port = port
        self.location = location
        self.endpoint = f"http://{HOST}:{port}/{DEV_ACCOUNT}"
        self.service = BlobServiceClient(self.endpoint, credential={"account_name": DEV_ACCOUNT, "account_key": DEV_KEY})

    def container(self, name: str) -> ContainerClient:
        client = self.service.get_container_client(name)
        with contextlib.suppress(ResourceExistsError):
            client.create_container()
        return client

    def append_blob(self, container: str, name: str, data: bytes = b"") -> BlobClient:
        """A new (or replaced) append blob holding ``data``: how Azure ML writes step logs."""
        blob = self.container(container).get_blob_client(name)
        blob.create_append_blob()
        self.append(blob, data)
        return blob

    def append(self, blob: BlobClient, data: bytes) -> None:
        for start in range(0, len(data), APPEND_BLOCK_MAX):
            blob.append_block(data[start : start + APPEND_BLOCK_MAX])

    def truncate(self, blob: BlobClient, data: bytes = b"") -> None:
        """Re-create ``blob`` holding only ``data`` (append blobs cannot shrink in place)."""
        blob.create_append_blob()
        self.append(blob, data)

    def sas_url(self, blob: BlobClient, expiry: Expiry = dt.timedelta(hours=1)) -> str:
        """A read-only SAS URL for ``blob``, valid until ``expiry`` (a delta from now, may be < 0)."""
        until = dt.datetime.now(dt.timezone.utc) + expiry if isinstance(expiry, dt.timedelta) else expiry
        token = generate_blob_sas(
            DEV_ACCOUNT,
            blob.container_name,
            blob.blob_name,
            account_key=DEV_KEY,
            permission=BlobSasPermissions(read=True),
            expiry=until,
        )
        return f"{blob.url}?{token}"

    def list_sas(self, container: str, prefix: str = "", expiry: Expiry = dt.timedelta(hours=1)) -> Dict[str, str]:
        """``{name relative to prefix: read SAS URL}``: the shape of a run's ``logFiles``."""
        client = self.service.get_container_client(container)
        return {
            item.name[len(prefix) :]: self.sas_url(client.get_blob_client(item.name), expiry)
            for item in client.list_blobs(name_starts_with=prefix)
        }

    def close(self) -> None:
        self.service.close()


@contextlib.contextmanager
def azurite(cache_dir: Optional[Path] = None, ready_timeout: float = READY_TIMEOUT) -> Iterator[Azurite]:
    """Install (once), start and finally kill an Azurite blob service with a scratch folder."""
    binary = ensure_installed(cache_dir)
    location = Path(tempfile.mkdtemp(prefix="amldebug-azurite-"))
    try:
        proc, port = _start(binary, location, ready_timeout)
        try:
            az = Azurite(port, location)
            try:
                yield az
            finally:
                az.close()
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(location, ignore_errors=True)


# -- faults --------------------------------------------------------------------------------------
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "host",
}


class FaultProxy:
    """An HTTP front for one upstream (Azurite) on 127.0.0.1 that misbehaves when told to.

    ``fail_next(n, status)`` answers the next ``n`` requests with ``status`` (not forwarded);
    ``stall_next(n, seconds)`` holds the next ``n`` requests that long before forwarding them.
    ``requests`` counts what arrived. Use as a context manager, or ``start()`` / ``close()``.
    """

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or HOST, parts.port or 80
        self.requests = 0
        self._faults: List[Tuple[str, float]] = []  # ("fail", status) or ("stall", seconds)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer((HOST, 0), _ProxyHandler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        )

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()  # releases stalled requests at once
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def url_for(self, url: str) -> str:
        """``url`` (path and SAS query kept) sent through this proxy."""
        parts = urllib.parse.urlsplit(url)
        return urllib.parse.urlunsplit((parts.scheme, f"{HOST}:{self.port}", parts.path, parts.query, ""))

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._faults = [("fail", float(status))] * n

    def stall_next(self, n: int, seconds: float) -> None:
        with self._lock:
            self._faults = [("stall", seconds)] * n

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def _next_fault(self) -> Optional[Tuple[str, float]]:
        with self._lock:
            self.requests += 1
            return self._faults.pop(0) if self._faults else None


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        self.close_connection = True
        fault = proxy._next_fault()
        if fault and fault[0] == "fail":
            self._answer(int(fault[1]), {"Content-Type": "text/plain"}, b"injected fault\n")
            return
        if fault and fault[0] == "stall" and proxy._closing.wait(fault[1]):
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
        try:
            conn.request("GET", self.path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            self._answer(response.status, {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}, body)
        except (OSError, http.client.HTTPException):
            self._answer(502, {"Content-Type": "text/plain"}, b"upstream unreachable\n")
        finally:
            conn.close()

    def _answer(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        try:
            self.send_response_only(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timed out) meanwhile
            pass


if __name__ == "__main__":  # pre-install (e.g. in a CI step) and check that it starts
    with azurite() as _az:
        print(f"Azurite from {ensure_installed()} answered at {_az.endpoint}")
