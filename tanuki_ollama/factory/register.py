"""Registration: one Ollama model per agent, ``ollama run <prefix><role>`` afterwards.

Strategies (chosen by probing the Ollama we talk to, or forced):
- ``adapter``: ``FROM base.gguf`` + ``ADAPTER <agent>.gguf`` (the base blob is stored once);
- ``merged``: one merged Q4_K_M GGUF per agent (works on any Ollama, N copies of the weights);
- ``engine``: tanuki's hot-swap engine (one llama-server holding the base and every LoRA): no Ollama model is
  created; a family manifest ``$TANUKI_HOME/engines/<family>.json`` (base GGUF, each agent's LoRA GGUF, template,
  system, parameters) is written, and ``create_engine("hotswap", family=...)`` starts the engine from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..capabilities import probe_adapter
from ..errors import ConfigError
from .modelfile import Modelfile

STRATEGIES = ("adapter", "merged", "engine")


@dataclass(frozen=True)
class AgentArtifact:
    agent: object  # roster AgentSpec
    lora_gguf: Path | None = None
    merged_gguf: Path | None = None


def agent_modelfile(agent, base_gguf: Path, *, template: str, system: str, stops: tuple[str, ...],
                    adapter: Path | None = None, license: str | None = None) -> Modelfile:
    params = agent.parameters.as_options()
    params.setdefault("stop", list(stops))
    return Modelfile(from_=str(base_gguf), adapter=str(adapter) if adapter else None, template=template,
                     system=system, parameters=params, license=license)


def choose_strategy(engine, base_gguf: Path, some_lora: Path | None, forced: str | None) -> tuple[str, str]:
    if forced:
        if forced not in STRATEGIES:
            raise ConfigError(f"unknown registration strategy {forced!r}", hint=f"use one of {', '.join(STRATEGIES)}")
        return forced, "forced by flag"
    if some_lora is None:
        return "merged", "no adapters to register"
    probe = probe_adapter(engine, base_gguf, some_lora)
    return probe.strategy, f"probe of Ollama {probe.version}: {probe.reason}"


def register_family(engine, *, prefix: str, base_gguf: Path, artifacts: list[AgentArtifact], template: str,
                    stops: tuple[str, ...], modelfiles_dir: Path, strategy: str, render_system,
                    license: str | None = None) -> dict[str, dict]:
    """Write ``<modelfiles_dir>/<prefix><role>.Modelfile`` and create each model in Ollama (strategy ``engine``:
    write the hot-swap engine's family manifest instead, see :func:`register_engine_family`)."""
    if strategy == "engine":
        return register_engine_family(prefix=prefix, base_gguf=base_gguf, artifacts=artifacts, template=template,
                                      stops=stops, out_dir=modelfiles_dir, render_system=render_system)
    modelfiles_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict] = {}
    for art in artifacts:
        agent = art.agent
        name = f"{prefix}{agent.role}"
        if strategy == "adapter":
            base, adapter = base_gguf, art.lora_gguf
        elif strategy == "merged":
            if art.merged_gguf is None:
                raise ConfigError(f"no merged GGUF for {agent.name}", hint="export with --merged first")
            base, adapter = art.merged_gguf, None
        else:
            raise ConfigError(f"strategy {strategy!r} cannot register models",
                              hint="use --strategy adapter, merged or engine")
        mf = agent_modelfile(agent, base, template=template, system=render_system(agent), stops=stops,
                             adapter=adapter, license=license)
        path = mf.write(modelfiles_dir / f"{name}.Modelfile")
        engine.create(name, gguf=Path(mf.from_), adapter=Path(mf.adapter) if mf.adapter else None,
                      template=mf.template, system=mf.system, parameters=mf.api_parameters(), license=mf.license)
        out[name] = {"agent": agent.name, "modelfile": str(path), "strategy": strategy,
                     "base": str(base), "adapter": str(adapter) if adapter else None}
    (modelfiles_dir / "registered.json").write_text(json.dumps(out, indent=2))
    return out


def register_engine_family(*, prefix: str, base_gguf: Path, artifacts: list[AgentArtifact], template: str,
                           stops: tuple[str, ...], out_dir: Path, render_system, home: Path | None = None) -> dict[str, dict]:
    """Strategy ``engine``: the family manifest the hot-swap engine starts from (same TEMPLATE, SYSTEM and
    PARAMETERs as the Modelfiles of the other strategies), plus a copy in ``out_dir/registered.json``."""
    from ..engines.hotswap import AgentModel, write_family_manifest

    agents: dict[str, AgentModel] = {}
    out: dict[str, dict] = {}
    for art in artifacts:
        agent = art.agent
        if art.lora_gguf is None or not Path(art.lora_gguf).is_file():
            raise ConfigError(f"no LoRA GGUF for {agent.name}", hint="run `tanuki export` first")
        name = f"{prefix}{agent.role}"
        params = agent.parameters.as_options()
        params.setdefault("stop", list(stops))
        agents[name] = AgentModel(name, Path(art.lora_gguf), render_system(agent), params, template)
        out[name] = {"agent": agent.name, "strategy": "engine", "base": str(base_gguf), "adapter": str(art.lora_gguf)}
    ctx = max(int(a.parameters.get("num_ctx") or 4096) for a in agents.values())
    family = prefix.rstrip("-")
    path = write_family_manifest(family, base=base_gguf, agents=agents, ctx=ctx, home=home)
    for entry in out.values():
        entry["manifest"] = str(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "registered.json").write_text(json.dumps(out, indent=2))
    return out
