"""Shared fixtures: an isolated TANUKI_HOME per test, one real `ollama serve` per session, tiny GGUF models.

The real Ollama listens on a free loopback port with OLLAMA_MODELS in a temporary folder and is stopped at the
end. Tiny models are built once and cached under $TANUKI_CACHE/fixtures (keyed by their parameters).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tanuki_ollama.engines.ollama import OllamaEngine
from tanuki_ollama.ollama_server import OllamaServer


@pytest.fixture(autouse=True)
def tanuki_home(tmp_path, monkeypatch):
    home = tmp_path / "tanuki-home"
    monkeypatch.setenv("TANUKI_HOME", str(home))
    monkeypatch.delenv("TANUKI_MODEL", raising=False)
    return home


@pytest.fixture(scope="session")
def ollama_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("ollama")
    server = OllamaServer(
        models_dir=root / "models",
        log_path=root / "ollama.log",
        extra_env={"OLLAMA_KEEP_ALIVE": "10m", "OLLAMA_MAX_LOADED_MODELS": "2"},
    )
    server.start(timeout=90)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ollama(ollama_server) -> OllamaEngine:
    return OllamaEngine(ollama_server.url, timeout=300)


@pytest.fixture
def ollama_env(ollama_server, monkeypatch):
    """Point the CLI (OLLAMA_HOST) at the session's Ollama."""
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url)
    return ollama_server.url


@pytest.fixture(scope="session")
def micro_model(ollama) -> str:
    from tanuki_ollama.micro import MICRO_MODEL, register_micro

    if not ollama.has_model(MICRO_MODEL):
        register_micro(ollama)
    return MICRO_MODEL


@dataclass(frozen=True)
class TinyGGUFs:
    arch: str
    hf_dir: Path
    lora_dir: Path
    f16: Path
    q4_k_m: Path
    lora: Path


def _tiny(arch: str) -> TinyGGUFs:
    from tanuki_ollama.factory.fixtures import TinySpec, build_tiny
    from tanuki_ollama.factory.gguf import convert_hf_to_gguf, convert_lora_to_gguf, quantize

    tiny = build_tiny(TinySpec(arch=arch))
    out = TinyGGUFs(arch, tiny.hf_dir, tiny.lora_dir, tiny.root / "base-f16.gguf", tiny.root / "base-Q4_K_M.gguf",
                    tiny.root / "lora-f16.gguf")
    if not out.f16.is_file():
        convert_hf_to_gguf(tiny.hf_dir, out.f16)
    if not out.q4_k_m.is_file():
        quantize(out.f16, out.q4_k_m, "Q4_K_M")
    if not out.lora.is_file():
        convert_lora_to_gguf(tiny.lora_dir, tiny.hf_dir, out.lora)
    return out


@pytest.fixture(scope="session", params=["mistral3", "llama"])
def tiny(request) -> TinyGGUFs:
    return _tiny(request.param)


@pytest.fixture(scope="session")
def tiny_llama() -> TinyGGUFs:
    return _tiny("llama")


@pytest.fixture(scope="session")
def tiny_mistral3() -> TinyGGUFs:
    return _tiny("mistral3")
