"""Engines behind one protocol (``tanuki_ollama.protocols.Engine``), looked up by name.

Built-ins: ``ollama`` (the official client against a real ``ollama serve``), ``hotswap`` (one llama-server with
the base and every agent's LoRA, the adapter chosen per request) and ``scripted`` (canned answers for unit tests).
Third parties register with ``register(name, factory)`` or the ``tanuki_ollama.engines`` entry-point group.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from ..errors import ConfigError

_BUILTIN = {
    "ollama": "tanuki_ollama.engines.ollama:OllamaEngine",
    "scripted": "tanuki_ollama.engines.scripted:ScriptedEngine",
    "hotswap": "tanuki_ollama.engines.hotswap:HotSwapEngine",
}
_REGISTERED: dict[str, Callable[..., Any]] = {}


def register(name: str, factory: Callable[..., Any]) -> None:
    """Make ``create_engine(name, ...)`` build engines with ``factory``."""
    _REGISTERED[name] = factory


def _load(spec: str) -> Callable[..., Any]:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def available() -> list[str]:
    names = set(_BUILTIN) | set(_REGISTERED)
    names |= {ep.name for ep in entry_points(group="tanuki_ollama.engines")}
    return sorted(names)


def create_engine(name: str, **kwargs: Any) -> Any:
    """Build the engine registered as ``name`` (or a ``module:Class`` path)."""
    if name in _REGISTERED:
        return _REGISTERED[name](**kwargs)
    if name in _BUILTIN:
        return _load(_BUILTIN[name])(**kwargs)
    for ep in entry_points(group="tanuki_ollama.engines"):
        if ep.name == name:
            return ep.load()(**kwargs)
    if ":" in name:
        return _load(name)(**kwargs)
    raise ConfigError(f"unknown engine {name!r}", hint=f"choose one of: {', '.join(available())}")
