"""Jinja2 rendering with ``StrictUndefined``: a missing variable is an error, never an empty string.

Templates live as data files under ``tanuki_ollama/data/prompts/`` (``render_template("synth/coder.j2", ...)``);
agent system prompts in the roster are templates too (``render_system_prompt(agent)``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from ..errors import ConfigError

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "data" / "prompts"


def _tojson(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PROMPTS_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["tojson"] = _tojson
    return env


def render_string(source: str, **variables: Any) -> str:
    """Render a template string; a missing variable raises :class:`ConfigError` naming it."""
    try:
        return _env().from_string(source).render(**variables).strip()
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"prompt template uses an undefined variable: {exc.message}",
                          hint=f"pass it, or remove it from the template; available: {sorted(variables)}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"prompt template has a syntax error: {exc.message} (line {exc.lineno})",
                          hint="fix the Jinja syntax") from None


def render_template(template_name: str, /, **variables: Any) -> str:
    """Render ``tanuki_ollama/data/prompts/<name>``."""
    try:
        template = _env().get_template(template_name)
    except jinja2.TemplateNotFound:
        raise ConfigError(f"prompt template {template_name!r} not found under {PROMPTS_DIR}",
                          hint="check the name, or reinstall the package (templates are package data)") from None
    try:
        return template.render(**variables).strip()
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"prompt template {template_name!r} uses an undefined variable: {exc.message}",
                          hint=f"pass it, or remove it from the template; available: {sorted(variables)}") from None


def render_system_prompt(agent: Any, **extra: Any) -> str:
    """The agent's system prompt with ``name``, ``role``, ``tools`` and ``description`` available."""
    return render_string(agent.system_prompt, name=agent.name, role=agent.role, tools=agent.tools,
                         description=agent.description, **extra)
