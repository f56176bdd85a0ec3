"""What ``tanuki serve`` is configured with: one pydantic model, filled from flags (``tanuki serve --help``)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError
from .store import RateLimit

TEAM_MODEL = "tanuki"
OLLAMA_COMPAT_VERSION = "0.32.15"
"""What ``/api/version`` reports when the engine is not an Ollama (clients gate features on it)."""


class ServeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(11435, ge=0, le=65535)
    engine: str = "ollama"
    """An engine name from ``tanuki_ollama.engines`` (``ollama``, ``hotswap``, ``scripted``, ``module:Class``)."""
    engine_options: dict[str, Any] = Field(default_factory=dict)
    store_url: str | None = None
    """``sqlite:///path`` (default ``$TANUKI_HOME/server.db``), later ``postgresql://`` or ``redis://``."""
    auth: bool | None = None
    """API keys required. ``None``: off on loopback, and refused (not silently on) on any other address."""
    rate_limit: RateLimit = Field(default_factory=lambda: RateLimit(window_s=60, requests=120, tokens=200_000))
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    request_timeout_s: float = Field(600.0, gt=0)
    max_concurrency: int = Field(8, ge=1)
    """Engine calls running at once in this replica."""
    max_queue: int = Field(64, ge=0)
    """Requests waiting for a slot before the server answers 503 with Retry-After."""
    queue_timeout_s: float = Field(30.0, gt=0)
    cors_origins: list[str] = Field(default_factory=list)
    """Empty: no CORS headers at all (browsers on other origins are refused)."""
    workspace: Path | None = None
    """The repository that runs of the ``tanuki`` model work on; each run works in its own copy."""
    family: str | None = None
    """Engine-model prefix of the agents (``tanuki-micro`` maps agent ``tanuki-coder`` to ``tanuki-micro-coder``)."""
    graceful_timeout_s: float = Field(30.0, ge=0)
    log_json: bool = True
    expose_models: list[str] = Field(default_factory=list)
    """Only these engine models are listed and served (empty: every engine model)."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Without keys the server answers only requests whose ``Host`` is a loopback name (DNS rebinding); these
    names are accepted too (a local reverse proxy's, a test client's)."""

    def auth_required(self) -> bool:
        if self.auth is None:
            return not is_loopback(self.host)
        return self.auth

    def check_binding(self) -> None:
        """Refuse to serve a non-loopback address without API keys."""
        if not is_loopback(self.host) and self.auth is False:
            raise ConfigError(
                f"refusing to listen on {self.host} without authentication: anyone who can reach it could run "
                "models and tools on this machine",
                hint="drop --no-auth (keys are then required; create one with `tanuki keys create NAME`), "
                "or bind to 127.0.0.1",
            )


def is_loopback(host: str) -> bool:
    """
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
