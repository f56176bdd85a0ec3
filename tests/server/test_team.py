"""The `tanuki` model: a chat turn becomes a run of the real orchestrator on a copy of the server's workspace
(scripted agent answers), streamed as progress then the report; the run's journal is in the store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from tests.orchestrator.conftest import EXAMPLE, tree_hash

from .helpers import ListedScriptedEngine

pytestmark = pytest.mark.slow  # runs the example's tests in the sandbox twice

TASK = {"model": "tanuki", "messages": [{"role": "user", "content": "make the failing test pass"}]}


def team_engine(*extra: str) -> ListedScriptedEngine:
    # the team's edit step is a candidate search whose requests run side by side: every answer after the plan is
    # the fixed line, whichever request takes it (a candidate, or a reviewer, who then decides on the evidence)
    return ListedScriptedEngine([*extra, "Sure! Here is my plan: fix it.", *["return a + b\n"] * 24],
                                listed=["tanuki-coder"])


@pytest.fixture
def workspace(tmp_path) -> Path:
    dest = tmp_path / "buggy-calculator"
    shutil.copytree(EXAMPLE, dest)
    return dest


def test_team_run_streams_progress_and_the_diff(serve, store, workspace):
    before = tree_hash(workspace)
    url = serve(team_engine(), workspace=workspace)
    with httpx.stream("POST", f"{url}/api/chat", json=TASK, timeout=300) as r:
        assert r.status_code == 200
        chunks = [json.loads(line) for line in r.iter_lines() if line]
    progress = [c["message"]["content"] for c in chunks if not c["done"]]
    assert any("[plan]" in p for p in progress) and any("[done]" in p for p in progress)
    assert "+    return a + b" in "".join(progress)  # the report, with its diff, ends the answer
    final = chunks[-1]
    assert final["done"] and final["tanuki_run"]["status"] == "succeeded"
    assert "-    return a - b" in final["tanuki_run"]["diff"]
    assert tree_hash(workspace) == before  # the server's workspace is never written
    run_id = final["tanuki_run"]["run_id"]
    assert run_id in httpx.get(f"{url}/api/runs").json()["runs"]
    kinds = [e["kind"] for e in httpx.get(f"{url}/api/runs/{run_id}").json()["events"]]
    assert "plan" in kinds and kinds[-1] == "report"
    assert store.events(run_id)[-1].data["status"] == "succeeded"  # any replica sharing the store sees it


def test_team_over_openai_api(serve, workspace):
    url = serve(team_engine(), workspace=workspace)
    r = httpx.post(f"{url}/v1/chat/completions", json=TASK, timeout=300)
    body = r.json()
    assert r.status_code == 200 and body["tanuki_run"]["status"] == "succeeded"
    assert "## Diff" in body["choices"][0]["message"]["content"]
    assert 'tanuki_team_runs_total{status="succeeded"} 1.0' in httpx.get(f"{url}/metrics").text


def test_team_needs_a_workspace(serve):
    url = serve(team_engine())
    r = httpx.post(f"{url}/api/chat", json=TASK | {"stream": False})
    assert r.status_code == 400 and "--workspace" in r.json()["error"]
