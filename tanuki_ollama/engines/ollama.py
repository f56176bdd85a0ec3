"""The Ollama engine: the official ``ollama`` client against a real ``ollama serve``.

Every call goes through :meth:`OllamaEngine._call`, the one place where transport and server errors become
tanuki errors that name the fix. ``num_ctx`` is always sent: small models silently truncate at Ollama's default.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import ollama

from ..errors import BackendUnavailable, CapabilityMissing, EngineError, ModelNotFound
from ..settings import Settings
from ..types import (
    ChatChunk,
    ChatResult,
    Message,
    ModelDetails,
    ModelInfo,
    RunningModel,
    ToolCall,
    Usage,
)

T = TypeVar("T")
DEFAULT_NUM_CTX = 4096
_NS = 1e9


def _keep_alive(value: str | int | None) -> str | int | None:
    return value


def _usage(resp: Any) -> Usage:
    return Usage(
        prompt_tokens=getattr(resp, "prompt_eval_count", None) or 0,
        completion_tokens=getattr(resp, "eval_count", None) or 0,
        total_duration_s=(getattr(resp, "total_duration", None) or 0) / _NS,
        load_duration_s=(getattr(resp, "load_duration", None) or 0) / _NS,
    )


def _tool_calls(msg: Any) -> list[ToolCall]:
    calls = getattr(msg, "tool_calls", None) or []
    return [ToolCall(name=c.function.name, arguments=dict(c.function.arguments or {})) for c in calls]


class OllamaEngine:
    """Talks to one Ollama server. ``host`` defaults to ``OLLAMA_HOST`` (or ``http://127.0.0.1:11434``)."""

    name = "ollama"

    def __init__(self, host: str | None = None, *, timeout: float | None = None, num_ctx: int = DEFAULT_NUM_CTX):
        settings = Settings.from_env()
        self.host = host or settings.ollama_host
        self.timeout = timeout or settings.request_timeout_s
        self.num_ctx = num_ctx
        self.client = ollama.Client(host=self.host, timeout=self.timeout)
        self._token_cache: dict[str, int] = {}

    # ------------------------------------------------------------------ the one error boundary of this engine
    def _call(self, what: str, fn: Callable[[], T], model: str | None = None) -> T:
        try:
            return fn()
        except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise BackendUnavailable(
                f"cannot reach Ollama at {self.host} ({what})",
                hint=f"is `ollama serve` running at {self.host}? Start it with `tanuki ollama start`, "
                "or point OLLAMA_HOST at the right address",
            ) from exc
        except httpx.TimeoutException as exc:
            raise BackendUnavailable(
                f"Ollama at {self.host} did not answer within {self.timeout:.0f}s ({what})",
                hint="raise TANUKI_TIMEOUT, or check the server's load with `tanuki ps`",
            ) from exc
        except ollama.ResponseError as exc:
            text = str(exc.error)
            if exc.status_code == 404 or "not found" in text.lower():
                raise ModelNotFound(
                    f"Ollama does not know the model {model!r}: {text}",
                    hint="list models with `tanuki models`; register the family with `tanuki register`, "
                    "or the micro model with `tanuki setup-micro`",
                ) from exc
            raise EngineError(f"Ollama refused {what}: {text}",
                              hint="Ollama's message above says why; its log is ~/.tanuki/logs/ollama.log "
                              "when tanuki started it") from exc

    def _options(self, options: dict[str, Any] | None) -> dict[str, Any]:
        merged = {"num_ctx": self.num_ctx}
        merged.update(options or {})
        return merged

    # ------------------------------------------------------------------ generation
    def _chat(self, model, messages, tools, format, options, keep_alive, stream: bool):
        return self._call(
            "chat",
            lambda: self.client.chat(
                model=model,
                messages=[m.to_wire() for m in messages],
                tools=list(tools) if tools else None,
                format=format,
                options=self._options(options),
                keep_alive=_keep_alive(keep_alive),
                stream=stream,
            ),
            model,
        )

    def chat(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        format: str | dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        keep_alive: str | int | None = None,
    ) -> ChatResult:
        resp = self._chat(model, messages, tools, format, options, keep_alive, stream=False)
        message = Message(role="assistant", content=resp.message.content or "", tool_calls=_tool_calls(resp.message))
        return ChatResult(model=model, message=message, done_reason=resp.done_reason, usage=_usage(resp))

    def chat_stream(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        format: str | dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        keep_alive: str | int | None = None,
    ) -> Iterator[ChatChunk]:
        iterator = iter(self._chat(model, messages, tools, format, options, keep_alive, stream=True))
        while True:
            part = self._call("chat", lambda: next(iterator, None), model)
            if part is None:
                return
            yield ChatChunk(
                model=model,
                content=part.message.content or "",
                tool_calls=_tool_calls(part.message),
                done=bool(part.done),
                done_reason=part.done_reason,
                usage=_usage(part) if part.done else None,
            )

    def generate(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        suffix: str | None = None,
        raw: bool = False,
        format: str | dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        keep_alive: str | int | None = None,
    ) -> ChatResult:
        resp = self._call(
            "generate",
            lambda: self.client.generate(
                model=model,
                prompt=prompt,
                system=system,
                suffix=suffix,
                raw=raw,
                format=format,
                options=self._options(options),
                keep_alive=_keep_alive(keep_alive),
                stream=False,
            ),
            model,
        )
        message = Message(role="assistant", content=resp.response or "")
        return ChatResult(model=model, message=message, done_reason=resp.done_reason, usage=_usage(resp))

    def next_tokens(self, model: str, prompt: str, k: int = 8, *, options: dict[str, Any] | None = None,
                    keep_alive: str | int | None = None) -> list[tuple[str, float]]:
        """The ``k`` likeliest next tokens after the raw ``prompt`` with their log-probabilities (Ollama's
        ``logprobs``/``top_logprobs``), most likely first. One decoded token: cheap, and the prompt's prefix is
        reused from the runner's cache."""
        payload = {"model": model, "prompt": prompt, "raw": True, "stream": False, "logprobs": True,
                   "top_logprobs": k, "options": {**self._options(options), "num_predict": 1, "temperature": 0}}
        if keep_alive is not None:
            payload["keep_alive"] = _keep_alive(keep_alive)
        data = self.raw_request("POST", "/api/generate", payload)
        first = (data.get("logprobs") or [{}])[0]
        return [(str(t.get("token", "")), float(t.get("logprob", 0.0))) for t in first.get("top_logprobs") or []]

    def count_tokens(self, model: str, text: str) -> int:
        """Tokens of ``text`` under ``model``'s tokenizer, measured by Ollama itself.

        Ollama has no tokenize endpoint, so this evaluates ``text`` as a raw prompt and reads
        ``prompt_eval_count`` (one decoded token at most). Results are cached by content.
        """
        key = hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()
        if key not in self._token_cache:
            result = self.generate(model, text, raw=True, options={"num_predict": 1, "temperature": 0})
            self._token_cache[key] = result.usage.prompt_tokens
        return self._token_cache[key]

    # ------------------------------------------------------------------ models and residency
    def list_models(self) -> list[ModelInfo]:
        resp = self._call("list", self.client.list)
        out = []
        for m in resp.models:
            d = m.details
            out.append(
                ModelInfo(
                    name=m.model or "",
                    size_bytes=m.size or 0,
                    digest=m.digest or "",
                    family=(d.family if d else "") or "",
                    parameter_size=(d.parameter_size if d else "") or "",
                    quantization=(d.quantization_level if d else "") or "",
                )
            )
        return out

    def has_model(self, model: str) -> bool:
        wanted = model if ":" in model else f"{model}:latest"
        return any(m.name in (model, wanted) for m in self.list_models())

    def show(self, model: str) -> ModelDetails:
        resp = self._call("show", lambda: self.client.show(model), model)
        info = dict(resp.modelinfo or {})
        arch = str(info.get("general.architecture", ""))
        params: dict[str, Any] = {}
        for line in (resp.parameters or "").splitlines():
            key, _, value = line.strip().partition(" ")
            if key:
                value = value.strip().strip('"')
                params.setdefault(key, []).append(value) if key == "stop" else params.__setitem__(key, value)
        return ModelDetails(
            name=model,
            capabilities=list(resp.capabilities or []),
            context_length=int(info.get(f"{arch}.context_length", 0) or 0),
            architecture=arch,
            template=resp.template or "",
            system=getattr(resp, "system", None) or "",
            parameters=params,
        )

    def running(self) -> list[RunningModel]:
        resp = self._call("ps", self.client.ps)
        return [
            RunningModel(
                name=m.model or m.name or "",
                size_bytes=m.size or 0,
                size_vram_bytes=m.size_vram or 0,
                context_length=getattr(m, "context_length", 0) or 0,
                expires_at=m.expires_at.isoformat() if m.expires_at else None,
            )
            for m in resp.models
        ]

    def load(self, model: str, *, keep_alive: str | int | None = None, options: dict[str, Any] | None = None) -> None:
        """Load ``model`` without generating (an empty prompt), with our ``num_ctx`` so no reload follows."""
        self._call(
            "load",
            lambda: self.client.generate(model=model, prompt="", options=self._options(options), keep_alive=keep_alive),
            model,
        )

    def unload(self, model: str) -> None:
        self._call("unload", lambda: self.client.generate(model=model, prompt="", keep_alive=0), model)

    def version(self) -> str:
        def get() -> str:
            r = httpx.get(f"{self.host}/api/version", timeout=min(self.timeout, 10.0))
            r.raise_for_status()
            return str(r.json().get("version", ""))

        return self._call("version", get)

    # ------------------------------------------------------------------ creation
    def create(
        self,
        model: str,
        *,
        gguf: Path,
        adapter: Path | None = None,
        template: str | None = None,
        system: str | None = None,
        parameters: dict[str, Any] | None = None,
        license: str | None = None,
    ) -> None:
        """Create ``model`` from a GGUF (and optionally one GGUF LoRA), uploading each file as a blob.

        Both files are validated first (a damaged GGUF, or an adapter made for another architecture, never
        reaches Ollama, which checks neither). Blob upload is content-addressed: a base is stored once.
        """
        from ..factory.gguf import check_adapter_matches, inspect_gguf

        base_info = inspect_gguf(Path(gguf))
        if adapter is not None:
            check_adapter_matches(base_info, inspect_gguf(Path(adapter)))
        base_digest = self._call("blob upload", lambda: self.client.create_blob(gguf))
        adapters = None
        if adapter is not None:
            digest = self._call("blob upload", lambda: self.client.create_blob(adapter))
            adapters = {Path(adapter).name: digest}
        try:
            self._call(
                "create",
                lambda: self.client.create(
                    model=model,
                    files={Path(gguf).name: base_digest},
                    adapters=adapters,
                    template=template,
                    system=system,
                    parameters=parameters,
                    license=license,
                    stream=False,
                ),
                model,
            )
        except EngineError as exc:
            if adapter is not None and "adapter" in exc.message.lower():
                raise CapabilityMissing(
                    f"this Ollama ({self.host}) refused the LoRA adapter for {model}: {exc.message}",
                    hint="register with `--strategy merged` (one merged GGUF per agent), "
                    "or install the pinned Ollama with ./install.sh",
                ) from exc
            raise

    def delete(self, model: str) -> None:
        self._call("delete", lambda: self.client.delete(model), model)

    def raw_request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """A JSON request to any Ollama route, through the same error boundary."""

        def do() -> dict[str, Any]:
            r = httpx.request(method, f"{self.host}{path}", json=payload, timeout=self.timeout)
            if r.status_code >= 400:
                try:
                    error = r.json().get("error", r.text)
                except json.JSONDecodeError:
                    error = r.text
                raise ollama.ResponseError(error, r.status_code)
            return r.json() if r.content else {}

        return self._call(f"{method} {path}", do)
