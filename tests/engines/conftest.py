"""Fixtures for the hot-swap engine: random micro LoRAs (cached by content), the engine on the micro backbone,
and the same agents registered in the session's real Ollama with ADAPTER."""

from __future__ import annotations

from pathlib import Path

import pytest

from tanuki_ollama.engines.hotswap import AgentModel, HotSwapEngine

MICRO_AGENTS = ("tanuki-micro-hsa", "tanuki-micro-hsb")  # test_hotswap_micro.py names them too


@pytest.fixture(scope="session")
def micro_loras() -> list[Path]:
    from tanuki_ollama.bench.switch import random_loras
    from tanuki_ollama.factory.backbones import micro_hf_dir

    return random_loras(micro_hf_dir(), 3)


@pytest.fixture(scope="session")
def micro_agents(micro_loras) -> dict[str, AgentModel]:
    from tanuki_ollama.micro import MICRO_PARAMETERS, MICRO_SYSTEM

    agents = {name: AgentModel(name, lora, MICRO_SYSTEM, dict(MICRO_PARAMETERS))
              for name, lora in zip(MICRO_AGENTS, micro_loras)}
    agents["tanuki-micro-hsbase"] = AgentModel("tanuki-micro-hsbase", None, MICRO_SYSTEM, dict(MICRO_PARAMETERS))
    return agents


@pytest.fixture(scope="session")
def micro_engine(micro_agents, tmp_path_factory):
    from tanuki_ollama.micro import micro_gguf

    log = tmp_path_factory.mktemp("hotswap") / "llama-server.log"
    engine = HotSwapEngine(micro_gguf(), micro_agents, ctx=4096, parallel=2, log_path=log)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def ollama_micro_agents(ollama, micro_agents) -> dict[str, AgentModel]:
    """The same agents in the real Ollama: FROM the micro GGUF + ADAPTER, same TEMPLATE/SYSTEM/PARAMETERs."""
    from tanuki_ollama.factory.modelfile import builtin_template
    from tanuki_ollama.micro import micro_gguf

    for name, agent in micro_agents.items():
        if not ollama.has_model(name):
            ollama.create(name, gguf=micro_gguf(), adapter=agent.lora, template=builtin_template("chatml"),
                          system=agent.system, parameters=dict(agent.parameters))
    return micro_agents
