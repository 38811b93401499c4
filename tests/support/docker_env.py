"""A Docker engine and a local base image for the tests (no registry is reachable here).

Starts ``dockerd`` (vfs storage, no bridge: containers use the host network) when the engine
does not answer and we may start it, and builds the base image ``amldebug-base:bookworm-runit`` once
with debootstrap (Debian bookworm, python3 + pip, and runit, which ``Model.package`` images use to
start their services) and ``docker import``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time

BASE_IMAGE = "amldebug-base:bookworm-runit"


def _answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def ensure_engine(timeout: float = 60) -> None:
    if shutil.which("docker") is None:
        raise RuntimeError("docker is not installed (scripts/test installs Debian's docker.io)")
    if _answers():
        return
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        raise RuntimeError("the Docker engine is not running and cannot be started from here")
    log = open(os.path.join(tempfile.gettempdir(), "amldebug-dockerd.log"), "ab")
    subprocess.Popen(
        ["dockerd", "--storage-driver=vfs", "--iptables=false", "--bridge=none"], stdout=log, stderr=log, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers():
            return
        time.sleep(0.5)
    raise RuntimeError(f"dockerd did not answer within {timeout:g} s")


def _mirror() -> str:
    """The Debian mirror apt uses here (the machine reaches only its configured mirrors)."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*")) + ["/etc/apt/sources.list"]:
        try:
            lines = open(path).read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split()
            if len(words) > 1 and words[0] in ("URIs:", "deb") and "/debian" in words[1] and "security" not in words[1]:
                return words[1]
    return "http://deb.debian.org/debian"


def ensure_base_image() -> str:
    ensure_engine()
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True).returncode == 0:
        return BASE_IMAGE
    rootfs = tempfile.mkdtemp(prefix="amldebug-rootfs-")
    try:
        made = subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3,python3-pip,runit", "bookworm", rootfs, _mirror()],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if made.returncode != 0:
            raise RuntimeError(f"debootstrap failed: {(made.stderr or made.stdout).strip().splitlines()[-1:]}")
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", BASE_IMAGE], stdin=tar.stdout, check=True, capture_output=True, timeout=300)
        tar.wait(60)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    return BASE_IMAGE


if __name__ == "__main__":  # scripts/test prepares the engine and the image before pytest
    print("base image:", ensure_base_image())
