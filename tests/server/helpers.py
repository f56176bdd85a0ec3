"""Test engines for the server's own behaviour (concurrency, streaming, overload), selected by name like any
engine (``--engine tests.server.helpers:PacedEngine``). Model behaviour is tested against the real Ollama."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from tanuki_ollama.engines.scripted import ScriptedEngine
from tanuki_ollama.types import ChatChunk


class PacedEngine(ScriptedEngine):
    """A scripted engine that never runs out (answers cycle) and streams one word every ``delay_s``, like a
    model generating at 1/delay_s tokens per second."""

    name = "paced"

    def __init__(self, responses: Sequence[Any] = ("one two three",), models: Sequence[str] = ("paced",),
                 delay_s: float = 0.01, version: str = "0.32.15"):
        super().__init__(list(responses), models=models, version=version)
        self._cycle = itertools.cycle(list(responses))
        self.delay_s = delay_s
        self._lock = threading.Lock()

    def _next(self, model: str, kind: str, **call: Any):
        with self._lock:  # engine calls arrive from many server threads at once
            self.responses = [next(self._cycle)]
            self.calls.clear()  # bounded memory under load
            return super()._next(model, kind, **call)

    def chat_stream(self, model, messages, *, tools=None, format=None, options=None, keep_alive=None
                    ) -> Iterator[ChatChunk]:
        for chunk in super().chat_stream(model, messages, tools=tools, format=format, options=options,
                                         keep_alive=keep_alive):
            time.sleep(self.delay_s)
            yield chunk

    def embed(self, model: str, inputs: list[str], *, options=None, keep_alive=None) -> list[list[float]]:
        """Deterministic toy vectors (length, vowels, digits), normalised like a real embedding."""
        self._check(model)
        out = []
        for text in inputs:
            v = [float(len(text)) + 1, float(sum(c in "aeiou" for c in text)), float(sum(c.isdigit() for c in text))]
            norm = sum(x * x for x in v) ** 0.5
            out.append([x / norm for x in v])
        return out


class ListedScriptedEngine(ScriptedEngine):
    """The scripted engine answering any model (as the orchestrator's agents need) while listing ``listed``."""

    def __init__(self, responses: Sequence[Any], listed: Sequence[str]):
        super().__init__(list(responses))
        self.listed = list(listed)

    def list_models(self):
        from tanuki_ollama.types import ModelInfo

        return [ModelInfo(name=f"{m}:latest") for m in self.listed]
