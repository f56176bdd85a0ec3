"""Which engine model runs each agent, and the cheap "tanuki-micro family" for machines without trained agents.

``tanuki-micro-<role>`` is ``FROM`` the micro GGUF (SmolLM2-135M) with the agent's SYSTEM prompt and roster
PARAMETERs, no ADAPTER: the blob is stored once and Ollama never reloads a runner for an adapter switch. It is
a stand-in that keeps ``tanuki run`` working end to end on a fresh machine; the trained family
(``tanuki factory build``) replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..agents.prompts import render_system_prompt
from ..agents.roster import Roster
from ..factory.modelfile import CHATML_STOPS
from ..micro import MICRO_MODEL, MICRO_PARAMETERS, register_micro
from .models import RunConfig

MICRO_FAMILY = "tanuki-micro"
MICRO_NUM_PREDICT = 384  # answer tokens per call for the micro family (unless --num-predict says otherwise)
# `tanuki run` on the micro family, unless the options are given: a 135M model seldom fixes anything, so the
# README's first command should report in a few model calls instead of 10+ minutes of revisions and re-plans.
# One engine thread: a 135M model decodes ~3x faster on one thread than on two contended cores (measured).
MICRO_RUN_DEFAULTS = {"num_predict": MICRO_NUM_PREDICT, "max_revisions": 1, "max_replans": 0, "num_thread": 1}


def run_agents(roster: Roster) -> list[str]:
    """The agents a run may use on the micro family: the core team (the router's defaults are all core)."""
    return [a.name for a in roster.core()]


def _has(engine: Any, names: Iterable[str]) -> dict[str, bool]:
    listed = {m.name for m in engine.list_models()}
    return {n: n in listed or f"{n}:latest" in listed for n in names}


def register_micro_family(engine: Any, roster: Roster, agents: Iterable[str] | None = None,
                          prefix: str = MICRO_FAMILY) -> list[str]:
    """Create the missing ``<prefix>-<role>`` models; returns the names created.

    The micro backbone is registered once (``tanuki-micro``, as ``tanuki ask`` does); each agent is then
    ``FROM tanuki-micro`` with its own SYSTEM and PARAMETERs, which Ollama creates without copying a blob.
    """
    wanted = {f"{prefix}-{roster.get(a).role}": roster.get(a) for a in (agents or run_agents(roster))}
    missing = [name for name, present in _has(engine, wanted).items() if not present]
    if missing and not _has(engine, [MICRO_MODEL])[MICRO_MODEL]:
        register_micro(engine, MICRO_MODEL)
    for name in missing:
        agent = wanted[name]
        params = {**MICRO_PARAMETERS, **agent.parameters.as_options(), "stop": list(CHATML_STOPS)}
        engine.raw_request("POST", "/api/create", {"model": name, "from": MICRO_MODEL, "stream": False,
                                                   "system": render_system_prompt(agent), "parameters": params})
    return missing


def resolve_models(engine: Any, roster: Roster, family: str, config: RunConfig) -> tuple[RunConfig, list[str]]:
    """``family``: ``auto`` (the trained agents when registered, else the micro family), ``tanuki`` (the trained
    agents, model = agent name) or a prefix such as ``tanuki-micro``. Returns the config and the models created."""
    if family == "auto":
        family = "tanuki" if all(_has(engine, run_agents(roster)).values()) else MICRO_FAMILY
    if family == "tanuki":
        return config, []
    agents = config.agents or run_agents(roster)
    created = register_micro_family(engine, roster, agents, prefix=family) if family == MICRO_FAMILY else []
    models = {a: f"{family}-{roster.get(a).role}" for a in agents}
    return config.model_copy(update={"models": {**models, **config.models}, "agents": agents}), created
