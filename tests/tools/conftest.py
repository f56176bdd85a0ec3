"""Fixtures for the tool tests: a fresh workspace, a ToolContext on it, the real registry, and (for tools that
run code) the real jail-backed sandbox of tests/sandbox."""

from __future__ import annotations

import pytest

from tanuki_ollama.tools import ToolContext, default_registry
from tests.sandbox.conftest import _jail_or_skip


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def ctx(workspace):
    return ToolContext(workspace=workspace, timeout_s=60.0)


@pytest.fixture(scope="session")
def registry():
    return default_registry()


@pytest.fixture(scope="session")
def tool_sandbox():
    from tanuki_ollama.sandbox import Sandbox

    return Sandbox(_jail_or_skip().backend, allow_weak=True)


@pytest.fixture
def sctx(workspace, tool_sandbox):
    return ToolContext(workspace=workspace, sandbox=tool_sandbox, timeout_s=120.0)
