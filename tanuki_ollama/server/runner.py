"""Running the app: ``serve`` (the foreground server of ``tanuki serve``) and ``BackgroundServer`` (a real
uvicorn server on a loopback port in a thread, for benchmarks and tests).

Graceful shutdown: on SIGTERM/SIGINT readiness turns false at once (``/readyz`` answers 503, so a load balancer
stops sending), the listener closes, and open streams get ``graceful_timeout_s`` to finish.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn

from ..errors import BackendUnavailable, ConfigError
from ..ollama_server import free_port
from .app import create_app
from .config import ServeConfig
from .store import Store


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: Any):
        super().__init__(config)
        self.tanuki_app = app

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.tanuki_app.state.gateway.draining = True
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Like uvicorn's, but a drained shutdown exits 0 instead of re-raising the signal."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def uvicorn_config(app: Any, config: ServeConfig, port: int | None = None) -> uvicorn.Config:
    return uvicorn.Config(app, host=config.host, port=config.port if port is None else port, access_log=False,
                          log_level="warning", timeout_graceful_shutdown=int(config.graceful_timeout_s) or None,
                          lifespan="off", server_header=False, timeout_keep_alive=30)


def check_port_free(host: str, port: int) -> None:
    """Fail with a hint before anything starts when host:port is taken (uvicorn would only log the error)."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        return  # uvicorn reports an unknown host itself
    with socket.socket(family, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return
            raise ConfigError(f"{host}:{port} is already in use by another program",
                              hint="stop it (Ollama listens on 11434, tanuki serve on 11435), or pick another "
                                   "--port") from None


def serve(config: ServeConfig, *, engine: Any = None, store: Store | None = None) -> None:
    """Serve until interrupted. Refuses a non-loopback address without auth before anything starts."""
    config.check_binding()
    check_port_free(config.host, config.port)
    app = create_app(config, engine, store)
    gw = app.state.gateway
    log = __import__("logging").getLogger("tanuki.server")
    if config.auth_required() and not any(not k.revoked for k in gw.store.list_keys()):
        log.warning("auth is on and the store has no active key: every request will get 401; "
                    "create one with `tanuki keys create NAME`")
    log.info("serving", extra={"fields": {"host": config.host, "port": config.port, "engine": config.engine,
                                          "auth": config.auth_required(), "store": gw.store.url.split("@")[-1]}})
    try:
        _Server(uvicorn_config(app, config), app).run()
    finally:
        close = getattr(gw.engine, "close", None)  # e.g. the hot-swap engine stops its llama-server
        if callable(close):
            close()
        gw.store.close()


class BackgroundServer:
    """``with BackgroundServer(app) as url:`` a real HTTP server on 127.0.0.1:<free port> in a thread."""

    def __init__(self, app: Any, config: ServeConfig | None = None, port: int | None = None):
        self.app = app
        self.config = config or ServeConfig()
        self.port = port or free_port(self.config.host)
        self.server = _Server(uvicorn_config(app, self.config, self.port), app)
        self.thread = threading.Thread(target=self.server.run, name="tanuki-serve", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.started:
                return self.url
            time.sleep(0.02)
        raise BackendUnavailable(f"tanuki serve did not start on {self.url} within {timeout:.0f}s",
                                 hint="is the port taken? pass another with --port")

    def stop(self, timeout: float = 15.0) -> None:
        self.app.state.gateway.draining = True
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_ready(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise BackendUnavailable(f"{url} is not healthy after {timeout:.0f}s",
                             hint=f"check the server's log and `curl {url}/readyz`")
