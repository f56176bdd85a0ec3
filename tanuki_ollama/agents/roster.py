"""The roster: every agent as data (``adapters/agents.yaml``), validated by pydantic models that reject unknown keys.

The file has two top-level keys: ``defaults`` (``lora``, ``parameters`` and ``data`` merged under each agent's own
values, key by key) and ``agents`` (a list). Adding an agent is adding YAML.

Resolution of the file: the ``path`` argument, else ``$TANUKI_ROSTER``, else ``adapters/agents.yaml`` at the
repository root.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import ConfigError

ROSTER_ENV = "TANUKI_ROSTER"
_NAME_RE = re.compile(r"^tanuki-[a-z][a-z0-9-]*$")


def default_roster_path() -> Path:
    env = os.environ.get(ROSTER_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "adapters" / "agents.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSpec(_Strict):
    """LoRA shape for this agent's adapter."""

    rank: int = Field(16, ge=1, le=512)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )


class OllamaParameters(_Strict):
    """Ollama runner/sampling options written as ``PARAMETER`` lines of the agent's Modelfile."""

    temperature: float | None = Field(None, ge=0.0, le=2.0)
    num_ctx: int | None = Field(None, ge=256)
    num_predict: int | None = None
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0.0, le=1.0)
    repeat_penalty: float | None = Field(None, ge=0.0)
    repeat_last_n: int | None = None
    seed: int | None = None
    stop: list[str] | None = None

    def as_options(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class FewShot(_Strict):
    user: str
    assistant: str


class DataSpec(_Strict):
    """Which synthesis strategies feed the agent, and how many examples it gets by default."""

    strategies: list[str] = Field(default_factory=list)
    examples: int = Field(300, ge=1)
    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)


class AgentSpec(_Strict):
    name: str
    role: str
    description: str
    core: bool = False
    system_prompt: str
    tools: list[str] = Field(default_factory=list)
    output_schema: dict[str, Any]
    lora: LoraSpec = Field(default_factory=LoraSpec)
    parameters: OllamaParameters = Field(default_factory=OllamaParameters)
    few_shot: list[FewShot] = Field(default_factory=list)
    data: DataSpec = Field(default_factory=DataSpec)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(f"agent name {v!r} must look like 'tanuki-<role>' (lowercase, digits, dashes)")
        return v

    @field_validator("output_schema")
    @classmethod
    def _schema(cls, v: dict[str, Any]) -> dict[str, Any]:
        if v.get("type") not in {"object", "string"}:
            raise ValueError("output_schema must be a JSON schema with type 'object' (ReAct JSON) or 'string' (text)")
        return v

    @model_validator(mode="after")
    def _role_matches(self) -> AgentSpec:
        if self.name != f"tanuki-{self.role}":
            raise ValueError(f"role {self.role!r} does not match name {self.name!r} (expected tanuki-{self.role})")
        return self

    @property
    def plain_text(self) -> bool:
        return self.output_schema.get("type") == "string"


class Roster(_Strict):
    version: Literal[1] = 1
    defaults: dict[str, Any] = Field(default_factory=dict)
    agents: list[AgentSpec]
    _source: str = PrivateAttr("")

    @property
    def source(self) -> str:
        return self._source

    @model_validator(mode="after")
    def _unique(self) -> Roster:
        seen: set[str] = set()
        for a in self.agents:
            if a.name in seen:
                raise ValueError(f"agent {a.name!r} is defined twice")
            seen.add(a.name)
        return self

    def names(self) -> list[str]:
        return [a.name for a in self.agents]

    def get(self, name: str) -> AgentSpec:
        """Look an agent up by name (``tanuki-coder``) or role (``coder``)."""
        for a in self.agents:
            if name in (a.name, a.role):
                return a
        raise ConfigError(
            f"no agent {name!r} in the roster {self.source or ''}".rstrip(),
            hint=f"known agents: {', '.join(a.role for a in self.agents)}",
        )

    def core(self) -> list[AgentSpec]:
        return [a for a in self.agents if a.core]

    def select(self, spec: str) -> list[AgentSpec]:
        """``all``, ``core``, or a comma list of names/roles."""
        spec = spec.strip()
        if spec == "all":
            return list(self.agents)
        if spec == "core":
            return self.core()
        return [self.get(part.strip()) for part in spec.split(",") if part.strip()]


_DEFAULTABLE = ("lora", "parameters", "data")
_ALLOWED_DEFAULTS = set(_DEFAULTABLE)


def _merge_defaults(raw: dict[str, Any], where: str) -> dict[str, Any]:
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{where}: 'defaults' must be a mapping", hint="see adapters/agents.yaml for the shape")
    unknown = set(defaults) - _ALLOWED_DEFAULTS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {sorted(unknown)[0]!r} in 'defaults'",
            hint=f"allowed keys in defaults: {', '.join(sorted(_ALLOWED_DEFAULTS))}",
        )
    agents = raw.get("agents")
    if not isinstance(agents, list):
        raise ConfigError(f"{where}: missing the 'agents' list", hint="the file needs `agents:` with one entry per agent")
    merged = []
    for entry in agents:
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: every entry of 'agents' must be a mapping, got {entry!r}",
                              hint="start each agent with `- name: tanuki-<role>`, its keys indented below")
        entry = dict(entry)
        for key in _DEFAULTABLE:
            base = defaults.get(key)
            if base is None:
                continue
            own = entry.get(key)
            if own is None:
                entry[key] = dict(base)
            elif isinstance(own, dict):
                entry[key] = {**base, **own}
        merged.append(entry)
    return {**raw, "agents": merged}


def _explain(exc: ValidationError, data: dict[str, Any], where: str) -> ConfigError:
    err = exc.errors()[0]
    loc = list(err["loc"])
    agent = None
    if len(loc) >= 2 and loc[0] == "agents" and isinstance(loc[1], int):
        entry = data["agents"][loc[1]]
        agent = entry.get("name") if isinstance(entry, dict) else None
        agent = agent or f"#{loc[1] + 1}"
        loc = loc[2:]
    path = ".".join(str(p) for p in loc)
    who = f"agent {agent!r}" if agent else "roster"
    if err["type"] == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        parent = ".".join(str(p) for p in loc[:-1])
        model = {"": AgentSpec, "lora": LoraSpec, "parameters": OllamaParameters, "data": DataSpec}.get(parent)
        if agent is None:
            model = Roster if parent == "" else model
        allowed = ", ".join(model.model_fields) if model else "see adapters/agents.yaml"
        return ConfigError(
            f"{where}: {who}: unknown key {key!r}" + (f" in {parent!r}" if parent else ""),
            hint=f"remove or rename it; allowed keys: {allowed}",
        )
    if err["type"] == "missing":
        return ConfigError(f"{where}: {who}: missing required key {path!r}", hint="add it (see the other agents)")
    return ConfigError(f"{where}: {who}: {path or 'value'}: {err['msg']}", hint="fix the value in the roster file")


def parse_roster(text: str, where: str = "<roster>") -> Roster:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {exc}", hint="fix the syntax at the position shown") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping with an 'agents' list", hint="see adapters/agents.yaml")
    data = _merge_defaults(raw, where)
    try:
        roster = Roster.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, data, where) from None
    roster._source = where
    return roster


def load_roster(path: Path | None = None) -> Roster:
    """Load and validate the roster (``path``, else ``$TANUKI_ROSTER``, else ``adapters/agents.yaml``)."""
    path = Path(path) if path is not None else default_roster_path()
    if not path.is_file():
        raise ConfigError(
            f"roster file {path} not found",
            hint=f"set {ROSTER_ENV} to your agents.yaml, or run from a checkout that has adapters/agents.yaml",
        )
    return parse_roster(path.read_text(encoding="utf-8"), where=str(path))
