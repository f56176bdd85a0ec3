"""The Ollama-compatible API (``/api/...``), so editor integrations that speak Ollama work unchanged.

Differences from Ollama, on purpose: ``/api/generate`` with ``stream: true`` sends the whole answer in one chunk
(engines generate completions in one call); the model ``tanuki`` is the orchestrated team (needs the ``tools``
scope and a server workspace); ``/api/runs`` and ``/api/runs/{id}`` are tanuki extensions (run journals).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..types import ChatChunk, ChatResult, Message, ModelDetails, ModelInfo, Usage
from .gateway import ApiError, Gateway, Principal
from .ops import now_iso
from .schemas import ChatRequest, EmbedRequest, GenerateRequest, ShowRequest
from .team import team_stream

router = APIRouter(tags=["ollama"])
NDJSON = "application/x-ndjson"


def gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def principal(request: Request, scope: str, *, tokens: int = 0) -> Principal:
    gw = gateway(request)
    p = gw.authenticate(request.headers.get("authorization"), request.headers.get("x-api-key"))
    request.state.key_id = p.key_id
    gw.authorize(p, scope)
    gw.charge(p, tokens=tokens)
    return p


def estimate_tokens(*texts: str) -> int:
    """A cheap upper-ish estimate (4 characters a token) charged before the engine counts for real."""
    return sum(len(t) for t in texts) // 4 + 1


def keep_alive(value: Any) -> str | int | None:
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def check_format(fmt: Any) -> None:
    if fmt is not None and fmt != "json" and not isinstance(fmt, dict):
        raise ApiError(400, 'format must be "json" or a JSON schema object')


# ---------------------------------------------------------------------------------------------- wire shapes
def durations(usage: Usage | None) -> dict[str, Any]:
    u = usage or Usage()
    return {"total_duration": int(u.total_duration_s * 1e9), "load_duration": int(u.load_duration_s * 1e9),
            "prompt_eval_count": u.prompt_tokens, "eval_count": u.completion_tokens}


def message_wire(content: str, tool_calls: list) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        out["tool_calls"] = [{"function": {"name": c.name, "arguments": c.arguments}} for c in tool_calls]
    return out


def chat_chunk_wire(chunk: ChatChunk, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "created_at": now_iso(),
                           "message": message_wire(chunk.content, chunk.tool_calls), "done": chunk.done}
    if chunk.done:
        out["done_reason"] = chunk.done_reason or "stop"
        out.update(durations(chunk.usage))
    run = getattr(chunk, "run", None)
    if run:
        out["tanuki_run"] = run
    return out


def tagged(name: str) -> str:
    """Ollama names always carry a tag: ``coder`` -> ``coder:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def model_wire(m: ModelInfo) -> dict[str, Any]:
    name = tagged(m.name)
    return {"name": name, "model": name, "modified_at": "1970-01-01T00:00:00Z", "size": m.size_bytes,
            "digest": m.digest or "0" * 64,
            "details": {"parent_model": "", "format": "gguf", "family": m.family, "families": [m.family] if m.family else None,
                        "parameter_size": m.parameter_size, "quantization_level": m.quantization}}


def show_wire(d: ModelDetails) -> dict[str, Any]:
    params = []
    for key, value in d.parameters.items():
        for v in value if isinstance(value, list) else [value]:
            params.append(f'{key} "{v}"' if key == "stop" else f"{key} {v}")
    arch = d.architecture or "unknown"
    modelfile = [f"# Modelfile served by tanuki for {d.name}", f"FROM {d.name}"]
    if d.template:
        modelfile.append(f'TEMPLATE """{d.template}"""')
    if d.system:
        modelfile.append(f'SYSTEM """{d.system}"""')
    modelfile += [f"PARAMETER {p}" for p in params]
    return {"modelfile": "\n".join(modelfile), "parameters": "\n".join(params), "template": d.template,
            "system": d.system, "capabilities": d.capabilities, "modified_at": "1970-01-01T00:00:00Z",
            "details": {"parent_model": "", "format": "gguf", "family": arch, "families": [arch],
                        "parameter_size": "", "quantization_level": ""},
            "model_info": {"general.architecture": arch, f"{arch}.context_length": d.context_length}}


async def ndjson(items: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for item in items:
        yield (json.dumps(item) + "\n").encode()


# ---------------------------------------------------------------------------------------------- models
@router.get("/api/version")
@router.head("/api/version", include_in_schema=False)
async def version(request: Request) -> dict[str, str]:
    gw = gateway(request)
    from starlette.concurrency import run_in_threadpool

    return {"version": await run_in_threadpool(gw.version)}


@router.get("/api/tags")
async def tags(request: Request) -> dict[str, Any]:
    gw = gateway(request)
    principal(request, "models")
    models = await gw.call(gw.list_models)
    return {"models": [model_wire(m) for m in models]}


@router.post("/api/show")
async def show(body: ShowRequest, request: Request) -> dict[str, Any]:
    gw = gateway(request)
    principal(request, "models")
    return show_wire(await gw.call(lambda: gw.show(body.model)))


@router.get("/api/ps")
async def ps(request: Request) -> dict[str, Any]:
    gw = gateway(request)
    principal(request, "models")
    running = await gw.call(gw.engine.running)
    return {"models": [{"name": m.name, "model": m.name, "size": m.size_bytes, "size_vram": m.size_vram_bytes,
                        "digest": "0" * 64, "expires_at": m.expires_at or "0001-01-01T00:00:00Z",
                        "context_length": m.context_length,
                        "details": {"parent_model": "", "format": "gguf", "family": "", "families": None,
                                    "parameter_size": "", "quantization_level": ""}} for m in running]}


# ---------------------------------------------------------------------------------------------- generation
async def _load_or_unload(gw: Gateway, model: str, ka: Any, *, chat: bool) -> dict[str, Any]:
    unload = ka == 0 or ka == "0" or ka == "0s"
    if not gw.is_team(model):
        gw.check_exposed(model)
        if unload:
            await gw.call(lambda: gw.engine.unload(model))
        else:
            await gw.call(lambda: gw.engine.load(model, keep_alive=ka))
    out: dict[str, Any] = {"model": model, "created_at": now_iso(), "done": True,
                           "done_reason": "unload" if unload else "load"}
    if chat:
        out["message"] = {"role": "assistant", "content": ""}
    else:
        out["response"] = ""
    return out


def _stream_maker(gw: Gateway, model: str, messages: list[Message], *, tools=None, fmt=None, options=None, ka=None):
    if gw.is_team(model):
        cfg = gw.config
        return lambda: team_stream(messages, engine=gw.engine, store=gw.store, workspace=cfg.workspace,
                                   family=cfg.family, model=model, metrics=gw.metrics)
    return gw.chat_stream(model, messages, tools=tools, format=fmt, options=options, keep_alive=ka)


async def chat_chunks(gw: Gateway, p: Principal, model: str, messages: list[Message], **kw: Any):
    """The engine (or team) stream for a chat, admitted and started; tokens are charged at the end."""
    stream = await gw.open_stream(_stream_maker(gw, model, messages, **kw))

    async def charged() -> AsyncIterator[ChatChunk]:
        async for chunk in stream:
            if chunk.done and chunk.usage:
                gw.charge_after(p, chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            yield chunk

    return charged()


async def complete(gw: Gateway, p: Principal, model: str, messages: list[Message], *, tools=None, fmt=None,
                   options=None, ka=None) -> ChatChunk:
    """A whole answer as one final chunk: one engine call for agents, the collected run for the team."""
    if gw.is_team(model):
        last, text, calls = await collect(await chat_chunks(gw, p, model, messages))
        return last.model_copy(update={"content": text, "tool_calls": calls})
    chunk = await gw.call(lambda: gw.chat_once(model, messages, tools=tools, format=fmt, options=options,
                                                keep_alive=ka))
    if chunk.usage:
        gw.charge_after(p, chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
    return chunk


async def collect(chunks: AsyncIterator[ChatChunk]) -> tuple[ChatChunk, str, list]:
    text, calls, last = [], [], None
    async for chunk in chunks:
        text.append(chunk.content)
        calls.extend(chunk.tool_calls)
        last = chunk
    if last is None:
        raise ApiError(502, "the engine returned nothing")
    return last, "".join(text), calls


@router.post("/api/chat")
async def chat(body: ChatRequest, request: Request) -> Response:
    gw = gateway(request)
    messages = [m.to_message() for m in body.messages]
    p = principal(request, gw.scope_for(body.model), tokens=estimate_tokens(*(m.content for m in messages)))
    check_format(body.format)
    ka = keep_alive(body.keep_alive)
    if not messages:
        return JSONResponse(await _load_or_unload(gw, body.model, ka, chat=True))
    kw = {"tools": body.tools, "fmt": body.format, "options": body.options, "ka": ka}
    if not body.stream:
        return JSONResponse(chat_chunk_wire(await complete(gw, p, body.model, messages, **kw), body.model))
    chunks = await chat_chunks(gw, p, body.model, messages, **kw)

    async def wire() -> AsyncIterator[dict[str, Any]]:
        async for chunk in chunks:
            yield chat_chunk_wire(chunk, body.model)

    return StreamingResponse(ndjson(wire()), media_type=NDJSON)


def _generate_wire(model: str, result: ChatResult | None, text: str, done: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "created_at": now_iso(), "response": text, "done": done}
    if done and result is not None:
        out["done_reason"] = result.done_reason or "stop"
        out.update(durations(result.usage))
    return out


@router.post("/api/generate")
async def generate(body: GenerateRequest, request: Request) -> Response:
    gw = gateway(request)
    p = principal(request, gw.scope_for(body.model),
                  tokens=estimate_tokens(body.prompt, body.suffix or "", body.system or ""))
    check_format(body.format)
    ka = keep_alive(body.keep_alive)
    if not body.prompt and not body.suffix:
        return JSONResponse(await _load_or_unload(gw, body.model, ka, chat=False))
    if gw.is_team(body.model):
        last = await complete(gw, p, body.model, [Message(role="user", content=body.prompt)])
        result = ChatResult(model=body.model, message=Message(role="assistant", content=last.content),
                            done_reason=last.done_reason, usage=last.usage or Usage())
    else:
        gw.check_exposed(body.model)
        result = await gw.call(lambda: gw.engine.generate(
            body.model, body.prompt, system=body.system, suffix=body.suffix, raw=body.raw, format=body.format,
            options=body.options, keep_alive=ka))
        gw.charge_after(p, result.usage.prompt_tokens, result.usage.completion_tokens)
    if not body.stream:
        return JSONResponse(_generate_wire(body.model, result, result.message.content, True))

    async def wire() -> AsyncIterator[dict[str, Any]]:
        yield _generate_wire(body.model, None, result.message.content, False)
        yield _generate_wire(body.model, result, "", True)

    return StreamingResponse(ndjson(wire()), media_type=NDJSON)


def _embed(engine: Any, body: EmbedRequest) -> dict[str, Any]:
    inputs = [body.input] if isinstance(body.input, str) else list(body.input)
    if hasattr(engine, "embed"):
        vectors = engine.embed(body.model, inputs, options=body.options, keep_alive=body.keep_alive)
        return {"model": body.model, "embeddings": vectors}
    if hasattr(engine, "raw_request"):  # the Ollama engine: forward to its /api/embed
        payload = {"model": body.model, "input": inputs, "truncate": body.truncate}
        if body.options:
            payload["options"] = body.options
        if body.keep_alive is not None:
            payload["keep_alive"] = body.keep_alive
        return engine.raw_request("POST", "/api/embed", payload)
    raise ApiError(501, f"the {getattr(engine, 'name', '?')} engine has no embeddings")


@router.post("/api/embed")
async def embed(body: EmbedRequest, request: Request) -> dict[str, Any]:
    gw = gateway(request)
    inputs = [body.input] if isinstance(body.input, str) else body.input
    principal(request, "chat", tokens=estimate_tokens(*inputs))
    if gw.is_team(body.model):
        raise ApiError(400, "the tanuki team has no embeddings; use an agent model")
    gw.check_exposed(body.model)
    return await gw.call(lambda: _embed(gw.engine, body))


# ---------------------------------------------------------------------------------------------- run journals
@router.get("/api/runs", tags=["tanuki"])
async def runs(request: Request) -> dict[str, Any]:
    gw = gateway(request)
    principal(request, "tools")
    return {"runs": gw.store.list_runs()}


@router.get("/api/runs/{run_id}", tags=["tanuki"])
async def run_events(run_id: str, request: Request, after: int = 0) -> dict[str, Any]:
    gw = gateway(request)
    principal(request, "tools")
    events = gw.store.events(run_id, after=after)
    if not events and after == 0:
        raise ApiError(404, f"no run {run_id!r}")
    return {"run_id": run_id, "events": [e.model_dump() for e in events]}
