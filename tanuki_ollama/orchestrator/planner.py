"""The foresight planner: a structured plan through the engine's structured output, validated and repaired.

A 135M model writes weak plans. :func:`repair_plan` keeps what is usable (known agents, acyclic dependencies,
at most ``MAX_STEPS``), fills in what is missing, and falls back to :func:`default_plan` (edit -> check ->
review) when nothing survives. The planner never raises for bad model output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..agents.prompts import render_template
from ..types import Message
from .models import Plan, PlanStep
from .parse import as_str_list, parse_object

MAX_STEPS = 6
KINDS = ("edit", "check", "review")


def plan_schema(agent_names: Sequence[str]) -> dict[str, Any]:
    """The JSON schema sent as ``format`` (Ollama constrains decoding to it)."""
    step = {
        "type": "object",
        "required": ["id", "kind", "agent", "goal", "inputs", "acceptance", "depends_on"],
        "properties": {
            "id": {"type": "string"},
            "kind": {"type": "string", "enum": list(KINDS)},
            "agent": {"type": "string", "enum": list(agent_names)},
            "goal": {"type": "string"},
            "inputs": {"type": "array", "items": {"type": "string"}},
            "acceptance": {"type": "array", "items": {"type": "string"}},
            "depends_on": {"type": "array", "items": {"type": "string"}},
        },
    }
    return {"type": "object", "required": ["steps"],
            "properties": {"steps": {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": step}}}


def default_plan(task: str, files: Sequence[str] = (), note: str = "") -> Plan:
    """edit (coder) -> check (tester runs the tests) -> review (code-reviewer): sane for any task."""
    return Plan(
        source="default",
        notes=[note] if note else [],
        steps=[
            PlanStep(id="s1", kind="edit", agent="tanuki-coder", goal=task, inputs=list(files),
                     acceptance=["tests pass"]),
            PlanStep(id="s2", kind="check", agent="tanuki-tester", goal="run the test suite",
                     acceptance=["tests pass"], depends_on=["s1"]),
            PlanStep(id="s3", kind="review", agent="tanuki-code-reviewer", goal="review the whole change",
                     depends_on=["s2"]),
        ],
    )


def _kind(raw: Any, agent: str) -> str:
    kind = str(raw or "").strip().lower()
    if kind in KINDS:
        return kind
    if agent.endswith("reviewer"):
        return "review"
    return "edit"


def _step_id(raw: Any, index: int, seen: set[str]) -> str:
    sid = re.sub(r"[^A-Za-z0-9_-]", "", str(raw or ""))[:16] or f"s{index + 1}"
    return sid if sid not in seen else f"s{index + 1}-{len(seen)}"


def topological(steps: list[PlanStep]) -> list[PlanStep]:
    """Steps ordered by dependencies (stable); dependencies on unknown ids or forming cycles are dropped."""
    ids = {s.id for s in steps}
    done: list[PlanStep] = []
    placed: set[str] = set()
    pending = list(steps)
    for _ in range(len(steps) + 1):
        progressed = False
        for s in list(pending):
            s.depends_on = [d for d in s.depends_on if d in ids and d != s.id]
            if all(d in placed for d in s.depends_on):
                done.append(s)
                placed.add(s.id)
                pending.remove(s)
                progressed = True
        if not pending:
            break
        if not progressed:  # a cycle: break it at the first pending step
            first = pending.pop(0)
            first.depends_on = [d for d in first.depends_on if d in placed]
            done.append(first)
            placed.add(first.id)
    return done


def repair_plan(raw: dict[str, Any] | None, task: str, known_agents: Sequence[str], files: Sequence[str] = (),
                *, repairs: Sequence[str] = ()) -> Plan:
    """A valid :class:`Plan` from whatever the model answered."""
    notes = [f"json: {', '.join(repairs)}"] if repairs else []
    items = (raw or {}).get("steps") if isinstance(raw, dict) else None
    if isinstance(raw, dict) and items is None and isinstance(raw.get("plan"), list):
        items = raw["plan"]
    if not isinstance(items, list) or not items:
        return default_plan(task, files, note="the planner gave no usable steps")
    steps: list[PlanStep] = []
    seen: set[str] = set()
    for i, item in enumerate(items[:MAX_STEPS]):
        if isinstance(item, str):
            item = {"goal": item}
        if not isinstance(item, dict):
            notes.append(f"step {i + 1}: dropped a {type(item).__name__}")
            continue
        agent = str(item.get("agent") or "").strip()
        if agent and not agent.startswith("tanuki-"):
            agent = f"tanuki-{agent}"
        if agent not in known_agents:
            if agent:
                notes.append(f"step {i + 1}: unknown agent {agent!r}")
            agent = ""  # the router picks one
        sid = _step_id(item.get("id"), i, seen)
        seen.add(sid)
        steps.append(PlanStep(
            id=sid, kind=_kind(item.get("kind"), agent), agent=agent,
            goal=str(item.get("goal") or item.get("description") or task).strip()[:500],
            inputs=as_str_list(item.get("inputs")), acceptance=as_str_list(item.get("acceptance")),
            depends_on=as_str_list(item.get("depends_on")),
        ))
    if not any(s.kind == "edit" for s in steps):
        notes.append("no edit step: added one")
        steps.insert(0, PlanStep(id="edit", kind="edit", agent="", goal=task, inputs=list(files),
                                 acceptance=["tests pass"]))
    for s in steps:
        if s.kind == "edit" and not s.inputs:
            s.inputs = list(files)
    return Plan(steps=topological(steps), source="repaired" if notes else "model", notes=notes)


def plan_messages(task: str, agents: Sequence[Any], repo_map: str, failing: Sequence[str] = (),
                  feedback: str = "") -> list[Message]:
    system = render_template("orchestrator/planner_system.j2", agents=agents, max_steps=MAX_STEPS)
    user = render_template("orchestrator/planner_user.j2", task=task, repo_map=repo_map or "(empty)",
                           failing=list(failing), feedback=feedback)
    return [Message(role="system", content=system), Message(role="user", content=user)]


def parse_plan(text: str, task: str, known_agents: Sequence[str], files: Sequence[str] = ()) -> Plan:
    raw, repairs = parse_object(text)
    return repair_plan(raw, task, known_agents, files, repairs=repairs)
