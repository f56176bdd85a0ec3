"""Run a real ``ollama serve``: in the foreground of a test session, or as the user's managed daemon.

The managed daemon (``tanuki ollama start|stop|status``) keeps its pid in ``$TANUKI_HOME/ollama.pid`` and its
log in ``$TANUKI_HOME/logs/ollama.log``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .errors import BackendUnavailable
from .settings import Settings
from .toolchain import Toolchain


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def spawn_logged(argv: list[str], log_path: Path | None, **popen: object) -> subprocess.Popen:
    """Start a server process with stdout+stderr appended to ``log_path`` (or discarded), no stdin."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **popen)
    finally:
        if out is not subprocess.DEVNULL:
            out.close()


def stop_process(process: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """SIGTERM, wait, then SIGKILL: a server we started never outlives its owner."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def is_reachable(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{url}/api/version", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in {"127.0.0.1", "localhost", "::1"}


DEFAULT_NUM_PARALLEL = 4


class OllamaServer:
    """One ``ollama serve`` process bound to ``host:port`` with its own model store."""

    def __init__(
        self,
        binary: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        models_dir: Path | None = None,
        log_path: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ):
        self.binary = Path(binary) if binary else Toolchain.default().ollama_binary()
        self.host = host
        self.port = port or free_port(host)
        self.models_dir = models_dir
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["OLLAMA_HOST"] = f"{self.host}:{self.port}"
        env.setdefault("OLLAMA_NOPRUNE", "1")
        # parallel slots per loaded model: the candidate search of `tanuki run` sends several samples at once, and
        # llama.cpp decodes them in one batch (Ollama's own default is 1 slot on machines it deems small)
        env.setdefault("OLLAMA_NUM_PARALLEL", str(DEFAULT_NUM_PARALLEL))
        if self.models_dir:
            env["OLLAMA_MODELS"] = str(self.models_dir)
        env.update(self.extra_env)
        return env

    def start(self, *, timeout: float = 60.0, detach: bool = False) -> "OllamaServer":
        if self.models_dir:
            Path(self.models_dir).mkdir(parents=True, exist_ok=True)
        if self.log_path:
            Path(self.log_path).parent.mkdir(parents=True, exist_ok=True)
        self.process = spawn_logged([str(self.binary), "serve"], self.log_path, env=self.env(),
                                    start_new_session=detach)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BackendUnavailable(
                    f"`{self.binary} serve` exited with code {self.process.returncode} on {self.url}",
                    hint=f"see its log at {self.log_path}" if self.log_path else "run it by hand to see why",
                )
            if is_reachable(self.url, timeout=1.0):
                return self
            time.sleep(0.2)
        self.stop()
        raise BackendUnavailable(f"`ollama serve` did not answer on {self.url} within {timeout:.0f}s",
                                 hint=f"see its log at {self.log_path}" if self.log_path
                                 else "another program may hold the port: set OLLAMA_HOST to a free one")

    def stop(self, timeout: float = 15.0) -> None:
        stop_process(self.process, timeout)

    def __enter__(self) -> "OllamaServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------- the user's managed daemon
def _pid_file(settings: Settings) -> Path:
    return settings.home / "ollama.pid"


def managed_pid(settings: Settings) -> int | None:
    try:
        pid = int(_pid_file(settings).read_text().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def start_managed(settings: Settings | None = None, *, timeout: float = 60.0) -> OllamaServer:
    """Start ``ollama serve`` in the background on ``OLLAMA_HOST`` (a loopback address)."""
    settings = settings or Settings.from_env()
    url = settings.ollama_host
    if not _is_loopback(url):
        raise BackendUnavailable(
            f"refusing to start a local Ollama for the remote address {url}",
            hint="start Ollama on that machine, or unset OLLAMA_HOST",
        )
    parts = urlsplit(url)
    server = OllamaServer(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 11434,
        log_path=settings.home / "logs" / "ollama.log",
    )
    server.start(timeout=timeout, detach=True)
    _pid_file(settings).parent.mkdir(parents=True, exist_ok=True)
    _pid_file(settings).write_text(f"{server.process.pid} {url}\n")
    return server


def stop_managed(settings: Settings | None = None) -> bool:
    settings = settings or Settings.from_env()
    pid = managed_pid(settings)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.1)
    _pid_file(settings).unlink(missing_ok=True)
    return True


def ensure_ollama(settings: Settings | None = None, *, autostart: bool = True) -> tuple[str, bool]:
    """Return ``(url, started)``: the configured Ollama answers, or we start the managed one on loopback."""
    settings = settings or Settings.from_env()
    if is_reachable(settings.ollama_host):
        return settings.ollama_host, False
    if not autostart or not _is_loopback(settings.ollama_host):
        raise BackendUnavailable(
            f"cannot reach Ollama at {settings.ollama_host}",
            hint=f"is `ollama serve` running at {settings.ollama_host}? Start one with `tanuki ollama start`",
        )
    start_managed(settings)
    return settings.ollama_host, True
