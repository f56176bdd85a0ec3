"""The resource monitor: resident models from the engine (Ollama ``/api/ps``), RSS of the engine's processes
(psutil), and GPU memory through NVML when ``pynvml`` and a GPU are present (silently absent otherwise)."""

from __future__ import annotations

import re
from typing import Any

import psutil
from pydantic import BaseModel, Field

from ..errors import ConfigError, TanukiError

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}


def parse_size(text: str | int) -> int:
    """Bytes from ``6GB``, ``512MiB``, ``1.5g`` or a plain number (binary units, like Ollama).

    >>> parse_size("6GB"), parse_size("512m"), parse_size(1024)
    (6442450944, 536870912, 1024)
    """
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _UNITS:
        raise ConfigError(f"cannot read the size {text!r}", hint="write it like 6GB, 512MB or 1.5GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


class ResourceSnapshot(BaseModel):
    models: dict[str, int] = Field(default_factory=dict)  # resident model -> bytes (Ollama's estimate)
    models_vram: dict[str, int] = Field(default_factory=dict)
    engine_rss_bytes: int = 0  # RSS of runner processes (llama-server, ollama) when we can see them
    available_bytes: int = 0
    gpu: list[dict[str, Any]] = Field(default_factory=list)


class ResourceMonitor:
    """One call, :meth:`snapshot`, tells what is resident and how much memory is left."""

    RUNNER_NAMES = ("ollama", "llama-server", "llama_server")

    def __init__(self, engine: Any):
        self.engine = engine

    def resident(self) -> dict[str, int]:
        try:
            return {m.name: m.size_bytes for m in self.engine.running()}
        except TanukiError:
            return {}

    def snapshot(self) -> ResourceSnapshot:
        running = []
        try:
            running = self.engine.running()
        except TanukiError:
            pass
        return ResourceSnapshot(
            models={m.name: m.size_bytes for m in running},
            models_vram={m.name: m.size_vram_bytes for m in running},
            engine_rss_bytes=self._runner_rss(),
            available_bytes=psutil.virtual_memory().available,
            gpu=nvml_memory(),
        )

    def _runner_rss(self) -> int:
        total = 0
        for proc in psutil.process_iter(["name", "memory_info"]):
            name = (proc.info.get("name") or "").lower()
            mem = proc.info.get("memory_info")
            if mem is not None and any(n in name for n in self.RUNNER_NAMES):
                total += mem.rss
        return total


def nvml_memory() -> list[dict[str, Any]]:
    """Used/total memory per GPU through NVML; an empty list without ``pynvml`` or a GPU."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - NVML raises its own error types when no driver is present
        return []
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            info = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i))
            out.append({"index": i, "used_bytes": int(info.used), "total_bytes": int(info.total)})
        return out
    finally:
        pynvml.nvmlShutdown()
