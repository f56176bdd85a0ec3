"""The seams. Concrete classes do not inherit from these; they only match them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from .types import ChatChunk, ChatResult, Message, ModelDetails, ModelInfo, RunningModel

if TYPE_CHECKING:
    from .sandbox.protocol import Phase, PhaseOutcome

JSONSchema = dict[str, Any]


@runtime_checkable
class Engine(Protocol):
    """An LLM backend: Ollama, tanuki's llama-server hot-swap engine, or the scripted test engine.

    ``options`` are Ollama runner/sampling options (``num_ctx``, ``temperature``, ``seed``, ``num_predict``...).
    ``format`` is ``"json"`` or a JSON schema the answer must satisfy.
    """

    name: str

    def chat(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[JSONSchema] | None = None,
        format: str | JSONSchema | None = None,
        options: dict[str, Any] | None = None,
        keep_alive: str | int | None = None,
    ) -> ChatResult: ...

    def chat_stream(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[JSONSchema] | None = None,
        format: str | JSONSchema | None = None,
        options: dict[str, Any] | None = None,
        keep_alive: str | int | None = None,
    ) -> Iterator[ChatChunk]: ...

    def generate(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        suffix: str | None = None,
        raw: bool = False,
        format: str | JSONSchema | None = None,
        options: dict[str, Any] | None = None,
        keep_alive: str | int | None = None,
    ) -> ChatResult: ...

    def count_tokens(self, model: str, text: str) -> int: ...

    def list_models(self) -> list[ModelInfo]: ...

    def show(self, model: str) -> ModelDetails: ...

    def running(self) -> list[RunningModel]: ...

    def load(self, model: str, *, keep_alive: str | int | None = None, options: dict[str, Any] | None = None) -> None: ...

    def unload(self, model: str) -> None: ...

    def version(self) -> str: ...


@runtime_checkable
class SandboxBackend(Protocol):
    """Runs a sandbox ``Phase`` isolated from the host. ``isolation`` is ``"full"`` when memory, processes,
    network, filesystem and syscalls are all confined; ``"reduced"`` names what is missing in ``warnings``."""

    name: str
    isolation: Literal["full", "reduced"]
    warnings: list[str]

    def execute(self, phase: "Phase") -> "PhaseOutcome": ...

    def sandbox_paths(self) -> dict[str, str]:
        """Where toolchains live inside the sandbox (for the language table's ``{placeholders}``)."""
        ...
