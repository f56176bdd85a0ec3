"""The `tanuki` command as a user runs it (a real process), against the session's real Ollama."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tanuki_ollama.ollama_server import free_port
from tanuki_ollama.toolchain import OLLAMA_VERSION


def tanuki(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    env.pop("TANUKI_RAISE_ERRORS", None)
    return subprocess.run([sys.executable, "-m", "tanuki_ollama", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_help_lists_the_commands():
    out = tanuki("--help")
    assert out.returncode == 0
    for cmd in ("ask", "doctor", "models", "ps", "ollama"):
        assert cmd in out.stdout


@pytest.mark.slow
def test_doctor_json_lists_the_ollama_version_that_answered(ollama_env):
    out = tanuki("doctor", "--json")
    data = json.loads(out.stdout)
    assert data["ollama"]["url"] == ollama_env
    if not os.environ.get("TANUKI_OLLAMA_BIN"):
        assert data["ollama"]["version"] == OLLAMA_VERSION
    names = {c["name"]: c for c in data["checks"]}
    assert names["llama-server"]["status"] == "ok" and names["micro backbone"]["status"] == "ok"
    assert out.returncode == (0 if data["ok"] else 1)


@pytest.mark.slow
def test_ask_answers_through_the_micro_model(ollama_env, micro_model):
    out = tanuki("ask", "--temperature", "0", "--seed", "1", "write is_palindrome in Python")
    assert out.returncode == 0, out.stderr
    assert "def " in out.stdout and "palindrome" in out.stdout
    assert "prompt" in out.stderr  # the usage line


@pytest.mark.slow
def test_models_and_ps(ollama_env, micro_model):
    out = tanuki("models", "--json")
    assert any(m["name"].startswith("tanuki-micro") for m in json.loads(out.stdout)["models"])
    out = tanuki("ps", "--json")
    assert out.returncode == 0 and "running" in json.loads(out.stdout)


@pytest.mark.slow
def test_unknown_model_error_names_the_fix(ollama_env):
    out = tanuki("ask", "--model", "tanuki-nope", "hi")
    assert out.returncode == 1
    assert "error:" in out.stderr and "hint:" in out.stderr and "Traceback" not in out.stderr


def test_wrong_port_error_names_the_fix():
    port = free_port()
    out = tanuki("models", env_extra={"OLLAMA_HOST": f"127.0.0.1:{port}"})
    assert out.returncode == 1
    assert f"127.0.0.1:{port}" in out.stderr and "ollama serve" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_managed_ollama_start_status_stop(tmp_path):
    port = free_port()
    env = {"OLLAMA_HOST": f"127.0.0.1:{port}", "OLLAMA_MODELS": str(tmp_path / "models")}
    try:
        out = tanuki("ollama", "start", env_extra=env)
        assert out.returncode == 0, out.stderr
        assert "answering" in tanuki("ollama", "status", env_extra=env).stdout
        assert "Ollama already answers" in tanuki("ollama", "start", env_extra=env).stdout
    finally:
        out = tanuki("ollama", "stop", env_extra=env)
    assert "stopped" in out.stdout
    assert "not answering" in tanuki("ollama", "status", env_extra=env).stdout


def test_missing_ollama_binary_names_the_fix(tmp_path):
    port = free_port()
    out = tanuki("ollama", "start", env_extra={"OLLAMA_HOST": f"127.0.0.1:{port}",
                                               "TANUKI_OLLAMA_BIN": str(tmp_path / "nope" / "ollama")})
    assert out.returncode == 1 and "install.sh" in out.stderr, out.stderr
