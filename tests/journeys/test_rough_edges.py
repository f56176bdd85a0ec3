"""Fast checks of the rough edges the journeys found (docs/journeys.md); the journeys check them on screen."""

from __future__ import annotations

import socket

import pytest

from tanuki_ollama.cli.main import main
from tanuki_ollama.errors import ConfigError
from tanuki_ollama.server.runner import check_port_free


def test_a_taken_port_is_refused_with_a_hint():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as exc:
            check_port_free("127.0.0.1", port)
    assert exc.value.message == f"127.0.0.1:{port} is already in use by another program"
    assert "--port" in exc.value.hint
    check_port_free("127.0.0.1", port)  # released: no error


def test_a_missing_repo_fails_before_any_engine_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # nothing listens: reaching for Ollama would fail differently
    rc = main(["run", "make the failing test pass", "--repo", str(tmp_path / "missing")])
    err = " ".join(capsys.readouterr().err.split())  # rich wraps lines at 80 columns here
    assert rc == 1 and "is not a folder" in err and "hint: pass --repo PATH" in err
    assert "Ollama" not in err and "┏" not in err
