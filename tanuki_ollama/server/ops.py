"""Operations: Prometheus metrics (one registry per app), the bounded admission queue, structured logs that
never carry secrets, and the body-size limit."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..errors import TanukiError

_SECRET_PATTERNS = [
    (re.compile(r"tk_[0-9a-f]{12}_[A-Za-z0-9_\-]+"), "tk_***"),
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1***"),
    (re.compile(r"(?i)(api[_-]?key[\"'=:\s]+)[^\s\"',}]+"), r"\1***"),
]


def redact(text: str) -> str:
    """
    >>> redact("Authorization: Bearer tk_0123456789ab_secret and sk-x")
    'Authorization: Bearer *** and sk-x'
    """
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                               "logger": record.name, "msg": record.getMessage()}
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, default=str))


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (it may be swapped, e.g. by test capture)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(json_logs: bool = True, level: int = logging.INFO) -> logging.Logger:
    """The ``tanuki.server`` logger, JSON lines on stderr, secrets redacted (also in uvicorn's own loggers)."""
    log = logging.getLogger("tanuki.server")
    if not any(isinstance(f, RedactingFilter) for f in log.filters):
        log.addFilter(RedactingFilter())
    if not log.handlers:
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        other = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in other.filters):
            other.addFilter(RedactingFilter())
    return log


class Metrics:
    """Per-app Prometheus metrics (no process-global registry, so several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("tanuki_requests_total", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram("tanuki_request_seconds", "Time to the response head", ["route"], registry=r,
                                 buckets=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100))
        self.inflight = Gauge("tanuki_engine_inflight", "Engine calls running", registry=r)
        self.waiting = Gauge("tanuki_queue_waiting", "Requests waiting for an engine slot", registry=r)
        self.rejected = Counter("tanuki_rejected_total", "Requests refused", ["reason"], registry=r)
        self.tokens = Counter("tanuki_tokens_total", "Tokens processed", ["kind"], registry=r)
        self.runs = Counter("tanuki_team_runs_total", "Runs of the tanuki team", ["status"], registry=r)


class Overloaded(TanukiError):
    """The admission queue is full, or a request waited too long for a slot (HTTP 503)."""

    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message, hint="retry after the Retry-After delay, or add replicas")
        self.retry_after_s = retry_after_s


class Admission:
    """At most ``slots`` engine calls at once; at most ``max_queue`` waiting; the rest are refused at once.

    Per replica by design: it protects this process's engine connection, not a shared budget.
    """

    def __init__(self, slots: int, max_queue: int, wait_timeout_s: float, metrics: Metrics):
        self.slots, self.max_queue, self.wait_timeout_s = slots, max_queue, wait_timeout_s
        self.metrics = metrics
        self._sem: asyncio.Semaphore | None = None
        self.waiting = 0
        self.active = 0

    def _semaphore(self) -> asyncio.Semaphore:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.slots)
        return self._sem

    async def acquire(self) -> None:
        sem = self._semaphore()
        # our own counters, updated before any await (the semaphore's state lags behind a burst of arrivals)
        if self.active + self.waiting >= self.slots + self.max_queue:
            self.metrics.rejected.labels("queue_full").inc()
            raise Overloaded(f"server busy: {self.active} running, {self.waiting} waiting", retry_after_s=1.0)
        self.waiting += 1
        self.metrics.waiting.set(self.waiting)
        try:
            await asyncio.wait_for(sem.acquire(), self.wait_timeout_s)
        except TimeoutError:
            self.metrics.rejected.labels("queue_timeout").inc()
            raise Overloaded(f"no engine slot within {self.wait_timeout_s:.0f}s", retry_after_s=2.0) from None
        finally:
            self.waiting -= 1
            self.metrics.waiting.set(self.waiting)
        self.active += 1
        self.metrics.inflight.set(self.active)

    def release(self) -> None:
        self.active -= 1
        self.metrics.inflight.set(self.active)
        self._semaphore().release()


class LoopbackHosts:
    """ASGI middleware for a server without API keys (loopback only): requests must name a loopback host in their
    ``Host`` header. A web page cannot then reach the server through DNS rebinding (its requests carry the
    attacker's host name), while every local client (``localhost``, ``127.0.0.1``, ``[::1]``, any port) works."""

    def __init__(self, app: Any, allowed: tuple[str, ...] = ()):
        self.app, self.allowed = app, frozenset(h.lower() for h in allowed)

    @staticmethod
    def host_of(header: str) -> str:
        """
        >>> [LoopbackHosts.host_of(h) for h in ("localhost:11435", "[::1]:80", "127.0.0.1", "evil.example:1")]
        ['localhost', '::1', '127.0.0.1', 'evil.example']
        """
        if header.startswith("["):
            return header[1:header.find("]")] if "]" in header else header
        return header.rsplit(":", 1)[0] if header.count(":") == 1 else header

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            from .config import is_loopback

            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            name = self.host_of(host).lower()
            if host and not is_loopback(name) and name not in self.allowed:
                body = json.dumps({"error": f"host {host!r} is not this server's: without API keys it answers "
                                            "only requests addressed to a loopback name (localhost, 127.0.0.1)",
                                   "hint": "address the server as localhost, or start it with --auth"}).encode()
                await send({"type": "http.response.start", "status": 421,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class JsonBodies:
    """ASGI middleware: API bodies are JSON whatever their Content-Type says, as in Ollama (Go decodes the body and
    never looks at the header). ``curl -d '{...}'`` sends ``application/x-www-form-urlencoded``, and Ollama's own
    docs use it without ``-H``; FastAPI would refuse such a body as "not a valid dictionary"."""

    PREFIXES = ("/api/", "/v1/")

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith(self.PREFIXES):
            headers = [(k, v) for k, v in scope.get("headers") or [] if k != b"content-type"]
            ctype = dict(scope.get("headers") or []).get(b"content-type", b"")
            if not ctype.split(b";")[0].strip().lower().endswith(b"json"):
                scope = {**scope, "headers": headers + [(b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: bodies over ``max_bytes`` get 413 before the app sees them (chunked bodies included)."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._too_large(send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await self._too_large(send)
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        payload = json.dumps({"error": f"request body over {self.max_bytes} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() % 1 * 1e6):06d}Z"
