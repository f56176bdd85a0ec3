"""`tanuki run` as a user runs it (a real process): errors name their fix, --json prints the RunReport."""

from __future__ import annotations

import json

from tanuki_ollama.orchestrator import RunReport

from .conftest import tree_hash
from .test_e2e import tanuki


def test_run_json_ends_cleanly_when_the_engine_cannot_answer(repo, tmp_path):
    before = tree_hash(repo)
    # the scripted engine built by name has no answers: every model call fails, the run must still end cleanly
    out = tanuki("run", "make the failing test pass", "--repo", str(repo), "--engine", "scripted",
                 "--journal-dir", str(tmp_path / "runs"), "--max-replans", "1", "--json", timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    report = RunReport.model_validate(json.loads(out.stdout))
    assert report.status == "failed" and not report.succeeded and report.diff == ""
    assert report.plan["source"] == "default" and "planner failed" in report.plan["notes"][0]
    assert report.evidence["replans"] == 1
    assert any("ran out of responses" in (s["error"] or "") for s in report.steps)
    assert report.not_done and tree_hash(repo) == before


def test_run_errors_name_their_fix(tmp_path):
    out = tanuki("run", "--resume", "no-such-run", "--engine", "scripted", "--journal-dir", str(tmp_path))
    assert out.returncode == 1 and "no journal for run 'no-such-run'" in out.stderr and "hint:" in out.stderr
    out = tanuki("run", "--engine", "scripted")
    assert out.returncode == 1 and "no task given" in out.stderr
    out = tanuki("run", "x", "--engine", "scripted", "--memory-budget", "lots")
    assert out.returncode == 1 and "6GB" in out.stderr
