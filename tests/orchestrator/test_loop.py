"""The loop with the scripted engine, the real tools and the real sandbox: every branch of the run.

Scripted answers are consumed in call order: planner, then per edit attempt the agent (and the reviewer when the
checks pass), then each review step's reviewer.
"""

from __future__ import annotations

import json

from tanuki_ollama.engines.scripted import ScriptedEngine
from tanuki_ollama.orchestrator import RunConfig, run_task
from tanuki_ollama.orchestrator.journal import Journal

from .conftest import BROKEN, FIXED, WRONG, SlowEngine, approve, code, react, tree_hash


def run(engine, repo, tmp_path, events=None, **cfg):
    config = RunConfig(journal_dir=tmp_path / "runs", **{"search": False, **cfg})  # the whole-file path
    return run_task("make the failing test pass", repo, engine=engine, config=config,
                    on_event=(events.append if events is not None else None))


def user_messages(engine, model):
    return [c["messages"][-1].content for c in engine.calls if c["model"] == model]


def test_fixes_the_bug_on_a_copy_and_reports_the_evidence(repo, tmp_path):
    before = tree_hash(repo)
    engine = ScriptedEngine(["Sure! Here is my plan: fix it.", code(FIXED), approve(), approve()])
    events = []
    report = run(engine, repo, tmp_path, events)
    assert report.status == "succeeded" and report.succeeded
    assert tree_hash(repo) == before  # the user's repository is untouched
    assert "+    return a + b" in report.diff and "-    return a - b" in report.diff
    assert report.plan["source"] == "default"
    assert any("test_add" in name for name in report.evidence["tests_before"]["failed"])
    assert report.evidence["tests_after"]["ok"] and report.evidence["changed_files"] == ["calculator.py"]
    assert report.not_done == []
    ws = tmp_path / "runs" / report.run_id / "workspace"
    assert (ws / "calculator.py").read_text() == FIXED
    # the coder got a briefing packet with the file to change and the failing test
    brief = user_messages(engine, "tanuki-coder")[0]
    assert "## files" in brief and "calculator.py" in brief and "test_add" in brief
    assert engine.calls[1]["format"]["required"] == ["thought", "steps", "answer"]  # structured output
    kinds = [e.kind for e in events]
    assert kinds[0] == "tool" and "plan" in kinds and kinds[-1] == "done"
    assert "# tanuki run" in report.to_markdown() and report.usage["model_calls"] == 4


def test_reject_and_revise_with_differential_updates(repo, tmp_path):
    plan = {"steps": [
        {"id": "fix", "kind": "edit", "agent": "tanuki-debugger", "goal": "fix add", "inputs": ["calculator.py"],
         "acceptance": ["tests pass"], "depends_on": []},
        {"id": "rev", "kind": "review", "agent": "tanuki-code-reviewer", "goal": "review", "inputs": [],
         "acceptance": [], "depends_on": ["fix"]}]}
    documented = FIXED.replace("def add(a, b):\n", 'def add(a, b):\n    """Return a + b."""\n')
    engine = ScriptedEngine([
        json.dumps(plan),
        react({"bug": "add", "fixed_code": WRONG}),  # the checks fail: rejected on the evidence, no review call
        react({"bug": "add", "fixed_code": FIXED}),
        react({"verdict": "request_changes",
               "findings": [{"line": 4, "severity": "major", "message": "add a docstring to add()"}]}),
        react({"bug": "add", "fixed_code": documented}),
        approve(),  # the edit's review
        approve(),  # the review step
    ])
    report = run(engine, repo, tmp_path, max_revisions=2)
    assert report.status == "succeeded", report.not_done
    fix = next(s for s in report.steps if s["id"] == "fix")
    assert fix["agent"] == "tanuki-debugger" and fix["attempts"] == 3
    assert [v["approve"] for v in fix["verdicts"]] == [False, False, True]
    assert fix["verdicts"][0]["reviewer"] == "evidence"
    turns = user_messages(engine, "tanuki-debugger")
    assert turns[0].startswith("## task")
    assert turns[1].startswith("Update for the same step") and "test_add pass" in turns[1]
    assert "line 4: add a docstring" in turns[2] and "## task" not in turns[2]  # only what changed
    assert '"""Return a + b."""' in report.diff


def test_failed_step_is_rolled_back_and_replanned(repo, tmp_path):
    engine = ScriptedEngine(["{}", code(WRONG), "still not a plan", code(FIXED), approve(), approve()])
    events = []
    report = run(engine, repo, tmp_path, events, max_revisions=0, max_replans=1)
    kinds = [e.kind for e in events]
    assert "rollback" in kinds and "replan" in kinds
    assert kinds.index("rollback") < kinds.index("replan")
    assert report.status == "succeeded" and report.evidence["replans"] == 1
    first = next(s for s in report.steps if s["id"] == "s1")
    assert first["status"] == "failed" and "test_add" in first["error"]
    assert {s["id"]: s["status"] for s in report.steps if s["id"] in ("s2", "s3")} == {"s2": "skipped",
                                                                                       "s3": "skipped"}
    assert [s["id"] for s in report.plan["steps"]] == ["r1-s1", "r1-s2", "r1-s3"]
    assert "return a * b" not in report.diff and "+    return a + b" in report.diff


def test_out_of_budget_failure_rolls_back_and_says_what_was_not_done(repo, tmp_path):
    engine = ScriptedEngine(["{}", code(WRONG)])
    report = run(engine, repo, tmp_path, max_revisions=0, max_replans=0)
    assert report.status == "failed" and not report.succeeded
    ws = tmp_path / "runs" / report.run_id / "workspace"
    assert (ws / "calculator.py").read_text() == BROKEN  # rolled back
    assert report.diff == "" and any("tests still failing" in n for n in report.not_done)
    assert [s["status"] for s in report.steps] == ["failed", "skipped", "skipped"]


def test_malformed_output_and_tool_failures_never_crash(repo, tmp_path):
    escape = react({"language": "python", "code": FIXED, "files": [{"path": "../outside.py", "content": "x = 1"}]},
                   steps=[{"thought": "debug", "action": "gdb", "input": "a.out", "observation": ""},
                          {"thought": "peek", "action": "read_file", "input": "../../etc/passwd", "observation": ""},
                          {"thought": "look", "action": "read_file", "input": '{"path": "calculator.py"}',
                           "observation": ""}])
    engine = ScriptedEngine(["{}", "I think the bug is in add.", escape, code(FIXED), approve(), approve()])
    report = run(engine, repo, tmp_path, max_revisions=2)
    assert report.status == "succeeded"
    step = report.steps[0]
    assert step["verdicts"][0]["malformed"] is True and step["attempts"] == 3
    calls = {(c["tool"], c["ok"]) for c in step["tool_calls"]}
    assert ("gdb", False) in calls  # not in the coder's tools: permission denied
    assert ("read_file", False) in calls and ("read_file", True) in calls  # traversal refused, a plain read works
    assert any("outside.py" in r and "refused" in r for r in step["verdicts"][1]["requests"])
    assert not any(p.name == "outside.py" for p in tmp_path.rglob("outside.py"))


def test_step_timeout_and_run_timeout(repo, tmp_path):
    engine = SlowEngine([code(FIXED)] * 4, delay=1.0)
    report = run(engine, repo, tmp_path, step_timeout_s=0.3, max_replans=0)
    assert report.status == "failed"
    assert "did not answer in time" in report.steps[0]["error"]
    assert any("planner" in n for n in report.plan["notes"])  # the planner timed out too: default plan
    slow = SlowEngine([code(FIXED)] * 4, delay=5.0)
    report = run(slow, repo, tmp_path / "second", run_timeout_s=1.0)
    assert report.status == "timed_out" and "timed out" in report.summary


def test_cancelled_run_resumes_from_its_journal(repo, tmp_path):
    import threading

    cancel = threading.Event()
    engine = SlowEngine(["{}", code(FIXED)], delay=0.5)

    def on_event(event):
        if event.kind == "step_start":
            cancel.set()  # Ctrl-C while the first agent works

    config = RunConfig(journal_dir=tmp_path / "runs", search=False)
    report = run_task("make the failing test pass", repo, engine=engine, config=config, on_event=on_event,
                      cancel=cancel)
    assert report.status == "cancelled"
    journal = Journal.existing(tmp_path / "runs", report.run_id)
    state = journal.load()
    assert state["status"] == "interrupted" and state["records"]["s1"]["status"] == "running"
    ws = tmp_path / "runs" / report.run_id / "workspace"
    (ws / "calculator.py").write_text("half-written by the interrupted step")
    resumed = run_task("", repo, engine=ScriptedEngine([code(FIXED), approve(), approve()]),
                       config=RunConfig(journal_dir=tmp_path / "runs", resume=report.run_id, search=False))
    assert resumed.run_id == report.run_id and resumed.status == "succeeded"
    assert (ws / "calculator.py").read_text() == FIXED
    assert "half-written" not in resumed.diff


def test_run_interrupted_while_planning_resumes_with_a_plan(repo, tmp_path):
    import threading

    cancel = threading.Event()

    def on_event(event):
        if event.kind == "tool" and event.message.startswith("tests before"):
            cancel.set()

    report = run_task("make the failing test pass", repo, engine=SlowEngine(["{}"], delay=0.5),
                      config=RunConfig(journal_dir=tmp_path / "runs", search=False), on_event=on_event, cancel=cancel)
    assert report.status == "cancelled" and report.plan == {"steps": []}
    state = Journal.existing(tmp_path / "runs", report.run_id).load()
    assert state["plan"] is None and state["tests_before"]["failed"]
    engine = ScriptedEngine(["{}", code(FIXED), approve(), approve()])
    resumed = run_task("", repo, engine=engine, config=RunConfig(journal_dir=tmp_path / "runs", resume=report.run_id, search=False))
    assert resumed.status == "succeeded" and resumed.plan["source"] == "default"
    assert engine.calls[0]["model"] == "tanuki-planner-critic"


def test_in_place_run_changes_the_repository_but_not_its_git_state(repo, tmp_path):
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "initial")
    head = git("rev-parse", "HEAD")
    report = run(ScriptedEngine(["{}", code(FIXED), approve(), approve()]), repo, tmp_path, in_place=True)
    assert report.status == "succeeded" and report.workspace == str(repo.resolve())
    assert (repo / "calculator.py").read_text() == FIXED
    assert git("rev-parse", "HEAD") == head  # no commit, no branch move: snapshots live under refs/tanuki/
    assert git("status", "--porcelain", "--untracked-files=no").split() == ["M", "calculator.py"]
    assert git("diff", "--cached") == ""  # the user's index is untouched




def test_all_steps_accepted_with_failing_tests_is_not_a_success():
    """Steps are accepted on "no regression"; the run is "succeeded" only when the tests pass at the end."""
    from tanuki_ollama.orchestrator.aggregate import settle_status

    assert settle_status("succeeded", {"found": True, "ok": False}) == "partial"
    assert settle_status("succeeded", {"found": True, "ok": True}) == "succeeded"
    assert settle_status("succeeded", {"found": False}) == "succeeded"  # a repository without tests
    assert settle_status("succeeded", None) == "succeeded"
    assert settle_status("timed_out", {"found": True, "ok": False}) == "timed_out"
