"""Plain data passed across the seams (engines, tools, sandbox)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(BaseModel):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_name: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """Ollama's wire shape (tool-call arguments stay JSON objects)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [{"function": {"name": c.name, "arguments": c.arguments}} for c in self.tool_calls]
        if self.tool_name:
            out["tool_name"] = self.tool_name
        return out


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_duration_s: float = 0.0
    load_duration_s: float = 0.0


class ChatResult(BaseModel):
    model: str
    message: Message
    done_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)


class ChatChunk(BaseModel):
    """One piece of a streamed answer; the last one has ``done=True`` and the usage."""

    model: str
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    done: bool = False
    done_reason: str | None = None
    usage: Usage | None = None


class ModelInfo(BaseModel):
    name: str
    size_bytes: int = 0
    digest: str = ""
    family: str = ""
    parameter_size: str = ""
    quantization: str = ""


class RunningModel(BaseModel):
    name: str
    size_bytes: int = 0
    size_vram_bytes: int = 0
    context_length: int = 0
    expires_at: str | None = None


class ModelDetails(BaseModel):
    """What ``/api/show`` tells about one model."""

    name: str
    capabilities: list[str] = Field(default_factory=list)
    context_length: int = 0
    architecture: str = ""
    template: str = ""
    system: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    adapters: list[str] = Field(default_factory=list)
