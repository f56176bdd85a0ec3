"""Where things live, and how to reach the engines. Resolved from the environment on demand, never at import.

- ``TANUKI_HOME``   user state (keys, journals, logs, the managed ollama's pid file); default ``~/.tanuki``
- ``TANUKI_CACHE``  build and model caches keyed by version; default ``$XDG_CACHE_HOME/tanuki`` or ``~/.cache/tanuki``
- ``OLLAMA_HOST``   the Ollama to talk to; default ``http://127.0.0.1:11434``
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"


def normalize_host(host: str) -> str:
    """Accept Ollama's forms of OLLAMA_HOST and return a base URL.

    >>> normalize_host("127.0.0.1:11500")
    'http://127.0.0.1:11500'
    >>> normalize_host("http://localhost")
    'http://localhost:11434'
    >>> normalize_host(":9000")
    'http://127.0.0.1:9000'
    """
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    parts = urlsplit(host)
    hostname = parts.hostname or "127.0.0.1"
    if hostname == "0.0.0.0":
        hostname = "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 11434)
    if ":" in hostname:
        hostname = f"[{hostname}]"
    return f"{parts.scheme}://{hostname}:{port}{parts.path}"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


@dataclass(frozen=True)
class Settings:
    home: Path
    cache: Path
    ollama_host: str
    request_timeout_s: float = 600.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "Settings":
        xdg = os.environ.get("XDG_CACHE_HOME")
        cache_default = (Path(xdg) if xdg else Path.home() / ".cache") / "tanuki"
        return cls(
            home=_env_path("TANUKI_HOME", Path.home() / ".tanuki"),
            cache=_env_path("TANUKI_CACHE", cache_default),
            ollama_host=normalize_host(os.environ.get("OLLAMA_HOST", DEFAULT_OLLAMA_HOST)),
            request_timeout_s=float(os.environ.get("TANUKI_TIMEOUT", "600")),
        )
