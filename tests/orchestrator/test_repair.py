"""Edit steps as a search, through ``run_task`` with the real tools, the real sandbox, real pytest and coverage:
the scripted engine only stands in for the model's answers (consumed in call order: the planner, then each
candidate's request, then the reviewer of a passing candidate, then the plan's review step)."""

from __future__ import annotations

import json

from tanuki_ollama.engines.scripted import ScriptedEngine
from tanuki_ollama.orchestrator import RunConfig, run_task

from .conftest import FIXED, approve

SEARCH = {"samples": 2, "rounds": 1, "workers": 1, "gen_parallel": 1}


def run(engine, repo, tmp_path, task="make the failing test pass", **cfg):
    config = RunConfig(journal_dir=tmp_path / "runs", **{**SEARCH, **cfg})
    events: list = []
    report = run_task(task, repo, engine=engine, config=config, on_event=events.append)
    return report, events


def test_the_search_localises_samples_and_lets_the_tests_decide(repo, tmp_path):
    engine = ScriptedEngine([
        "no plan",  # the default plan: edit -> check -> review
        "return a * b\n",  # candidate 1: a new version of the suspicious line; fails test_add
        "return a * b\n",  # candidate 2: a continuation of add() from that line: the same program
        "return a - b\n",  # candidate 3: the line again, unchanged
        json.dumps({"code": "def add(a, b):\n    return a + b"}),  # candidate 4: a JSON repair; passes
        approve(),  # the reviewer of the passing candidate
        approve(),  # the plan's review step
    ])
    report, events = run(engine, repo, tmp_path, samples=4)
    assert report.status == "succeeded", report.not_done
    ws = tmp_path / "runs" / report.run_id / "workspace"
    assert (ws / "calculator.py").read_text() == FIXED
    edit = next(s for s in report.steps if s["kind"] == "edit")
    search = edit["search"]
    assert search["gate"] == ["test_calculator.py::test_add"]
    top = search["localisation"]["functions"][0]
    assert (top["path"], top["function"]) == ("calculator.py", "add")
    assert [c["status"] for c in search["candidates"]] == ["failing", "duplicate", "no-op", "accepted"]
    assert "test_add" in search["candidates"][0]["reason"]  # why it was rejected
    assert [c["variant"] for c in search["candidates"]] == ["line", "complete", "line", "repair"]
    assert search["stats"]["validated"] == 2 and search["stats"]["duplicates"] == 1
    # a line candidate's prompt is the file up to the suspicious line and the body's indentation; the model writes
    # one line, the rest of the function is kept
    gen = next(c for c in engine.calls if c.get("prompt") is not None)
    assert gen["raw"] and gen["prompt"].endswith("def add(a, b):\n    ") and "return a - b" not in gen["prompt"]
    assert gen["options"]["num_predict"] <= 40
    # the repair request shows the failing check and only the function, never the whole file
    chat = next(c for c in engine.calls if c.get("format") and c["format"].get("required") == ["code"])
    user = chat["messages"][-1].content
    assert "test_add" in user and "return a - b" in user and "def multiply" not in user
    kinds = {e.kind for e in events}
    assert {"localise", "search", "candidate"} <= kinds
    assert report.usage["search"]["candidates"] == 4 and report.usage["search"]["localisation_s"] > 0


def test_a_candidate_that_breaks_a_passing_test_is_never_accepted(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n\n\ndef identity(x):\n    return add(x, 0)\n")
    (repo / "test_calc.py").write_text("from calc import add, identity\n\n\ndef test_add():\n    assert add(2, 3) == 5"
                                       "\n\n\ndef test_identity():\n    assert identity(4) == 4\n")
    engine = ScriptedEngine(["no plan", "return a * b\n", "return a + b if b else 0\n"])
    report, events = run(engine, repo, tmp_path, max_replans=0)
    assert report.status == "failed", [e.message for e in events]
    ws = tmp_path / "runs" / report.run_id / "workspace"
    assert (ws / "calc.py").read_text() == (repo / "calc.py").read_text()  # rolled back
    edit = next(s for s in report.steps if s["kind"] == "edit")
    candidates = edit["search"]["candidates"]
    assert [c["status"] for c in candidates] == ["failing", "broke"]
    assert candidates[1]["new_failures"] == ["test_calc.py::test_identity"]  # test_add passes, yet never accepted
    assert "no candidate passed" in edit["error"]


def test_a_task_without_a_failing_test_is_checked_against_the_examples_it_states(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "mathx.py").write_text('def double(x):\n    """Twice x.\n\n    >>> double(2)\n    4\n    >>> double(-3)\n'
                                   '    -6\n    """\n')
    engine = ScriptedEngine([
        "no plan",
        "return x + 2\n",  # passes double(2) == 4 only: partial
        json.dumps({"code": "def double(x):\n    return 2 * x"}),  # passes both examples
        approve(), approve(),
    ])
    report, events = run(engine, repo, tmp_path, task="implement double in mathx.py", samples=2)
    assert report.status == "succeeded", report.not_done
    ws = tmp_path / "runs" / report.run_id / "workspace"
    assert "return 2 * x" in (ws / "mathx.py").read_text()
    assert not (ws / "test_tanuki_checks.py").exists()  # the derived checks gate the change, then go
    edit = next(s for s in report.steps if s["kind"] == "edit")
    checks = edit["search"]["checks"]
    assert checks["origin"] == "examples" and checks["cases"] == 2
    assert [c["status"] for c in edit["search"]["candidates"]] == ["partial", "accepted"]
    assert any(e.kind == "checks" for e in events)


def test_a_later_edit_step_with_nothing_left_to_check_changes_nothing(repo, tmp_path):
    plan = {"steps": [
        {"id": "fix", "kind": "edit", "agent": "tanuki-debugger", "goal": "fix add", "inputs": ["calculator.py"],
         "acceptance": ["tests pass"], "depends_on": []},
        {"id": "more", "kind": "edit", "agent": "tanuki-coder", "goal": "add_multiplication_error", "inputs": [],
         "acceptance": [], "depends_on": ["fix"]}]}
    engine = ScriptedEngine([json.dumps(plan), "return a + b\n", "return a + b\n", approve(), approve(), approve()])
    report, events = run(engine, repo, tmp_path)
    assert report.status == "succeeded", report.not_done
    more = next(s for s in report.steps if s["id"] == "more")
    assert more["status"] == "accepted" and more["files_written"] == [] and more["search"] is None
    assert any("nothing left to check" in e.message for e in events)
