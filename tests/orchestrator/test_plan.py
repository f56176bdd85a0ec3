"""The planner's repairs and the router's defaults: weak or malformed model output never breaks the run."""

import json

from tanuki_ollama.agents.roster import load_roster
from tanuki_ollama.orchestrator.models import PlanStep
from tanuki_ollama.orchestrator.parse import parse_object
from tanuki_ollama.orchestrator.planner import MAX_STEPS, parse_plan, plan_schema, topological
from tanuki_ollama.orchestrator.router import route

ROSTER = load_roster()
NAMES = ROSTER.names()


def test_parse_object_repairs_what_small_models_write():
    assert parse_object('{"a": 1}') == ({"a": 1}, [])
    value, repairs = parse_object('Here you go:\n```json\n{"steps": [{"id": "s1",},]}\n```\nThanks')
    assert value == {"steps": [{"id": "s1"}]} and "trailing-comma" in repairs
    value, repairs = parse_object('{"thought": "x", "answer": {"code": "def f():\\n    return')
    assert value == {"thought": "x", "answer": {"code": "def f():\n    return"}} and repairs == ["closed-truncated"]
    assert parse_object("I cannot help with that.") == (None, ["no-object"])
    assert parse_object("[1, 2]")[0] is None


def test_garbage_gives_the_default_plan():
    for text in ("", "nonsense", "[]", '{"steps": []}', '{"steps": "do it"}', '{"foo": 1}'):
        plan = parse_plan(text, "fix it", NAMES, files=["calc.py"])
        assert plan.source == "default"
        assert [s.kind for s in plan.steps] == ["edit", "check", "review"]
        assert plan.steps[0].inputs == ["calc.py"] and plan.steps[0].goal == "fix it"


def test_weak_plan_is_repaired_not_discarded():
    raw = {"steps": [
        {"id": "b", "agent": "reviewer-of-doom", "goal": "look", "depends_on": ["a"]},
        {"id": "a", "agent": "debugger", "kind": "edit", "goal": "fix the bug", "inputs": "calc.py",
         "depends_on": ["b", "zzz"]},
        "run the tests",
        42,
    ]}
    plan = parse_plan(json.dumps(raw), "task", NAMES, files=["x.py"])
    assert plan.source == "repaired"
    ids = [s.id for s in plan.steps]
    assert len(ids) == len(set(ids)) == 3  # the number was dropped, the string became a step
    a = next(s for s in plan.steps if s.goal == "fix the bug")
    assert a.agent == "tanuki-debugger" and a.inputs == ["calc.py"]
    b = next(s for s in plan.steps if s.goal == "look")
    assert b.agent == ""  # unknown agent: the router decides
    assert any("unknown agent" in n for n in plan.notes)
    # the a <-> b cycle is broken and unknown dependencies are gone: every dependency precedes its step
    seen = set()
    for s in plan.steps:
        assert set(s.depends_on) <= seen
        seen.add(s.id)


def test_plan_without_edit_gets_one_and_is_capped():
    raw = {"steps": [{"id": f"c{i}", "kind": "check", "agent": "tanuki-tester", "goal": "test"}
                     for i in range(MAX_STEPS + 4)]}
    plan = parse_plan(json.dumps(raw), "add a feature", NAMES, files=["m.py"])
    assert plan.steps[0].kind == "edit" and plan.steps[0].inputs == ["m.py"]
    assert len(plan.steps) == MAX_STEPS + 1
    schema = plan_schema(NAMES)
    assert schema["properties"]["steps"]["items"]["properties"]["agent"]["enum"] == NAMES


def test_topological_keeps_order_and_breaks_cycles():
    steps = [PlanStep(id="x", depends_on=["y"]), PlanStep(id="y", depends_on=["x"]), PlanStep(id="z")]
    ordered = topological(steps)
    assert sorted(s.id for s in ordered) == ["x", "y", "z"]
    pos = {s.id: i for i, s in enumerate(ordered)}
    for s in ordered:
        assert all(pos[d] < pos[s.id] for d in s.depends_on)


def test_router_keeps_fitting_choices_and_defaults_otherwise():
    assert route(PlanStep(id="1", kind="edit", agent="tanuki-debugger"), ROSTER).name == "tanuki-debugger"
    # a reviewer cannot write: an edit step given to it goes to a writer
    assert route(PlanStep(id="2", kind="edit", agent="tanuki-reviewer", goal="implement x"), ROSTER).name \
        == "tanuki-coder"
    assert route(PlanStep(id="3", kind="edit", goal="fix the failing test"), ROSTER).name == "tanuki-debugger"
    assert route(PlanStep(id="4", kind="edit", goal="add docstrings"), ROSTER).name == "tanuki-documenter"
    assert route(PlanStep(id="5", kind="check"), ROSTER).name == "tanuki-tester"
    assert route(PlanStep(id="6", kind="review", agent="tanuki-coder"), ROSTER).name == "tanuki-code-reviewer"
    # restricted to the agents a family provides
    only = ["tanuki-coder", "tanuki-tester", "tanuki-code-reviewer"]
    assert route(PlanStep(id="7", kind="edit", goal="fix the bug", agent="tanuki-security"), ROSTER, only).name \
        == "tanuki-coder"


def test_config_for_a_family_maps_every_agent():
    from tanuki_ollama.orchestrator import RunConfig

    config = RunConfig.for_family("tanuki-micro")
    assert config.model_for("tanuki-coder") == "tanuki-micro-coder"
    assert config.model_for("tanuki-planner-critic") == "tanuki-micro-planner-critic"
    assert set(config.models) == set(NAMES)
    assert RunConfig().model_for("tanuki-coder") == "tanuki-coder"
