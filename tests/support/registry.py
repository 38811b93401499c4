"""A real image registry on 127.0.0.1 (Debian's docker-registry) with basic authentication,
standing in for the workspace's container registry."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple

from support import free_port


class Registry(NamedTuple):
    address: str
    username: str
    password: str


CONFIG = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: {root}/data
  delete:
    enabled: true
http:
  addr: {address}
auth:
  htpasswd:
    realm: amldebug-test
    path: {root}/htpasswd
"""


@contextmanager
def local_registry(username: str = "amldebugacr", password: str = "s3cret-test") -> Iterator[Registry]:
    import bcrypt

    if shutil.which("docker-registry") is None:
        raise RuntimeError("docker-registry is not installed (scripts/test installs Debian's docker-registry)")
    root = Path(tempfile.mkdtemp(prefix="amldebug-registry-"))
    address = f"127.0.0.1:{free_port()}"
    (root / "htpasswd").write_text(f"{username}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}\n")
    (root / "config.yml").write_text(CONFIG.format(root=root, address=address))
    log = open(root / "registry.log", "wb")
    proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{address}/v2/", timeout=2)
            except urllib.error.HTTPError:
                break  # 401: up, and asking for credentials
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"docker-registry did not start: {(root / 'registry.log').read_text()[-500:]}") from None
                time.sleep(0.2)
        yield Registry(address, username, password)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)
