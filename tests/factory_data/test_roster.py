from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tanuki_ollama.agents import load_roster, parse_roster
from tanuki_ollama.agents.prompts import render_string, render_system_prompt, render_template
from tanuki_ollama.errors import ConfigError
from tanuki_ollama.factory.data.strategies import STRATEGIES

CORE = ["coder", "reviewer", "debugger", "tester", "architect", "devops", "documenter", "optimizer",
        "planner-critic", "code-reviewer"]
SPECIALISTS = ["security", "api", "frontend-dev", "designer", "data", "migration", "performance"]
ROSTER_FILE = Path(__file__).resolve().parents[2] / "adapters" / "agents.yaml"


def test_shipped_roster_is_complete():
    roster = load_roster()
    assert [a.role for a in roster.core()] == CORE
    for role in CORE + SPECIALISTS:
        agent = roster.get(role)
        assert agent.name == f"tanuki-{role}"
        assert roster.get(agent.name) is agent
        assert agent.tools and agent.system_prompt and agent.output_schema["type"] in ("object", "string")
        assert agent.data.strategies and all(s in STRATEGIES for s in agent.data.strategies)
        assert agent.lora.rank >= 1 and agent.parameters.num_ctx == 4096
        if agent.output_schema["type"] == "object":
            assert {"thought", "steps", "answer"} <= set(agent.output_schema["properties"])


def _raw() -> dict:
    return yaml.safe_load(ROSTER_FILE.read_text())


def test_unknown_agent_key_is_rejected_with_the_key_and_the_agent():
    raw = _raw()
    raw["agents"][2]["temprature"] = 0.3
    with pytest.raises(ConfigError) as err:
        parse_roster(yaml.safe_dump(raw), where="agents.yaml")
    msg = str(err.value)
    assert "unknown key 'temprature'" in msg and "tanuki-debugger" in msg and "allowed keys" in msg


def test_unknown_nested_and_top_level_keys_are_rejected():
    raw = _raw()
    raw["agents"][0]["lora"]["rnak"] = 8
    with pytest.raises(ConfigError, match=r"tanuki-coder.*unknown key 'rnak' in 'lora'"):
        parse_roster(yaml.safe_dump(raw))
    raw = _raw()
    raw["agent"] = []
    with pytest.raises(ConfigError, match="unknown key 'agent'"):
        parse_roster(yaml.safe_dump(raw))
    raw = _raw()
    raw["agents"][1]["parameters"] = {"temperatur": 1}
    with pytest.raises(ConfigError, match="unknown key 'temperatur' in 'parameters'"):
        parse_roster(yaml.safe_dump(raw))


def test_other_bad_rosters():
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_roster("agents: [")
    raw = _raw()
    del raw["agents"][0]["system_prompt"]
    with pytest.raises(ConfigError, match="missing required key 'system_prompt'"):
        parse_roster(yaml.safe_dump(raw))
    raw = _raw()
    raw["agents"].append(dict(raw["agents"][0]))
    with pytest.raises(ConfigError, match="defined twice"):
        parse_roster(yaml.safe_dump(raw))
    raw = _raw()
    raw["agents"][0]["role"] = "writer"
    with pytest.raises(ConfigError, match="does not match name"):
        parse_roster(yaml.safe_dump(raw))


def test_adding_an_agent_is_adding_yaml(tmp_path, monkeypatch):
    raw = _raw()
    raw["agents"].append({"name": "tanuki-release", "role": "release", "description": "Cuts releases.",
                          "system_prompt": "You are {{ name }}.", "tools": ["git"],
                          "output_schema": {"type": "string"}, "data": {"strategies": ["critique_plan"]}})
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("TANUKI_ROSTER", str(path))
    roster = load_roster()
    agent = roster.get("release")
    assert agent.lora.rank == 16 and agent.parameters.temperature == 0.2  # defaults merged in
    assert agent.plain_text and not agent.core
    assert render_system_prompt(agent) == "You are tanuki-release."
    assert [a.name for a in roster.select("coder,release")] == ["tanuki-coder", "tanuki-release"]
    with pytest.raises(ConfigError, match="no agent 'nobody'"):
        roster.get("nobody")


def test_missing_roster_file_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TANUKI_ROSTER", str(tmp_path / "none.yaml"))
    with pytest.raises(ConfigError) as err:
        load_roster()
    assert "TANUKI_ROSTER" in err.value.hint


def test_prompts_are_strict():
    with pytest.raises(ConfigError, match="undefined"):
        render_string("hello {{ who }}")
    with pytest.raises(ConfigError, match="undefined"):
        render_template("synth/fix_mutant.j2", variant=0, code="x")
    with pytest.raises(ConfigError, match="not found"):
        render_template("synth/nope.j2")
    text = render_template("synth/fix_mutant.j2", variant=1, code="x = 1", expr="f(1)", expected="2")
    assert "f(1)" in text and "x = 1" in text
