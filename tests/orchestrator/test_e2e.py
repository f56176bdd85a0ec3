"""The real thing: `tanuki run` (a real process) with the tanuki-micro family in the session's real Ollama.

The test sets no score: it asserts that the run ends cleanly either way, that the report says which, that the
candidate search ran and reported (localisation, gate, candidates and their verdicts), that its diff matches the
workspace, and that nothing outside the workspace was written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tanuki_ollama.orchestrator import RunReport

from .conftest import EXAMPLE, tree_hash


def tanuki(*args, env_extra=None, timeout=300):
    env = dict(os.environ, **(env_extra or {}))
    env.pop("TANUKI_RAISE_ERRORS", None)
    return subprocess.run([sys.executable, "-m", "tanuki_ollama", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


@pytest.mark.slow
def test_micro_family_runs_a_task_end_to_end(ollama_env, ollama, repo, tmp_path):
    before = tree_hash(repo)
    runs = tmp_path / "runs"
    out = tanuki("run", "make the failing test pass", "--repo", str(repo), "--family", "tanuki-micro",
                 "--journal-dir", str(runs), "--max-revisions", "0", "--max-replans", "0", "--num-predict", "64",
                 "--step-timeout", "60", "--timeout", "150", "--memory-budget", "1MB", "--json", timeout=280)
    assert out.returncode == 0, out.stderr[-2000:]
    report = RunReport.model_validate(json.loads(out.stdout))
    # a clean end either way (a slow, shared machine may hit the run's time limit: that is a clean end too)
    assert report.status in ("succeeded", "partial", "failed", "timed_out"), report.summary
    assert report.succeeded == (report.status == "succeeded")
    assert report.summary.startswith({"succeeded": "The task was done", "partial": "Part of the plan",
                                      "failed": "The task was not done",
                                      "timed_out": "The run timed out"}[report.status])
    assert report.evidence["tests_before"]["failed"]
    assert report.usage["model_requests"] >= 2  # the planner and at least one agent were asked
    if report.usage["model_calls"] < report.usage["model_requests"]:  # a model did not answer in time
        assert any("in time" in (s["error"] or "") for s in report.steps) or "in time" in str(report.plan["notes"])
    # the models are the micro family, registered on first use
    names = {m.name.split(":")[0] for m in ollama.list_models()}
    assert {"tanuki-micro-coder", "tanuki-micro-planner-critic", "tanuki-micro-code-reviewer"} <= names
    residency = report.evidence["residency"]
    assert residency["loads"] >= 1 and residency["resources"]["available_bytes"] > 0
    if residency["loads"] >= 2:  # a 1 MB budget holds no second model: the least recently used one goes,
        # evicted by the manager, or already let go by Ollama itself (its own limit on loaded runners)
        assert residency["evictions"] or residency["dropped"]
    # the diff is the workspace's: changed files differ from the example, the others are identical
    ws = runs / report.run_id / "workspace"
    assert str(ws) == report.workspace
    changed = set(report.evidence["changed_files"])
    for path in EXAMPLE.rglob("*"):
        if path.is_file():
            rel = path.relative_to(EXAMPLE).as_posix()
            same = (ws / rel).is_file() and (ws / rel).read_bytes() == path.read_bytes()
            assert same == (rel not in changed), rel
    for rel in changed:
        assert f"b/{rel}" in report.diff or f"a/{rel}" in report.diff
    # nothing outside the workspace: the user's repository is untouched, no stray files next to the run
    assert tree_hash(repo) == before
    stray = [p for p in tmp_path.rglob("*") if p.is_file() and repo not in p.parents and runs not in p.parents]
    assert stray == []
    assert {p.name for p in (runs / report.run_id).iterdir()} == {"workspace", "state.json", "events.jsonl"}
    # the candidate search ran on the edit step: localised, sampled, deduplicated, validated and reported
    searched = [s["search"] for s in report.steps if s.get("search")]
    if report.status != "timed_out":
        assert searched, [s["id"] for s in report.steps]
        first = searched[0]
        assert first["localisation"]["functions"][0]["path"] == "calculator.py"
        assert first["gate"] == ["test_calculator.py::test_add"]
        stats = first["stats"]
        assert stats["candidates"] >= 1 and stats["candidates"] == len(first["candidates"])
        assert stats["unique"] + stats["duplicates"] + stats["syntax"] <= stats["candidates"]
        assert all(c["status"] in ("accepted", "rejected", "passed", "partial", "failing", "broke", "syntax",
                                   "duplicate", "no-op", "empty") for c in first["candidates"])
        assert report.usage["search"]["candidates"] >= stats["candidates"]
        if report.status == "succeeded":  # the accepted candidate is what the diff holds
            assert first["accepted"] and first["accepted"]["region"].startswith("calculator.py")
