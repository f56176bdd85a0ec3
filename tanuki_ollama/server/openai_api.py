"""The OpenAI-compatible API (``/v1/chat/completions`` with SSE streaming, tools and ``response_format``;
``/v1/models``), for hosted use (e.g. behind OpenRouter) and the many tools that speak it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..types import ChatChunk, ToolCall, Usage
from .gateway import ApiError
from .ollama_api import chat_chunks, complete, estimate_tokens, gateway, principal
from .schemas import ChatCompletionRequest

router = APIRouter(prefix="/v1", tags=["openai"])
OWNER = "tanuki"


def model_object(name: str) -> dict[str, Any]:
    return {"id": name.removesuffix(":latest"), "object": "model", "created": 0, "owned_by": OWNER}


@router.get("/models")
async def models(request: Request) -> dict[str, Any]:
    gw = gateway(request)
    principal(request, "models")
    found = await gw.call(gw.list_models)
    return {"object": "list", "data": [model_object(m.name) for m in found]}


@router.get("/models/{model_id:path}")
async def model(model_id: str, request: Request) -> dict[str, Any]:
    gw = gateway(request)
    principal(request, "models")
    found = await gw.call(gw.list_models)
    for m in found:
        if model_id in (m.name, m.name.removesuffix(":latest")):
            return model_object(m.name)
    raise ApiError(404, f"model {model_id!r} not found", code="model_not_found")


def tool_calls_wire(calls: list[ToolCall], *, delta: bool) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(calls):
        item = {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
        out.append({"index": i, **item} if delta else item)
    return out


def finish_reason(chunk: ChatChunk, had_calls: bool) -> str:
    if had_calls:
        return "tool_calls"
    return "length" if chunk.done_reason == "length" else "stop"


def usage_wire(u: Usage | None) -> dict[str, int]:
    u = u or Usage()
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.prompt_tokens + u.completion_tokens}


@router.post("/chat/completions")
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    gw = gateway(request)
    messages = body.engine_messages()
    p = principal(request, gw.scope_for(body.model), tokens=estimate_tokens(*(m.content for m in messages)))
    kw = {"tools": body.engine_tools(), "fmt": body.engine_format(), "options": body.engine_options() or None}
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    base = {"id": cid, "created": created, "model": body.model}
    if not body.stream:
        last = await complete(gw, p, body.model, messages, **kw)
        text, calls = last.content, last.tool_calls
        message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
        if calls:
            message["tool_calls"] = tool_calls_wire(calls, delta=False)
        out = {**base, "object": "chat.completion",
               "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(last, bool(calls)),
                            "logprobs": None}], "usage": usage_wire(last.usage)}
        if getattr(last, "run", None):
            out["tanuki_run"] = last.run
        return JSONResponse(out)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = await chat_chunks(gw, p, body.model, messages, **kw)

    async def sse() -> AsyncIterator[bytes]:
        def event(choices: list, **extra: Any) -> bytes:
            payload = {**base, "object": "chat.completion.chunk", "choices": choices, **extra}
            return f"data: {json.dumps(payload)}\n\n".encode()

        yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        had_calls = False
        async for chunk in chunks:
            delta: dict[str, Any] = {}
            if chunk.content:
                delta["content"] = chunk.content
            if chunk.tool_calls:
                had_calls = True
                delta["tool_calls"] = tool_calls_wire(chunk.tool_calls, delta=True)
            if delta:
                yield event([{"index": 0, "delta": delta, "finish_reason": None}])
            if chunk.done:
                extra = {"tanuki_run": chunk.run} if getattr(chunk, "run", None) else {}
                yield event([{"index": 0, "delta": {}, "finish_reason": finish_reason(chunk, had_calls)}], **extra)
                if include_usage:
                    yield event([], usage=usage_wire(chunk.usage))
        yield b"data: [DONE]\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
