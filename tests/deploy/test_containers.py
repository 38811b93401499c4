"""Debug images and scoring containers on a real Docker engine (started by the test setup)."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from IPython.core.error import UsageError
from support import free_port, line_of, write
from support.docker_env import ensure_base_image
from support.kernel_harness import LabFrontend, lab_kernel

# The first test also builds the debug image (about 100 s on the vfs storage driver).
pytestmark = [pytest.mark.timeout(600), pytest.mark.docker]

SCORE = """
    import json

    model = None


    def init():
        global model
        model = {"scale": 3}          # init breakpoint


    def run(raw_data):
        data = json.loads(raw_data)["data"]
        scale = model["scale"]        # run breakpoint
        return {"result": [x * scale for x in data]}
"""


@pytest.fixture
def lab(amldebug_home: Path) -> Iterator[LabFrontend]:
    with lab_kernel({"AMLDEBUG_HOME": str(amldebug_home), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}) as fe:
        assert fe.execute("%load_ext amldebug_jupyter")["status"] == "ok"
        yield fe
        fe.execute("%aml_debug container stop")


def debug_one_request(lab: LabFrontend, score: Path, http_port: int) -> None:
    """After ``container run``: init() and run() stop at breakpoints, variables show the request,
    continue returns the response (what a user does in the notebook)."""
    init_line, run_line = line_of(score, "init breakpoint"), line_of(score, "run breakpoint")
    lab.toggle_on({str(score): [init_line, run_line]})
    stop = lab.stopped_frame(timeout=30)
    assert (stop["frame"]["source"]["path"], stop["frame"]["line"]) == (str(score), init_line)
    lab.request("continue", {"threadId": stop["thread"]})

    lab.streams.clear()
    msg_id = lab.kc.execute("answer = %aml_debug container score --data '{\"data\": [1, 2, 3]}'\nprint(answer)")
    stop = lab.stopped_frame(timeout=60)
    assert stop["frame"]["line"] == run_line
    assert lab.frame_variables(stop["frame"]["id"])["data"] == "[1, 2, 3]"
    lab.request("setBreakpoints", {"source": {"path": str(score)}, "breakpoints": [], "sourceModified": False})
    lab.request("continue", {"threadId": stop["thread"]})
    assert lab.wait_execute(msg_id, timeout=60)["status"] == "ok"
    assert "{'result': [3, 6, 9]}" in lab.output()
    lab.toggle_off()


@pytest.mark.kernel
def test_scoring_request_stops_in_the_mounted_score_py(debug_image: str, lab: LabFrontend, tmp_path: Path) -> None:
    score = write(tmp_path / "app" / "score.py", SCORE)
    http, debug = free_port(), free_port()
    lab.streams.clear()
    lab.execute(f"%aml_debug container run {debug_image} --score {score} --http-port {http} --debug-port {debug} --timeout 60")
    out = lab.output()
    assert f"waits for a debugger at 127.0.0.1:{debug}" in out and "Debugger retargeted to container" in out, out
    debug_one_request(lab, score, http)

    # An edit to the local score.py shows after a service restart.
    score.write_text(score.read_text().replace('"scale": 3', '"scale": 10'))
    lab.execute("%aml_debug container restart")
    lab.execute(f"%aml_debug attach --host 127.0.0.1 --port {debug} --local-root {score.parent} --remote-root /var/azureml-app")
    lab.toggle_on()  # no breakpoints: the restarted service is released at once
    lab.toggle_off()
    deadline = time.monotonic() + 60
    while True:
        lab.streams.clear()
        lab.execute("answer = %aml_debug container score --data '{\"data\": [1]}'\nprint(answer)")
        if "{'result': [10]}" in lab.output() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "{'result': [10]}" in lab.output()
    assert lab.kernel_info_seconds() < 1


@pytest.mark.kernel
def test_a_bridge_network_publishes_on_loopback_only(debug_image: str, lab: LabFrontend, tmp_path: Path) -> None:
    import docker

    client = docker.from_env()
    network = client.networks.create(f"amldebug-test-{os.getpid()}", driver="bridge")
    try:
        score = write(tmp_path / "app" / "score.py", SCORE)
        http, debug = free_port(), free_port()
        lab.execute(
            f"%aml_debug container run {debug_image} --score {score} --network {network.name} "
            f"--http-port {http} --debug-port {debug} --timeout 60"
        )
        ports = client.containers.get("amldebug-score").attrs["NetworkSettings"]["Ports"]
        published = {name: [(b["HostIp"], b["HostPort"]) for b in bindings or []] for name, bindings in ports.items()}
        assert published == {"5001/tcp": [("127.0.0.1", str(http))], f"{debug}/tcp": [("127.0.0.1", str(debug))]}
        debug_one_request(lab, score, http)
    finally:
        lab.execute("%aml_debug container stop")
        network.remove()


def test_failures_are_one_line_and_leave_nothing_running(debug_image: str, tmp_path: Path, monkeypatch) -> None:
    import docker

    from amldebug_jupyter.docker import containers
    from amldebug_jupyter.errors import BackendError, UserError

    score = write(tmp_path / "app" / "score.py", SCORE)
    with pytest.raises(UserError, match="Image 'nope:1' is not on this machine"):
        containers.run_scoring_container("nope:1", score, name="amldebug-fail")
    with socket.socket() as busy:  # the scoring port is taken: the server cannot start
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        box, _ = containers.run_scoring_container(debug_image, score, name="amldebug-fail", http_port=port, timeout=5)
        with pytest.raises(BackendError, match="exited before waiting for a debugger"):
            containers.wait_for_endpoint(box, timeout=60)
    containers.stop_ours("amldebug-fail")
    assert not docker.from_env().containers.list(all=True, filters={"name": "amldebug-fail"})
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(UserError, match="Docker is not running or not reachable"):
        containers.run_scoring_container(debug_image, score)
    monkeypatch.setitem(sys.modules, "docker", None)  # the [docker] extra is not installed
    with pytest.raises(UserError, match=r"pip install 'amldebug-jupyter\[docker\]'"):
        containers.docker_client()


def test_a_rebuild_with_unchanged_inputs_reuses_the_image(debug_image: str) -> None:
    from amldebug_jupyter.deploy.images import build_local_image

    said = []
    t0 = time.monotonic()
    assert build_local_image(ensure_base_image(), say=said.append) == debug_image
    assert time.monotonic() - t0 < 2 and said[-1].startswith("Reusing")


def test_a_failing_build_is_one_line_and_builds_nothing(tmp_path: Path) -> None:
    import docker

    from amldebug_jupyter.deploy.images import build_local_image
    from amldebug_jupyter.errors import BackendError

    before = {i.id for i in docker.from_env().images.list()}
    with pytest.raises(BackendError, match=r"Could not fetch the image's Python packages: .*no-such-package-amldebug"):
        build_local_image(ensure_base_image(), ["no-such-package-amldebug==0.0.1"], say=lambda line: None)
    tiny = write(tmp_path / "ctx" / "hello.txt", "no python in here\n").parent  # a base image without Python
    docker.from_env().images.build(
        path=str(tiny),
        dockerfile=str(write(tiny / "Dockerfile", "FROM scratch\nCOPY hello.txt /\n")),
        tag="amldebug-test-nopython:1",
        rm=True,
    )
    with pytest.raises(BackendError, match="The base image amldebug-test-nopython:1 cannot run python3"):
        build_local_image("amldebug-test-nopython:1", say=lambda line: None)
    docker.from_env().images.remove("amldebug-test-nopython:1", force=True)
    assert {i.id for i in docker.from_env().images.list()} == before


def test_container_run_failures_in_the_notebook_leave_nothing_running(debug_image: str, tmp_path: Path, capsys) -> None:
    import docker
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython() or get_ipython()
    shell.extension_manager.load_extension("amldebug_jupyter")
    score = write(tmp_path / "app" / "score.py", SCORE)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError) as failed:  # the cell fails with one line
            shell.run_line_magic(
                "aml_debug",
                f"container run {debug_image} --score {score} --name amldebug-busy --http-port {port} --timeout 5 --attach manual",
            )
    err = str(failed.value)
    assert "\n" not in err, err
    assert err.startswith("aml_debug: The container amldebug-busy exited before waiting for a debugger"), err
    assert not docker.from_env().containers.list(all=True, filters={"name": "amldebug-busy"})


@pytest.mark.kernel
def test_an_experiment_runs_in_a_container_of_its_environment(lab: LabFrontend, tmp_path: Path) -> None:
    from test_kernel_magics import wait_until_retargeted

    script = write(
        tmp_path / "exp" / "train.py",
        """
        import os
        import sys

        in_container = os.path.exists("/.dockerenv")
        epochs = int(sys.argv[sys.argv.index("--epochs") + 1])
        total = epochs * 10          # experiment breakpoint
        print("in container:", in_container, "total:", total)
    """,
    )
    conda = write(tmp_path / "exp" / "env.yml", "dependencies:\n  - python=3.11\n  - pip:\n    - debugpy\n")
    run_line = (
        f"run = %aml_debug experiment run {script} --docker {ensure_base_image()} --conda-file {conda} "
        "--timeout 60 --no-stop-on-entry --no-panel -- --epochs 3"
    )
    lab.streams.clear()
    assert lab.execute(run_line, timeout=600)["status"] == "ok", lab.output()
    assert "Successfully built" in lab.output() or "Reusing" in lab.output(), lab.output()  # the build log shows
    wait_until_retargeted(lab)
    line = line_of(script, "experiment breakpoint")
    lab.toggle_on({str(script): [line]})
    stop = lab.stopped_frame(timeout=60)
    assert (stop["frame"]["source"]["path"], stop["frame"]["line"]) == (str(script), line)
    variables = lab.frame_variables(stop["frame"]["id"])
    assert (variables["epochs"], variables["in_container"]) == ("3", "True")
    lab.request("setBreakpoints", {"source": {"path": str(script)}, "breakpoints": [], "sourceModified": False})
    lab.request("continue", {"threadId": stop["thread"]})
    lab.toggle_off()
    lab.streams.clear()
    lab.execute("print(run.wait(60))\nprint(run.logs('train'))")
    assert "Completed" in lab.output() and "in container: True total: 30" in lab.output(), lab.output()

    # The same environment again: the image is reused, nothing is built.
    lab.streams.clear()
    t0 = time.monotonic()
    lab.execute(run_line.replace("--timeout 60", "--timeout 0"))
    assert time.monotonic() - t0 < 10 and "Reusing" in lab.output(), lab.output()
    lab.execute("run.wait(60)")
