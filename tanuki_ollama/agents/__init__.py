"""The roster (``adapters/agents.yaml``) and prompt rendering. No I/O at import."""

from .roster import (
    AgentSpec,
    DataSpec,
    FewShot,
    LoraSpec,
    OllamaParameters,
    Roster,
    load_roster,
    parse_roster,
)

__all__ = ["AgentSpec", "DataSpec", "FewShot", "LoraSpec", "OllamaParameters", "Roster", "load_roster", "parse_roster"]
