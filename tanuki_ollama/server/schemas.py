"""Request bodies of the Ollama-compatible (``/api``) and OpenAI-compatible (``/v1``) APIs.

They accept unknown fields (clients send more than we use) and describe the wire for the OpenAPI spec.
Responses are built as plain dicts in Ollama's and OpenAI's exact shapes (see ``ollama_api``/``openai_api``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..types import Message, ToolCall

KeepAlive = str | int | float | None
Format = Literal["json"] | dict[str, Any] | None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------------------------------------- Ollama
class OllamaFunctionCall(_Wire):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class OllamaToolCall(_Wire):
    function: OllamaFunctionCall


class OllamaMessage(_Wire):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[str] | None = None
    tool_calls: list[OllamaToolCall] | None = None
    tool_name: str | None = None

    def to_message(self) -> Message:
        calls = [ToolCall(name=c.function.name, arguments=c.function.arguments) for c in self.tool_calls or []]
        return Message(role=self.role, content=self.content, tool_calls=calls, tool_name=self.tool_name)


class ChatRequest(_Wire):
    model: str = Field(min_length=1)
    messages: list[OllamaMessage] = Field(default_factory=list)
    tools: list[dict[str, Any]] | None = None
    format: Format = None
    options: dict[str, Any] | None = None
    stream: bool = True
    keep_alive: KeepAlive = None


class GenerateRequest(_Wire):
    model: str = Field(min_length=1)
    prompt: str = ""
    suffix: str | None = None
    system: str | None = None
    raw: bool = False
    format: Format = None
    options: dict[str, Any] | None = None
    stream: bool = True
    keep_alive: KeepAlive = None


class ShowRequest(_Wire):
    model: str = Field("", description="the model (older clients send `name`)")
    name: str | None = None
    verbose: bool = False

    @model_validator(mode="after")
    def _name(self) -> ShowRequest:
        if not self.model and self.name:
            self.model = self.name
        if not self.model:
            raise ValueError("model is required")
        return self


class EmbedRequest(_Wire):
    model: str = Field(min_length=1)
    input: str | list[str] = ""
    truncate: bool = True
    options: dict[str, Any] | None = None
    keep_alive: KeepAlive = None


# ---------------------------------------------------------------------------------------------- OpenAI
class OAIFunctionCall(_Wire):
    name: str
    arguments: str = "{}"


class OAIToolCall(_Wire):
    id: str = ""
    type: Literal["function"] = "function"
    function: OAIFunctionCall


class OAIMessage(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[OAIToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") in ("text", None))
        return self.content or ""


class ResponseFormat(_Wire):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None


class StreamOptions(_Wire):
    include_usage: bool = False


class ChatCompletionRequest(_Wire):
    model: str = Field(min_length=1)
    messages: list[OAIMessage] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: ResponseFormat | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: Literal[1] = 1

    def engine_messages(self) -> list[Message]:
        """OpenAI messages -> engine messages (tool results get the name of the call they answer)."""
        names: dict[str, str] = {}
        out: list[Message] = []
        for m in self.messages:
            calls = []
            for c in m.tool_calls or []:
                names[c.id] = c.function.name
                calls.append(ToolCall(name=c.function.name, arguments=_json_object(c.function.arguments)))
            role = "system" if m.role == "developer" else m.role
            tool_name = names.get(m.tool_call_id or "", m.name) if m.role == "tool" else None
            out.append(Message(role=role, content=m.text(), tool_calls=calls, tool_name=tool_name))
        return out

    def engine_tools(self) -> list[dict[str, Any]] | None:
        return None if self.tool_choice == "none" else self.tools

    def engine_format(self) -> str | dict[str, Any] | None:
        """``response_format`` as an engine format; a forced tool call (``tool_choice``) is a format too."""
        from .toolcalls import call_schema

        if self.tools and self.tool_choice == "required":
            return call_schema(self.tools)
        if self.tools and isinstance(self.tool_choice, dict):
            return call_schema(self.tools, (self.tool_choice.get("function") or {}).get("name"))
        rf = self.response_format
        if rf is None or rf.type == "text":
            return None
        if rf.type == "json_object":
            return "json"
        schema = (rf.json_schema or {}).get("schema")
        return schema if isinstance(schema, dict) and schema else "json"

    def engine_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        for src, dst in (("temperature", "temperature"), ("top_p", "top_p"), ("seed", "seed")):
            if getattr(self, src) is not None:
                opts[dst] = getattr(self, src)
        limit = self.max_completion_tokens or self.max_tokens
        if limit:
            opts["num_predict"] = limit
        if self.stop:
            opts["stop"] = [self.stop] if isinstance(self.stop, str) else list(self.stop)
        return opts


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_value": value}
