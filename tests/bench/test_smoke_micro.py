"""CI smoke: a small fixed subset of each bench end to end through the CLI on the micro model in the session's
real Ollama (a check of the harness, not of the score)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tanuki_ollama.cli.main import cli

pytestmark = [pytest.mark.slow, pytest.mark.ollama]


def bench(*args: str) -> dict:
    out = CliRunner().invoke(cli, ["bench", *args, "--json"], catch_exceptions=False)
    assert out.exit_code == 0, out.output[-2000:]
    return json.loads(out.output.strip().splitlines()[-1])


def test_humanevalplus_smoke_on_the_micro_model(ollama_env, micro_model, tmp_path):
    s = bench("humaneval", "--plus", "--model", micro_model, "--tasks", "0,53", "--num-predict", "48",
              "--out", str(tmp_path / "he"))
    assert set(s["metrics"]) == {"base/pass@1", "plus/pass@1"} and s["counts"]["samples"] == 2
    assert s["tokens"]["completion"] > 0 and s["config"]["gen"]["model"] == micro_model
    recs = [json.loads(line) for line in (tmp_path / "he" / "samples.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in recs] == ["HumanEval/0", "HumanEval/53"]
    assert all(r["answer"] and r["program"] and set(r["grade"]["sets"]) == {"base", "plus"} for r in recs)
    for ext in ("json", "md", "png"):
        assert (tmp_path / "he" / f"summary.{ext}").stat().st_size > 0


def test_bugfix_smoke_on_the_micro_model(ollama_env, micro_model, tmp_path):
    s = bench("bugfix", "--model", micro_model, "--tasks", "12", "--programs", "gcd", "--num-predict", "64",
              "--out", str(tmp_path / "bf"), "--profile")
    assert s["counts"]["python bugs"] == 1 and s["counts"]["java bugs"] == 1
    assert {"all/fixed@1", "python/fixed@1", "java/fixed@1"} == set(s["metrics"]) and s["tokens"]["completion"] > 0
    assert "generator v" in s["bench"] and (tmp_path / "bf" / "bugs.jsonl").is_file()
    assert (tmp_path / "bf" / "profile.html").stat().st_size > 0


def test_scenarios_team_smoke_on_the_micro_family(ollama_env, micro_model, tmp_path):
    s = bench("scenarios", "--team", "--family", "tanuki-micro", "--only", "frontend", "--run-timeout", "60",
              "--num-predict", "48", "--max-revisions", "0", "--out", str(tmp_path / "sc"))
    assert s["counts"]["scenarios"] == 1 and set(s["metrics"]) == {"solved", "acceptance tests passed"}
    rec = json.loads((tmp_path / "sc" / "samples.jsonl").read_text().splitlines()[0])
    assert rec["run"]["status"] in ("succeeded", "failed", "partial", "timed_out") and rec["tests_total"] >= 1
