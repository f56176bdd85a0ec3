"""What the Ollama we talk to can do, found by asking it rather than by trusting its version number."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .errors import CapabilityMissing, EngineError, ModelNotFound
from .toolchain import parse_version, version_supported


@dataclass(frozen=True)
class AdapterProbe:
    version: str
    version_supported: bool
    accepts_adapter: bool
    reason: str

    @property
    def strategy(self) -> str:
        """The registration strategy this Ollama allows: ``adapter`` (FROM base + ADAPTER) or ``merged``."""
        return "adapter" if self.accepts_adapter else "merged"


def probe_adapter(engine, base_gguf: Path, adapter_gguf: Path) -> AdapterProbe:
    """Create a throwaway model with ``ADAPTER`` on ``engine`` and delete it again.

    The answer is the server's, whatever its version says; a refusal is reported, not raised.
    """
    version = engine.version()
    tag = hashlib.sha256(f"{base_gguf}{adapter_gguf}".encode()).hexdigest()[:8]
    name = f"tanuki-probe-adapter-{tag}"
    try:
        engine.create(name, gguf=Path(base_gguf), adapter=Path(adapter_gguf))
    except (CapabilityMissing, EngineError) as exc:
        return AdapterProbe(version, version_supported(parse_version(version)), False, exc.message)
    try:
        engine.delete(name)
    except (ModelNotFound, EngineError):
        pass
    return AdapterProbe(version, version_supported(parse_version(version)), True, "created a model with ADAPTER")
