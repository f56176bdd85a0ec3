"""Fixtures for tanuki serve: apps over test engines or the real Ollama, each served by a real uvicorn on a
free loopback port (``BackgroundServer``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tanuki_ollama.server.app import create_app
from tanuki_ollama.server.config import ServeConfig
from tanuki_ollama.server.runner import BackgroundServer
from tanuki_ollama.server.store import SQLiteStore, open_store


@pytest.fixture
def store(tmp_path) -> SQLiteStore:
    return open_store(f"sqlite:///{tmp_path / 'server.db'}")


@pytest.fixture
def serve(store) -> Iterator[Callable[..., str]]:
    """``serve(engine, **config) -> base URL``; servers stop at the end of the test."""
    servers: list[BackgroundServer] = []

    def start(engine: Any, *, app_store=None, **config: Any) -> str:
        cfg = ServeConfig(**config)
        app = create_app(cfg, engine, app_store or store)
        server = BackgroundServer(app, cfg)
        servers.append(server)
        server.start()
        return server.url

    yield start
    for server in servers:
        server.stop()
