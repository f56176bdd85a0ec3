"""The HTTP-independent core of ``tanuki serve``: who is calling (keys, scopes, rate limits), which model is meant
(the ``tanuki`` team or an engine model), and running engine calls through the admission queue.

The Ollama and OpenAI routers only translate wire formats to and from these calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from ..errors import (
    BackendUnavailable,
    CapabilityMissing,
    ConfigError,
    EngineError,
    ModelNotFound,
    TanukiError,
)
from ..types import ChatChunk, Message, ModelDetails, ModelInfo
from .config import OLLAMA_COMPAT_VERSION, TEAM_MODEL, ServeConfig
from .ops import Admission, Metrics, Overloaded
from .store import ApiKey, Store
from .toolcalls import parse_tool_calls, tool_names, with_text_tool_calls

T = TypeVar("T")


class ApiError(Exception):
    """An HTTP error with a status; routers render it in their API's error shape."""

    def __init__(self, status: int, message: str, *, retry_after_s: float | None = None, code: str = ""):
        super().__init__(message)
        self.status, self.message, self.retry_after_s, self.code = status, message, retry_after_s, code

    def headers(self) -> dict[str, str]:
        if self.retry_after_s is None:
            return {}
        return {"Retry-After": str(max(1, int(self.retry_after_s + 0.999)))}


def api_error(exc: Exception) -> ApiError:
    """Map tanuki errors to HTTP statuses (the hint travels in the message)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, Overloaded):
        return ApiError(503, exc.message, retry_after_s=exc.retry_after_s, code="overloaded")
    text = str(exc)
    if isinstance(exc, ModelNotFound):
        return ApiError(404, text, code="model_not_found")
    if isinstance(exc, ConfigError):
        return ApiError(400, text, code="invalid_request")
    if isinstance(exc, CapabilityMissing):
        return ApiError(501, text, code="not_supported")
    if isinstance(exc, BackendUnavailable):
        return ApiError(503, text, retry_after_s=5, code="engine_unavailable")
    if isinstance(exc, EngineError):
        return ApiError(502, text, code="engine_error")
    if isinstance(exc, TanukiError):
        return ApiError(500, text, code="internal")
    return ApiError(500, "internal error", code="internal")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key, or ``anonymous`` when auth is off (loopback only)."""

    key_id: str
    key: ApiKey | None = None

    def allows(self, scope: str) -> bool:
        return self.key is None or self.key.allows(scope)


class Gateway:
    def __init__(self, config: ServeConfig, engine: Any, store: Store, metrics: Metrics | None = None):
        self.config, self.engine, self.store = config, engine, store
        self.metrics = metrics or Metrics()
        self.admission = Admission(config.max_concurrency, config.max_queue, config.queue_timeout_s, self.metrics)
        self.draining = False
        self._version: tuple[float, str] | None = None

    # ------------------------------------------------------------------ who
    def authenticate(self, authorization: str | None, api_key_header: str | None = None) -> Principal:
        secret = api_key_header or ""
        if authorization and authorization.lower().startswith("bearer "):
            secret = authorization[7:].strip()
        if not self.config.auth_required():
            return Principal("anonymous")
        if not secret:
            raise ApiError(401, "an API key is required: send `Authorization: Bearer <key>` "
                                "(create one with `tanuki keys create NAME`)", code="unauthorized")
        key = self.store.verify_key(secret)
        if key is None:
            raise ApiError(401, "unknown API key", code="unauthorized")
        if key.revoked:
            raise ApiError(401, f"API key {key.id} was revoked", code="unauthorized")
        return Principal(key.id, key)

    def authorize(self, principal: Principal, scope: str) -> None:
        if not principal.allows(scope):
            self.metrics.rejected.labels("scope").inc()
            raise ApiError(403, f"key {principal.key_id} lacks the `{scope}` scope", code="forbidden")

    def charge(self, principal: Principal, *, requests: int = 1, tokens: int = 0) -> None:
        """Take one request (and the tokens known so far) from the caller's window, or raise 429."""
        limit = self.config.rate_limit
        if not limit.requests and not limit.tokens:
            return
        decision = self.store.consume(principal.key_id, self.config.rate_limit, requests=requests, tokens=tokens)
        if not decision.allowed:
            self.metrics.rejected.labels(f"rate_{decision.reason}").inc()
            raise ApiError(429, f"rate limit ({decision.reason}s per {self.config.rate_limit.window_s:.0f}s) "
                                f"reached for {principal.key_id}", retry_after_s=decision.retry_after_s,
                           code="rate_limited")

    def charge_after(self, principal: Principal, prompt_tokens: int, completion_tokens: int) -> None:
        self.metrics.tokens.labels("prompt").inc(prompt_tokens)
        self.metrics.tokens.labels("completion").inc(completion_tokens)
        if self.config.rate_limit.tokens:
            self.store.add_tokens(principal.key_id, self.config.rate_limit, completion_tokens)

    def scope_for(self, model: str) -> str:
        return "tools" if self.is_team(model) else "chat"

    # ------------------------------------------------------------------ which model
    @staticmethod
    def is_team(model: str) -> bool:
        return model in (TEAM_MODEL, f"{TEAM_MODEL}:latest")

    def check_exposed(self, model: str) -> None:
        allowed = self.config.expose_models
        if allowed and not self.is_team(model) and model not in allowed and model.removesuffix(":latest") not in allowed:
            raise ModelNotFound(f"model {model!r} is not served here", hint=f"served: {', '.join(allowed)}")

    def list_models(self) -> list[ModelInfo]:
        models = [m for m in self.engine.list_models()
                  if not self.config.expose_models or m.name.removesuffix(":latest") in self.config.expose_models
                  or m.name in self.config.expose_models]
        team = ModelInfo(name=f"{TEAM_MODEL}:latest", family="tanuki-team", parameter_size="team")
        return [team, *models]

    def show(self, model: str) -> ModelDetails:
        if self.is_team(model):
            return ModelDetails(name=TEAM_MODEL, capabilities=["completion"], context_length=32768,
                                architecture="tanuki-team",
                                system="The orchestrated tanuki team: each chat turn becomes a run on the "
                                       "server's workspace; the answer is the summary, evidence and diff.")
        self.check_exposed(model)
        return self.engine.show(model)

    def version(self) -> str:
        """The engine's version when it is an Ollama (clients gate features on it), cached for 30 s."""
        now = time.monotonic()
        if self._version is None or now - self._version[0] > 30:
            try:
                v = str(self.engine.version())
            except TanukiError:
                v = ""
            parts = v.split(".")
            self._version = (now, v if len(parts) == 3 and all(p.isdigit() for p in parts) and v != "0.0.0"
                             else OLLAMA_COMPAT_VERSION)
        return self._version[1]

    # ------------------------------------------------------------------ running engine calls
    async def call(self, fn: Callable[[], T]) -> T:
        """One blocking engine call through the admission queue, with the request timeout."""
        await self.admission.acquire()
        try:
            return await asyncio.wait_for(run_in_threadpool(fn), self.config.request_timeout_s)
        except TimeoutError:
            raise ApiError(504, f"the engine did not answer within {self.config.request_timeout_s:.0f}s",
                           code="timeout") from None
        finally:
            self.admission.release()

    async def open_stream(self, make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """Admit, start the engine stream, and pull its first item before the response head goes out, so
        errors (unknown model, engine down) become proper HTTP statuses. The slot is held until the end."""
        await self.admission.acquire()
        iterator: Iterator[T] | None = None
        try:
            iterator = await run_in_threadpool(lambda: iter(make()))
            first = await run_in_threadpool(next, iterator, _END)
        except BaseException:
            self.admission.release()
            await _close(iterator)
            raise
        return self._rest(first, iterator)

    async def _rest(self, first: Any, iterator: Iterator[T]) -> AsyncIterator[T]:
        try:
            if first is _END:
                return
            yield first
            async for item in iterate_in_threadpool(iterator):
                yield item
        finally:
            self.admission.release()
            await _close(iterator)

    def chat_once(self, model: str, messages: list[Message], **kw: Any) -> ChatChunk:
        """One non-streamed chat (blocking; run it through :meth:`call`), as the final chunk of a stream."""
        self.check_exposed(model)
        result = self.engine.chat(model, messages, **kw)
        content, calls = result.message.content, result.message.tool_calls
        if not calls and kw.get("tools"):
            calls = parse_tool_calls(content, tool_names(kw["tools"]))
            content = "" if calls else content
        return ChatChunk(model=model, content=content, tool_calls=calls, done=True,
                         done_reason=result.done_reason, usage=result.usage)

    def chat_stream(self, model: str, messages: list[Message], **kw: Any) -> Callable[[], Iterator[ChatChunk]]:
        self.check_exposed(model)
        tools = kw.get("tools")
        return lambda: with_text_tool_calls(self.engine.chat_stream(model, messages, **kw), tools)


_END = object()


async def _close(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        await run_in_threadpool(close)
