"""The single-agent vs team benches: run configurations, bug workspaces, the paired sign test, the compare
summaries (with the orchestrator replaced where a model would answer), the CLI's options; and one real run of
``bench bugfix --team --compare`` on the micro family (a check of the harness, not of the score)."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tanuki_ollama.bench import bugfix as bf
from tanuki_ollama.bench import quickstart as qs
from tanuki_ollama.bench import team
from tanuki_ollama.bench.problems import load_problems
from tanuki_ollama.cli.main import cli
from tanuki_ollama.engines.scripted import ScriptedEngine


# ---------------------------------------------------------------------------------------------- statistics
@pytest.mark.parametrize("module", [team, qs])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(("wins", "losses", "p"), [(8, 0, 0.0078125), (0, 8, 0.0078125), (0, 0, 1.0), (5, 5, 1.0),
                                                   (6, 1, 0.125), (10, 2, 0.038574)])
def test_sign_test_known_values(wins, losses, p):
    assert team.sign_test(wins, losses) == pytest.approx(p, abs=1e-6)


def test_paired_summary_per_language_and_all():
    outcomes = {"a": {"single": False, "team": True}, "b": {"single": True, "team": True},
                "c": {"single": False, "team": False}, "d": {"single": True, "team": False},
                "e": {"team": True}}  # not paired: only one configuration ran
    groups = {"a": "python", "b": "python", "c": "java", "d": "java", "e": "java"}
    s = team.paired_summary(outcomes, groups)
    assert list(s) == ["all", "java", "python"]
    assert s["python"] == {"paired": 2, "single": {"fixed": 1, "rate": 0.5}, "team": {"fixed": 2, "rate": 1.0},
                           "ratio": 2.0, "team_only": 1, "single_only": 0, "sign_test_p": 1.0}
    assert s["java"]["ratio"] == 0.0 and s["java"]["paired"] == 2 and s["all"]["paired"] == 4
    assert team.paired_summary({"a": {"single": False, "team": True}}, {"a": "python"})["all"]["ratio"] is None


def test_run_costs_candidates_per_minute():
    recs = [{"run": {"wall_s": 10.0, "status": "succeeded", "prompt_tokens": 5, "completion_tokens": 2,
                     "search": {"candidates": 12, "generation_s": 50.0, "validation_s": 10.0}}},
            {"run": {"wall_s": 30.0, "status": "failed", "prompt_tokens": 1, "completion_tokens": 1, "search": {}}}]
    c = team.run_costs(recs)
    assert c["candidates_per_min"] == 12.0 and c["median_wall_s"] == 20.0 and c["max_wall_s"] == 30.0
    assert c["statuses"] == {"succeeded": 1, "failed": 1} and c["tokens"] == {"prompt": 6, "completion": 3}
    assert team.run_costs([])["candidates_per_min"] is None


# ---------------------------------------------------------------------------------------------- configurations
def test_run_configs_single_and_team_on_one_family():
    cfgs = team.run_configs(ScriptedEngine(), "tanuki-micro", 120.0, samples=4, rounds=2, num_thread=1)
    single, tm = cfgs["single"], cfgs["team"]
    assert single.agents == ["tanuki-coder"] and single.temperature == 0.0
    assert (single.samples, single.rounds) == (1, 1)
    assert single.planner_agent == single.reviewer_agent == "tanuki-coder"
    assert (tm.samples, tm.rounds, tm.agents, tm.temperature) == (4, 2, [], None) and tm.search
    for c in (single, tm):
        assert c.model_for("tanuki-coder") == "tanuki-micro-coder" and c.num_thread == 1 and c.in_place
        assert (c.num_predict, c.max_revisions, c.max_replans) == (384, 1, 0)  # tanuki run's micro defaults
    given = team.run_configs(ScriptedEngine(), "tanuki-micro", 120.0, ["team"], num_predict=64)
    assert list(given) == ["team"] and given["team"].num_predict == 64
    assert given["team"].samples == team._orchestrator()[0]().samples  # the run's default search
    plain = team.run_configs(ScriptedEngine(), "auto", 60.0, ["team"])["team"]
    assert plain.models == {} and plain.num_predict == team._orchestrator()[0]().num_predict


# ---------------------------------------------------------------------------------------------- workspaces
def _python_bug() -> bf.Bug:
    p = load_problems(True, ["12"])[0]
    buggy = p.reference.replace("return s", "return None")
    assert buggy != p.reference
    return bf.Bug(bug_id="py/HumanEval/12/1", language="python", source=p.task_id, kind="return", line=1,
                  description="returns None", buggy=buggy, fixed=p.reference)


def _pytest(files: dict[str, str], root) -> int:
    root.mkdir()
    for rel, text in files.items():
        (root / rel).write_text(text)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root,
                          capture_output=True, text=True, timeout=120, check=False).returncode


def test_python_bug_workspace_holds_the_buggy_module_and_its_base_tests(tmp_path):
    bug = _python_bug()
    task, files, graded = bf.bug_workspace(bug)
    assert graded == "solution.py" and set(files) == {"solution.py", "test_solution.py"}
    assert files["solution.py"] == bug.buggy and "failing test" in task and bug.kind not in task
    assert "def test_solution():\n    check(longest)" in files["test_solution.py"]
    assert _pytest(files, tmp_path / "buggy") == 1
    assert _pytest({**files, "solution.py": bug.fixed}, tmp_path / "fixed") == 0


def test_java_bug_workspace_holds_solution_and_main():
    program = bf.java_programs(["gcd"])["gcd"]
    bug = bf.Bug(bug_id="java/gcd/1", language="java", source="gcd", kind="op", line=3, description="x",
                 buggy=program["Solution.java"].replace("%", "/"), fixed=program["Solution.java"])
    task, files, graded = bf.bug_workspace(bug)
    assert graded == "Solution.java" and files == {"Solution.java": bug.buggy, "Main.java": program["Main.java"]}
    assert "Solution.java" in task and "Main.java" in task


# ---------------------------------------------------------------------------------------------- the bench
def _fake_bugs() -> list[bf.Bug]:
    return [bf.Bug(bug_id=f"{lang}/x{i}/1", language=lang, source=f"x{i}", kind="k", description="d", line=1,
                   buggy="bad", fixed="good") for i, lang in enumerate(["python", "python", "java"])]


def _fake_run(status: str) -> dict:
    return {"run_id": "r", "status": status, "summary": "", "wall_s": 2.0, "prompt_tokens": 3,
            "completion_tokens": 4, "not_done": [], "diff_chars": 0, "tests_after_ok": status == "succeeded",
            "search": {"candidates": 6, "generation_s": 30.0, "validation_s": 6.0}}


@pytest.fixture
def fake_team(monkeypatch):
    """No model, no sandbox: the team fixes the Python bugs, the single agent only the first one."""
    calls = []

    def fix(bug, config, engine):
        calls.append((bug.bug_id, config))
        ok = bug.language == "python" and (config == "team" or bug.bug_id.startswith("python/x0"))
        return ("good" if ok else "bad"), _fake_run("succeeded" if ok else "failed")

    monkeypatch.setattr(bf, "build_bug_set", lambda cfg, out, grade=None: _fake_bugs())
    monkeypatch.setattr(bf, "_team_fix", fix)
    monkeypatch.setattr(bf, "_grade", lambda bugs, progs, grade: [(p == "good", {"duration_s": 0.5}) for p in progs])
    monkeypatch.setattr(team, "run_configs", lambda engine, family, timeout, names, **kw: {n: n for n in names})
    return calls


def test_bugfix_compare_interleaves_bug_by_bug_and_summarises(fake_team, tmp_path):
    cfg = bf.BugfixConfig(solutions="team", team=team.TeamSettings(configs=["single", "team"], samples=2, rounds=1),
                          out_dir=tmp_path)
    s = bf.run_bugfix(cfg)
    assert fake_team == [(b.bug_id, c) for b in _fake_bugs() for c in ("single", "team")]
    assert s["label"] == "single vs team (auto)" and set(s["configs"]) == {"single", "team"}
    assert s["configs"]["team"]["languages"]["python"] == {"bugs": 2, "fixed": 2, "rate": 1.0}
    assert s["configs"]["single"]["languages"]["java"] == {"bugs": 1, "fixed": 0, "rate": 0.0}
    assert s["configs"]["team"]["candidates_per_min"] == 10.0 and s["configs"]["team"]["runs"] == 3
    assert s["compare"]["python"]["ratio"] == 2.0 and s["compare"]["python"]["team_only"] == 1
    assert s["compare"]["all"]["sign_test_p"] == 1.0 and s["compare"]["java"]["paired"] == 1
    assert s["metrics"]["team/python/fixed"] == 1.0 and s["metrics"]["single/all/fixed"] == pytest.approx(1 / 3, 1e-3)
    assert s["tokens"] == {"prompt": 18, "completion": 24} and s["counts"]["runs"] == 6
    assert "sign test p" in (tmp_path / "summary.md").read_text()
    recs = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [(r["config"], r["sample"]) for r in recs[:2]] == [("single", 0), ("team", 1)]
    # resumable: a rerun runs nothing; --team alone reuses the team's records of the comparison
    fake_team.clear()
    assert bf.run_bugfix(cfg)["compare"] == s["compare"] and fake_team == []
    only = bf.run_bugfix(cfg.model_copy(update={"team": team.TeamSettings(configs=["team"], samples=2, rounds=1)}))
    assert fake_team == [] and only["compare"] is None and set(only["configs"]) == {"team"}


def test_quickstart_counts_a_fix_only_when_the_tests_pass(monkeypatch, tmp_path):
    runs = iter([("succeeded", True), ("succeeded", False), ("failed", False), ("succeeded", True)])
    seen = []

    def fake_run(task, files, *, engine, config):
        seen.append((config["name"], config["seed"]))
        status, ok = next(runs)
        return {"calculator.py": "ok" if ok else "bad"}, _fake_run(status)

    class Cfg(dict):
        def model_copy(self, update):
            return Cfg({**self, **update})

    monkeypatch.setattr(qs, "run_configs", lambda engine, family, timeout, names, **kw: {n: Cfg(name=n) for n in names})
    monkeypatch.setattr(qs, "run_in_workspace", fake_run)
    monkeypatch.setattr(qs, "original_tests_pass", lambda files, orig, timeout: (files["calculator.py"] == "ok", "x"))
    cfg = qs.QuickstartConfig(seeds=qs.parse_seeds("3-4"), out_dir=tmp_path,
                              team=team.TeamSettings(configs=["single", "team"]))
    s = qs.run_quickstart(cfg)
    assert seen == [("single", 3), ("team", 3), ("single", 4), ("team", 4)]
    assert s["configs"]["single"]["fixed"] == 1 and s["configs"]["team"]["fixed"] == 1
    assert s["configs"]["team"]["seeds_fixed"] == [4] and s["configs"]["team"]["candidates_per_min"] == 10.0
    assert s["compare"]["paired"] == 2 and s["metrics"] == {"single/fixed": 0.5, "team/fixed": 0.5}
    assert "wall_s" in s and s["configs"]["single"]["search"]["generation_s"] == 60.0


def test_quickstart_seeds():
    assert qs.parse_seeds("0-9") == list(range(10)) and qs.parse_seeds("2,0,2") == [2, 0]
    with pytest.raises(Exception, match="seed"):
        qs.parse_seeds("a-b")


def test_cli_options_reach_the_team_settings(monkeypatch, tmp_path):
    seen = {}

    def fake(cfg, *, engine=None, log=None):
        seen["cfg"] = cfg
        return {"bench": "x", "label": cfg.label, "metrics": {}, "out": str(cfg.out_dir)}

    monkeypatch.setattr(bf, "run_bugfix", fake)
    monkeypatch.setattr(team, "run_humaneval_team", fake)
    monkeypatch.setattr(qs, "run_quickstart", fake)
    runner = CliRunner()
    base = ["--engine", "scripted", "--json"]
    out = runner.invoke(cli, ["bench", "bugfix", "--team", "--compare", "--samples", "2", "--rounds", "1",
                              "--num-predict", "64", "--run-timeout", "90", "--lang", "python", "--limit", "1",
                              "--out", str(tmp_path / "b"), *base])
    assert out.exit_code == 0, out.output
    t = seen["cfg"].team
    assert seen["cfg"].solutions == "team" and t.configs == ["single", "team"] and t.family == "auto"
    assert (t.samples, t.rounds, t.run_timeout_s, t.overrides) == (2, 1, 90.0, {"num_predict": 64})
    out = runner.invoke(cli, ["bench", "humaneval", "--plus", "--team", "--tasks", "0", "--family", "tanuki-micro",
                              "--out", str(tmp_path / "h"), *base])
    assert out.exit_code == 0, out.output
    t = seen["cfg"].team
    assert t.configs == ["team"] and t.samples is None and t.family == "tanuki-micro" and t.overrides == {}
    assert seen["cfg"].solutions == "team" and seen["cfg"].tasks == ["0"]
    out = runner.invoke(cli, ["bench", "quickstart", "--seeds", "0-1", "--compare", "--num-thread", "1",
                              "--out", str(tmp_path / "q"), *base])
    assert out.exit_code == 0, out.output
    cfg = seen["cfg"]
    assert cfg.seeds == [0, 1] and cfg.team.configs == ["single", "team"] and cfg.team.run_timeout_s == 1800.0
    assert cfg.team.overrides == {"num_thread": 1} and json.loads(out.output)["label"] == "single vs team (auto)"


# ---------------------------------------------------------------------------------------------- real
@pytest.mark.slow
@pytest.mark.ollama
def test_bugfix_team_compare_on_the_micro_family(ollama_env, micro_model, tmp_path):
    out = CliRunner().invoke(cli, ["bench", "bugfix", "--team", "--compare", "--lang", "python", "--tasks", "12",
                                   "--samples", "2", "--rounds", "1", "--family", "tanuki-micro",
                                   "--num-predict", "64", "--run-timeout", "240", "--out", str(tmp_path / "bf"),
                                   "--json"], catch_exceptions=False)
    assert out.exit_code == 0, out.output[-2000:]
    s = json.loads(out.output.strip().splitlines()[-1])
    assert set(s["configs"]) == {"single", "team"} and s["counts"]["python bugs"] == 1
    for name in ("single", "team"):
        assert s["configs"][name]["languages"]["python"]["bugs"] == 1 and s["configs"][name]["runs"] == 1
    assert s["compare"]["python"]["paired"] == 1 and "sign_test_p" in s["compare"]["all"]
    recs = [json.loads(line) for line in (tmp_path / "bf" / "samples.jsonl").read_text().splitlines()]
    assert [r["config"] for r in recs] == ["single", "team"]
    assert all(r["run"]["status"] in ("succeeded", "failed", "partial", "timed_out") for r in recs)
    assert all("search" in r["run"] for r in recs) and s["tokens"]["completion"] > 0
