"""Debug image cache: a first local build vs a rebuild with unchanged inputs.

The first build fetches wheels and builds on the base image; the rebuild finds the image by its
content hash and makes nothing (target: rebuild <= 2 s). Needs the Docker engine and base
image that ``tests/docker_env.py`` prepares.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _common import result  # noqa: E402
from support.docker_env import ensure_base_image  # noqa: E402

REBUILD_TARGET_S = 2.0


def main() -> int:
    from amldebug_jupyter.deploy.images import SERVER_PACKAGES, build_local_image, content_hash
    from amldebug_jupyter.docker.containers import docker_client

    base = ensure_base_image()
    client = docker_client()
    digest = content_hash(client.images.get(base).id, list(SERVER_PACKAGES))
    for old in client.images.list(filters={"label": f"amldebug.hash={digest}"}):
        client.images.remove(old.id, force=True)  # a true first build
    with tempfile.TemporaryDirectory(prefix="amldebug-bench-home-") as home:
        os.environ["AMLDEBUG_HOME"] = home  # no wheel cache either
        t0 = time.perf_counter()
        tag = build_local_image(base, say=lambda line: None)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = build_local_image(base, say=lambda line: None)
        rebuild = time.perf_counter() - t0
    assert again == tag
    print(f"first build {first:.1f} s (wheels fetched, image built on {base}); rebuild {rebuild:.3f} s (reused {tag})")
    print(f"ratio first/rebuild: {first / rebuild:,.0f} x")
    lines = [
        result("image_first_build", first, "s", "none", True, ".1f"),
        result("image_rebuild", rebuild, "s", f"<={REBUILD_TARGET_S:g}", rebuild <= REBUILD_TARGET_S, ".3f"),
        result("image_first_vs_rebuild", first / rebuild, "x", "none", True, ".0f"),
    ]
    print("\n".join(lines))
    return 0 if all(line.endswith("PASS") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
