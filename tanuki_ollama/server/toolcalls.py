"""Tool calls from small models.

Engines parse tool calls when the model emits its template's tags; small models often answer with the call as
plain text instead. When tools are offered, an answer that is exactly ``<tool_call>{json}</tool_call>`` (one or
more) or one bare JSON object ``{"name": <an offered tool>, "arguments": {...}}`` becomes a tool call.

Forcing a call (OpenAI ``tool_choice: "required"`` or a named function) constrains the answer with a JSON schema
of that shape, so even a 135M model produces a valid call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from ..types import ChatChunk, ToolCall

_TAGGED = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def tool_names(tools: list[dict[str, Any]] | None) -> set[str]:
    return {t.get("function", {}).get("name", "") for t in tools or []} - {""}


def parse_tool_calls(text: str, names: set[str]) -> list[ToolCall]:
    """
    >>> parse_tool_calls('{"name": "f", "arguments": {"x": 1}}', {"f"})
    [ToolCall(name='f', arguments={'x': 1})]
    >>> parse_tool_calls('<tool_call>{"name": "f", "arguments": {}}</tool_call>', {"f"})
    [ToolCall(name='f', arguments={})]
    >>> parse_tool_calls('{"name": "g", "arguments": {}}', {"f"})
    []
    """
    text = text.strip()
    bodies = _TAGGED.findall(text) if text.startswith("<tool_call>") else [text]
    calls = []
    for body in bodies:
        try:
            obj = json.loads(body)
        except json.JSONDecodeError:
            return []
        if not isinstance(obj, dict) or obj.get("name") not in names:
            return []
        args = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                return []
        if not isinstance(args, dict):
            return []
        calls.append(ToolCall(name=obj["name"], arguments=args))
    return calls


def call_schema(tools: list[dict[str, Any]], only: str | None = None) -> dict[str, Any]:
    """The JSON schema of one call to ``only`` (or to any of ``tools``)."""
    options = []
    for t in tools:
        fn = t.get("function", {})
        if fn.get("name") and (only is None or fn["name"] == only):
            params = fn.get("parameters") or {"type": "object"}
            options.append({"type": "object", "properties": {"name": {"const": fn["name"]}, "arguments": params},
                            "required": ["name", "arguments"]})
    if not options:
        return {"type": "object"}
    return options[0] if len(options) == 1 else {"anyOf": options}


def with_text_tool_calls(chunks: Iterator[ChatChunk], tools: list[dict[str, Any]] | None) -> Iterator[ChatChunk]:
    """Pass chunks through; when the answer may be a textual tool call, hold it back and convert it at the end."""
    names = tool_names(tools)
    if not names:
        yield from chunks
        return
    held: list[ChatChunk] = []
    deciding = True
    for chunk in chunks:
        if not deciding:
            yield chunk
            continue
        held.append(chunk)
        text = "".join(c.content for c in held).lstrip()
        if not chunk.done and (not text or text.startswith(("{", "<tool_call>"))
                               or "<tool_call>".startswith(text[:11])):
            continue  # still possibly a call
        deciding = False
        if chunk.done:
            calls = [] if any(c.tool_calls for c in held) else parse_tool_calls(text, names)
            if calls:
                yield chunk.model_copy(update={"content": "", "tool_calls": calls})
                return
        yield from held

