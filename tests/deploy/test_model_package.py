"""``image build --backend azureml``: real InferenceConfig/Environment/Model objects, the one fake
at the service boundary (FakePackagingService builds for real and pushes to a real registry on
127.0.0.1), then a real pull with credentials, tagging, reuse, and a debug session in the image."""

from __future__ import annotations

import io
import re
import tarfile
import time
from pathlib import Path
from typing import Iterator

import pytest
from support import free_port, write
from support.docker_env import ensure_base_image
from support.fake_azureml import FakePackagingService, offline_workspace
from support.kernel_harness import lab_kernel
from support.registry import Registry, local_registry
from test_containers import SCORE, debug_one_request

pytestmark = [pytest.mark.timeout(900), pytest.mark.docker]
TESTS = Path(__file__).resolve().parents[1]
CONDA = """
    name: sklearn-env
    dependencies:
      - python=3.11
      - pip:
        - azureml-defaults
"""


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    with local_registry() as found:
        yield found


def _remove_package_images() -> None:
    import docker

    client = docker.from_env()
    for image in client.images.list(name="amldebug-package"):
        client.images.remove(image.id, force=True)


@pytest.fixture
def packaging(registry: Registry, debug_image: str) -> Iterator[type]:
    """The fake service, configured in this process (the in-kernel test configures its own)."""
    _remove_package_images()  # a package cached by an earlier run would hide the packaging
    FakePackagingService.registry, FakePackagingService.base_image = tuple(registry), ensure_base_image()
    FakePackagingService.fail_with, FakePackagingService.packages = None, []
    yield FakePackagingService
    FakePackagingService.fail_with = None
    _remove_package_images()


@pytest.mark.kernel
def test_package_build_pull_tag_reuse_and_debug_from_the_notebook(
    packaging: type, registry: Registry, amldebug_home: Path, tmp_path: Path
) -> None:
    score = write(tmp_path / "app" / "score.py", SCORE)
    conda = write(tmp_path / "myenv.yml", CONDA)
    build = f"%aml_debug image build --model sklearn-mnist:3 --entry-script {score} --conda-file {conda} --workspace ws"
    with lab_kernel({"AMLDEBUG_HOME": str(amldebug_home), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}) as lab:
        assert lab.execute("%load_ext amldebug_jupyter")["status"] == "ok"
        setup = (
            f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
            "from support.fake_azureml import FakePackagingService, offline_workspace\n"
            "import amldebug_jupyter.backends.azureml.service as service\n"
            f"FakePackagingService.registry = {tuple(registry)!r}\n"
            f"FakePackagingService.base_image = {ensure_base_image()!r}\n"
            "FakePackagingService.packages = []\n"
            "service.AzureMLService = FakePackagingService\n"
            "ws = offline_workspace()"
        )
        assert lab.execute(setup)["status"] == "ok", lab.output()
        tag = None
        try:
            lab.streams.clear()
            assert lab.execute(build, timeout=600)["status"] == "ok"
            out = lab.output()
            assert "Packaging model sklearn-mnist:3 with environment myenv-amldebug (debugpy added)" in out, out
            assert "Step 1/" in out and "COPY azureml-app /var/azureml-app" in out, out  # the build log, streamed
            assert f"Pulling {registry.address}/package@sha256:" in out and "Status: Downloaded newer image" in out, out
            tag = re.search(r"Debug image ready: (debug:\d+)", out).group(1)

            lab.streams.clear()  # unchanged inputs: no Model.package call, the same image
            t0 = time.monotonic()
            lab.execute(build + "\nprint('packages:', len(FakePackagingService.packages))")
            assert time.monotonic() - t0 < 5
            out = lab.output()
            assert "no Model.package call" in out and f"Debug image ready: {tag}" in out and "packages: 1" in out, out

            # The package image starts its services with runsvdir; the mounted score.py is debugged.
            debug = free_port()
            lab.streams.clear()
            lab.execute(f"%aml_debug container run --score {score} --debug-port {debug} --timeout 60")
            assert "serves http://127.0.0.1:5001/score" in lab.output(), lab.output()
            debug_one_request(lab, score, 5001)
        finally:
            lab.execute("%aml_debug container stop")
            _untag(tag)


def _untag(tag) -> None:
    import docker

    if tag:
        try:
            docker.from_env().images.remove(tag)
        except docker.errors.ImageNotFound:
            pass


def test_a_failing_package_build_is_one_line_after_its_log(packaging: type, tmp_path: Path) -> None:
    from amldebug_jupyter.deploy.model_package import build_package_image
    from amldebug_jupyter.errors import BackendError

    packaging.fail_with = "pip failed: No matching distribution found for sklearn==99"
    said = []
    with pytest.raises(BackendError, match=r"^Model.package ended Failed: Image build failed: pip failed: No matching"):
        build_package_image(
            "sklearn-mnist:3",
            write(tmp_path / "app" / "score.py", SCORE),
            write(tmp_path / "myenv.yml", CONDA),
            workspace=offline_workspace(),
            say=said.append,
            service=packaging(),
            poll=0.05,
        )
    assert said[-2:] == [
        "Step 1/6 : FROM mcr.microsoft.com/azureml/base",
        "ERROR: pip failed: No matching distribution found for sklearn==99",
    ]


@pytest.fixture(scope="module")
def tiny_pushed(registry: Registry) -> Iterator[str]:
    """A one-file image in the registry (and not on this machine)."""
    import docker

    client = docker.from_env()
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    reference = f"{registry.address}/tiny:1"
    client.api.import_image_from_data(data.getvalue(), repository=f"{registry.address}/tiny", tag="1")
    for frame in client.api.push(
        f"{registry.address}/tiny",
        "1",
        stream=True,
        decode=True,
        auth_config={"username": registry.username, "password": registry.password},
    ):
        assert "error" not in frame, frame
    client.images.remove(reference)
    yield reference


def test_pull_errors_are_the_engines_own_words(registry: Registry, tiny_pushed: str) -> None:
    from amldebug_jupyter.docker.containers import docker_client, pull_image
    from amldebug_jupyter.errors import BackendError

    client, said = docker_client(), []
    good = {"username": registry.username, "password": registry.password}
    with pytest.raises(BackendError, match=rf"^Could not pull {tiny_pushed}: unauthorized: authentication required$"):
        pull_image(client, tiny_pushed, {"username": registry.username, "password": "wrong"}, say=said.append)
    with pytest.raises(BackendError, match=r"manifest unknown"):
        pull_image(client, f"{registry.address}/tiny:2", good, say=said.append)
    with pytest.raises(BackendError, match=r"connection refused"):
        pull_image(client, f"127.0.0.1:{free_port()}/tiny:1", good, say=said.append)
    image = pull_image(client, tiny_pushed, good, say=said.append)
    assert tiny_pushed in image.tags and said[-1] == f"Status: Downloaded newer image for {tiny_pushed}"
    client.images.remove(tiny_pushed)


def test_a_registered_environment_is_extended_under_a_new_name() -> None:
    from azureml.core import Environment
    from azureml.core.conda_dependencies import CondaDependencies

    from amldebug_jupyter.deploy.model_package import debug_environment

    registered = Environment("sklearn-env")
    registered.version = "4"
    registered.python.conda_dependencies = CondaDependencies.create(pip_packages=["scikit-learn", "debugpy==1.8.0"])
    env = debug_environment(registered=registered)
    pips = list(env.python.conda_dependencies.pip_packages)
    assert (env.name, env.version) == ("sklearn-env-amldebug", None)
    assert "debugpy==1.8.0" in pips and "debugpy" not in pips and "azureml-defaults" in pips  # the user's pin wins
    assert (registered.name, registered.version) == ("sklearn-env", "4")
    assert "azureml-defaults" not in list(registered.python.conda_dependencies.pip_packages)


@pytest.mark.parametrize(
    "line, error",
    [
        ("image build --backend azureml --model m:1", "needs --model NAME[:VERSION] and --entry-script score.py"),
        ("image build --model m:x --entry-script {score} --conda-file {conda}", "--model 'm:x': expected NAME or NAME:VERSION"),
        ("image build --model m:1 --entry-script {score}", "give exactly one of --conda-file FILE or --environment NAME"),
        (
            "image build --model m:1 --entry-script {score} --conda-file {conda} --environment e",
            "give exactly one of --conda-file FILE or --environment NAME",
        ),
        ("image build --model m:1 --entry-script nowhere.py --conda-file {conda}", "--entry-script nowhere.py: no such file"),
        ("image build --backend local --model m:1", "--model and --environment need --backend azureml"),
    ],
)
def test_bad_image_build_input_is_one_line(line: str, error: str, tmp_path: Path, capsys, monkeypatch) -> None:
    from IPython import get_ipython
    from IPython.core.error import UsageError
    from IPython.testing.globalipapp import start_ipython

    import amldebug_jupyter.backends.azureml.service as service

    monkeypatch.setattr(service, "AzureMLService", FakePackagingService)
    shell = start_ipython() or get_ipython()
    shell.extension_manager.load_extension("amldebug_jupyter")
    shell.user_ns["ws"] = offline_workspace()
    line = line.format(score=write(tmp_path / "score.py", SCORE), conda=write(tmp_path / "env.yml", CONDA))
    try:
        shell.run_line_magic("aml_debug", line + " --workspace ws")
        said = capsys.readouterr().err.strip()
    except UsageError as e:
        said = str(e)
    assert error in said and "\n" not in said, said
