"""The container backend, for real, where a Docker/Podman engine and the sandbox image exist (skipped here
otherwise)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def container_sandbox():
    from tanuki_ollama.sandbox import Sandbox
    from tanuki_ollama.sandbox.detect import backends

    info = next(i for i in backends() if i.name == "container")
    if not info.usable:
        pytest.skip(f"no container engine/image: {info.detail}")
    return Sandbox(info.backend)


def test_container_hello(container_sandbox):
    r = container_sandbox.run("python", "import sys\nprint('hello', sys.stdin.read())", stdin="x")
    assert r.stdout == "hello x\n" and r.backend == "container"


def test_container_attacks(container_sandbox):
    from tanuki_ollama.sandbox.attacks import run_suite

    bad = [o for o in run_suite(container_sandbox) if not o.contained]
    assert not bad, bad
