"""A llama.cpp ``llama-server`` process holding one base GGUF and any number of LoRA GGUFs.

Every adapter is loaded at start without being applied (``--lora-init-without-apply``); each request names
the scale of **every** adapter explicitly (an empty list would fall back to the global scales). The prompt
cache is disabled per request when adapters differ, so a prefix computed under one adapter is never reused
under another.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ..errors import BackendUnavailable, EngineError
from ..ollama_server import free_port, spawn_logged, stop_process
from ..toolchain import Toolchain


DOWN_HINT = "llama-server may have crashed or be overloaded: see its log, then restart the engine"
REFUSED_HINT = "llama-server's reply above says why; its log has the details"


class LlamaServer:
    def __init__(self, model: Path, loras: list[Path] | None = None, *, ctx: int = 2048, threads: int | None = None,
                 port: int | None = None, mmap: bool = True, log_path: Path | None = None,
                 extra_args: list[str] | None = None, parallel: int = 1, cache_ram_mib: int | None = None):
        self.model = Path(model)
        self.parallel = max(1, int(parallel))
        # llama-server's host-memory prompt cache (`--cache-ram`) restores saved KV states by token prefix alone,
        # without checking which adapters computed them: the hot-swap engine turns it off (0).
        self.cache_ram_mib = cache_ram_mib
        self.loras = [Path(p) for p in (loras or [])]
        self.ctx, self.threads, self.mmap = ctx, threads, mmap
        self.port = port or free_port()
        self.log_path = log_path
        self.extra_args = extra_args or []
        self.process: subprocess.Popen | None = None
        self.client = httpx.Client(base_url=self.url, timeout=600)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [str(Toolchain.default().llama_tool("llama-server")), "-m", str(self.model), "--host", "127.0.0.1",
               "--port", str(self.port), "-c", str(self.ctx), "--no-webui", "--offline", "-np", str(self.parallel)]
        if self.parallel > 1:
            # one shared KV buffer would let a slot's context grow into another's: give each slot its own `ctx`
            cmd[cmd.index("-c") + 1] = str(self.ctx * self.parallel)
            cmd += ["--no-kv-unified"]
        if self.cache_ram_mib is not None:
            cmd += ["--cache-ram", str(self.cache_ram_mib)]
        if self.loras:
            cmd += ["--lora", ",".join(str(p) for p in self.loras), "--lora-init-without-apply"]
        if self.threads:
            cmd += ["-t", str(self.threads)]
        if not self.mmap:
            # mmap + CPU weight repacking keeps both copies resident (about 2x the file). Measured on b11434 with
            # the micro model: `--load-mode none` answered single-token requests 5-8x slower (0.7-1.0 s vs
            # 0.12 s), so mmap is the default and this is opt-in where memory matters more than latency.
            cmd += ["--load-mode", "none"]
        return cmd + self.extra_args

    def start(self, timeout: float = 120) -> LlamaServer:
        self.process = spawn_logged(self.command(), self.log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BackendUnavailable(f"llama-server exited with code {self.process.returncode} loading "
                                         f"{self.model.name}",
                                         hint=f"see {self.log_path}" if self.log_path else "run it by hand")
            try:
                if self.client.get("/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise BackendUnavailable(f"llama-server did not become healthy within {timeout:.0f}s",
                                 hint="a large model may need a longer timeout; its log shows the progress")

    def stop(self) -> None:
        stop_process(self.process)
        self.client.close()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def lora_scales(self, active: int | None) -> list[dict[str, float]]:
        """Scales for every loaded adapter: 1.0 for ``active``, 0.0 for the rest (None = the base alone)."""
        return [{"id": i, "scale": 1.0 if i == active else 0.0} for i in range(len(self.loras))]

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            r = self.client.post(path, json=payload)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"llama-server at {self.url} did not answer: {exc}",
                                     hint=DOWN_HINT) from exc
        if r.status_code >= 400:
            raise EngineError(f"llama-server refused {path}: {r.text[:300]}", hint=REFUSED_HINT)
        return r.json()

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A JSON request to any llama-server route (errors become tanuki errors)."""
        return self._post(path, payload)

    def tokenize(self, text: str, *, special: bool = True, add_special: bool = False) -> list[int]:
        return self._post("/tokenize", {"content": text, "add_special": add_special, "parse_special": special})["tokens"]

    def detokenize(self, tokens: list[int]) -> str:
        return self._post("/detokenize", {"tokens": tokens})["content"]

    def stream(self, path: str, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST ``payload`` with ``stream: true`` and yield each server-sent event's JSON."""
        try:
            with self.client.stream("POST", path, json={**payload, "stream": True}) as r:
                if r.status_code >= 400:
                    r.read()
                    raise EngineError(f"llama-server refused {path}: {r.text[:300]}", hint=REFUSED_HINT)
                for line in r.iter_lines():
                    if not line or line.startswith(":"):
                        continue
                    data = line.removeprefix("data: ")
                    if data.strip() == "[DONE]":
                        return
                    event = json.loads(data)
                    if isinstance(event, dict) and event.get("error"):
                        raise EngineError(f"llama-server failed during {path}: {str(event['error'])[:300]}",
                                          hint=REFUSED_HINT)
                    yield event
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"llama-server at {self.url} did not answer: {exc}",
                                     hint=DOWN_HINT) from exc

    def memory(self) -> dict[str, int]:
        """The server process's real memory: ``rss`` (what the OS holds resident, file-backed mmap pages
        included), ``uss`` (pages only this process holds) and ``pss``; 0 when the process is gone."""
        import psutil

        if not self.process or self.process.poll() is not None:
            return {"rss": 0, "uss": 0, "pss": 0}
        try:
            info = psutil.Process(self.process.pid).memory_full_info()
        except (psutil.Error, OSError):
            return {"rss": 0, "uss": 0, "pss": 0}
        return {"rss": int(info.rss), "uss": int(getattr(info, "uss", 0)), "pss": int(getattr(info, "pss", 0))}

    def completion(self, prompt: str | list[int], *, adapter: int | None = None, n_predict: int = 16,
                   n_probs: int = 0, temperature: float = 0.0, **extra: Any) -> dict[str, Any]:
        payload = {"prompt": prompt, "n_predict": n_predict, "temperature": temperature, "n_probs": n_probs,
                   "cache_prompt": False, "return_tokens": True, "lora": self.lora_scales(adapter), **extra}
        if temperature == 0:
            payload.setdefault("top_k", 1)
        return self._post("/completion", payload)
