"""A scripted engine for unit tests of pure logic: answers come from a list, every call is recorded.

It is registered as ``scripted`` in the same registry as the real engines, so code under test selects it by
name exactly as it would select ``ollama``. Never the only test of an integration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import EngineError, ModelNotFound
from ..types import ChatChunk, ChatResult, Message, ModelDetails, ModelInfo, RunningModel, ToolCall, Usage

_TOKEN = re.compile(r"\w+|[^\w\s]")

Script = str | dict[str, Any]


def count_words(text: str) -> int:
    """The scripted engine's tokenizer: words and punctuation marks."""
    return len(_TOKEN.findall(text))


class ScriptedEngine:
    """Returns ``responses`` in order (strings, or ``{"content": ..., "tool_calls": [...]}``).

    ``models`` lists the models it pretends to serve (any model when empty).
    """

    name = "scripted"

    def __init__(self, responses: Sequence[Script] = (), models: Sequence[str] = (), version: str = "scripted"):
        self.responses = list(responses)
        self.models = list(models)
        self.calls: list[dict[str, Any]] = []
        self.resident: dict[str, RunningModel] = {}
        self._version = version

    def _check(self, model: str) -> None:
        if self.models and model not in self.models:
            raise ModelNotFound(f"scripted engine has no model {model!r}", hint=f"known: {', '.join(self.models)}")

    def _next(self, model: str, kind: str, **call: Any) -> ChatResult:
        self._check(model)
        self.calls.append({"kind": kind, "model": model, **call})
        if not self.responses:
            raise EngineError("scripted engine ran out of responses", hint="give the test more responses")
        item = self.responses.pop(0)
        if isinstance(item, str):
            item = {"content": item}
        content = item.get("content", "")
        if not isinstance(content, str):
            content = json.dumps(content)
        calls = [ToolCall(**c) for c in item.get("tool_calls", [])]
        self.resident[model] = RunningModel(name=model, context_length=(call.get("options") or {}).get("num_ctx", 0))
        prompt_tokens = sum(count_words(m.content) for m in call.get("messages", [])) + count_words(
            call.get("prompt", "")
        )
        return ChatResult(
            model=model,
            message=Message(role="assistant", content=content, tool_calls=calls),
            done_reason="stop",
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=count_words(content)),
        )

    def chat(self, model, messages, *, tools=None, format=None, options=None, keep_alive=None) -> ChatResult:
        return self._next(
            model, "chat", messages=list(messages), tools=tools, format=format, options=options, keep_alive=keep_alive
        )

    def chat_stream(self, model, messages, *, tools=None, format=None, options=None, keep_alive=None) -> Iterator[ChatChunk]:
        result = self.chat(model, messages, tools=tools, format=format, options=options, keep_alive=keep_alive)
        pieces = re.findall(r"\S+\s*|\s+", result.message.content) or [""]
        for piece in pieces:
            yield ChatChunk(model=model, content=piece)
        yield ChatChunk(
            model=model, tool_calls=result.message.tool_calls, done=True, done_reason="stop", usage=result.usage
        )

    def generate(self, model, prompt, *, system=None, suffix=None, raw=False, format=None, options=None, keep_alive=None):
        return self._next(model, "generate", prompt=prompt, system=system, suffix=suffix, raw=raw, format=format,
                          options=options)

    def next_tokens(self, model, prompt, k=8, *, options=None, keep_alive=None) -> list[tuple[str, float]]:
        """The next scripted item when it is ``{"next_tokens": [[token, logprob], ...]}``; otherwise no tokens
        (and nothing is consumed), as from an engine without log-probabilities."""
        self._check(model)
        head = self.responses[0] if self.responses else None
        if not (isinstance(head, dict) and "next_tokens" in head):
            return []
        self.calls.append({"kind": "next_tokens", "model": model, "prompt": prompt, "k": k, "options": options})
        self.responses.pop(0)
        return [(str(t), float(lp)) for t, lp in head["next_tokens"]][:k]

    def count_tokens(self, model: str, text: str) -> int:
        return count_words(text)

    def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(name=m) for m in self.models]

    def show(self, model: str) -> ModelDetails:
        self._check(model)
        return ModelDetails(name=model, capabilities=["completion", "tools"], context_length=8192)

    def running(self) -> list[RunningModel]:
        return list(self.resident.values())

    def load(self, model: str, *, keep_alive=None, options=None) -> None:
        self._check(model)
        self.resident[model] = RunningModel(name=model, context_length=(options or {}).get("num_ctx", 0))

    def unload(self, model: str) -> None:
        self.resident.pop(model, None)

    def version(self) -> str:
        return self._version
