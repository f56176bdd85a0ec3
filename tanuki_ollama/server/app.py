"""``create_app(config, engine, store)``: the ASGI app of ``tanuki serve``.

Routes: the Ollama API (``/api/...``), the OpenAI API (``/v1/...``), ``/healthz``, ``/readyz``, ``/metrics``,
the OpenAPI spec (``/openapi.json``, committed as ``docs/openapi.json``) and the web UI (``/``, ``/ui/...``).

``GET /`` answers ``Ollama is running`` (text/plain) like Ollama, which clients probe; a browser (``Accept:
text/html``) gets the web UI instead.
"""

from __future__ import annotations

import logging
import time
import uuid
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from .. import __version__
from ..errors import TanukiError
from ..settings import Settings
from . import ollama_api, openai_api
from .config import ServeConfig
from .gateway import ApiError, Gateway, api_error
from .ops import BodyLimit, JsonBodies, LoopbackHosts, Metrics, configure_logging
from .store import Store, default_store_url, open_store

DESCRIPTION = """Ollama-compatible (`/api`) and OpenAI-compatible (`/v1`) API over the tanuki agents and the
orchestrated team (model `tanuki`). Authenticate with `Authorization: Bearer <key>` when the server requires keys."""


def build_engine(config: ServeConfig) -> Any:
    from ..engines import create_engine

    options = dict(config.engine_options)
    if config.engine == "ollama" and "host" not in options:
        options["host"] = Settings.from_env().ollama_host
    return create_engine(config.engine, **options)


def _static_dir() -> Any:
    return resources.files("tanuki_ollama.server") / "static"


def _error_body(path: str, err: ApiError) -> dict[str, Any]:
    if path.startswith("/v1"):
        kind = "invalid_request_error" if err.status < 500 else "server_error"
        return {"error": {"message": err.message, "type": kind, "code": err.code or None, "param": None}}
    return {"error": err.message}


class AccessLog:
    """ASGI middleware: one JSON log line and the metrics for every HTTP request (never headers or bodies)."""

    def __init__(self, app: Any, gateway: Gateway, log: logging.Logger):
        self.app, self.gateway, self.log = app, gateway, log

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = {"code": 500, "head_s": 0.0}
        scope.setdefault("state", {})["request_id"] = rid = uuid.uuid4().hex[:12]

        async def wrapped(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["head_s"] = message["status"], time.perf_counter() - start
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            m = self.gateway.metrics
            m.requests.labels(route, scope["method"], str(status["code"])).inc()
            m.latency.labels(route).observe(status["head_s"])
            self.log.info("request", extra={"fields": {
                "request_id": rid, "method": scope["method"], "route": route, "status": status["code"],
                "head_ms": round(status["head_s"] * 1e3, 2),
                "total_ms": round((time.perf_counter() - start) * 1e3, 2),
                "key_id": scope.get("state", {}).get("key_id", "-")}})


def create_app(config: ServeConfig | None = None, engine: Any = None, store: Store | None = None) -> FastAPI:
    config = config or ServeConfig()
    engine = engine if engine is not None else build_engine(config)
    store = store or open_store(config.store_url or default_store_url(Settings.from_env().home))
    gw = Gateway(config, engine, store, Metrics())
    log = configure_logging(config.log_json)

    app = FastAPI(title="tanuki serve", version=__version__, description=DESCRIPTION)
    app.state.gateway = gw
    app.include_router(ollama_api.router)
    app.include_router(openai_api.router)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_error_body(request.url.path, exc), status_code=exc.status, headers=exc.headers())

    @app.exception_handler(TanukiError)
    async def _tanuki_error(request: Request, exc: TanukiError) -> JSONResponse:
        return await _api_error(request, api_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return await _api_error(request, ApiError(400, f"invalid request: {where}: {first.get('msg', 'bad value')}",
                                                  code="invalid_request"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return await _api_error(request, ApiError(exc.status_code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return await _api_error(request, api_error(exc))

    @app.get("/", tags=["ops"], response_class=PlainTextResponse)
    @app.head("/", include_in_schema=False)
    async def root(request: Request) -> Response:
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse((_static_dir() / "index.html").read_text())
        return PlainTextResponse("Ollama is running")

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        checks = {"draining": gw.draining, "store": False, "engine": False}
        try:
            checks["store"] = await run_in_threadpool(store.ping)
            checks["engine"] = bool(await run_in_threadpool(engine.version))
        except TanukiError as exc:
            checks["error"] = exc.message
        ready = checks["store"] and checks["engine"] and not gw.draining
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        ollama_api.principal(request, "admin")
        return Response(generate_latest(gw.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.mount("/ui", StaticFiles(packages=[("tanuki_ollama.server", "static")]), name="ui")

    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=config.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type", "x-api-key"])
    app.add_middleware(JsonBodies)
    if not config.auth_required():
        app.add_middleware(LoopbackHosts, allowed=tuple(config.allowed_hosts))
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(AccessLog, gateway=gw, log=log)
    return app


def openapi_document() -> dict[str, Any]:
    """The spec the server serves at ``/openapi.json`` (it depends on no engine; ``docs/openapi.json`` is this)."""
    return create_app(ServeConfig(engine="scripted"), store=open_store("sqlite:///:memory:")).openapi()


def openapi_text() -> str:
    import json

    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
