"""Fixtures for the sandbox tests: one real jail-backed Sandbox per session (real bwrap, real compilers).

Compiled artifacts (and Go's seed cache) go to the normal cache, ``$TANUKI_CACHE/sandbox``, keyed by content
hash, so reruns and the CLI share them.
"""

from __future__ import annotations

import shutil

import pytest


def _jail_or_skip():
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed: run `sudo sandbox/install-deps.sh`")
    from tanuki_ollama.sandbox.detect import backends

    info = next(i for i in backends() if i.name == "jail")
    if not info.usable:
        pytest.skip(f"the jail backend is unusable here: {info.detail}")
    return info


@pytest.fixture(scope="session")
def jail_info():
    return _jail_or_skip()


@pytest.fixture(scope="session")
def sandbox(jail_info):
    from tanuki_ollama.sandbox import Sandbox

    return Sandbox(jail_info.backend, allow_weak=True)
