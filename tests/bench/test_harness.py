"""Pure logic of the benches: pass@k, answer post-processing, generation through a registered engine, the result
log, reports and compare."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from tanuki_ollama.bench.codegen import (
    GenConfig,
    Generator,
    extract_code,
    function_program,
    truncate_at_stops,
)
from tanuki_ollama.bench.problems import OVERRIDE_ENV, humanevalplus_path, load_problems
from tanuki_ollama.bench.report import compare, write_reports
from tanuki_ollama.bench.results import ResultLog, pass_at_k, summarize_passes
from tanuki_ollama.cli.main import cli
from tanuki_ollama.engines import create_engine
from tanuki_ollama.errors import ConfigError, ToolchainMissing


@pytest.mark.parametrize("n,c,k", [(5, 0, 1), (5, 5, 1), (10, 3, 1), (10, 3, 5), (20, 7, 10), (3, 1, 3)])
def test_pass_at_k_is_the_combinatorial_estimator(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k))


def test_pass_at_k_needs_k_samples():
    with pytest.raises(ConfigError, match="--samples 5"):
        pass_at_k(2, 1, 5)


def test_extract_code_from_fences_json_and_plain_text():
    fenced = "Sure!\n```python\nimport os\n```\ntext\n```py\ndef f(x):\n    return x\n```\n"
    assert extract_code(fenced, prefer="def f(") == "def f(x):\n    return x"
    assert extract_code(fenced) == "import os"
    agent = json.dumps({"thought": "t", "steps": [], "answer": {"language": "python", "code": "def g():\n    return 2"}})
    assert extract_code(agent) == "def g():\n    return 2"
    assert extract_code(agent[:-12]).startswith("def g():")  # cut off by num_predict: still recovered
    assert extract_code("return 1") == "return 1"
    assert extract_code("```python\ndef h():\n    pass") == "def h():\n    pass"  # unterminated fence


def test_function_program_modes():
    prompt = "from typing import List\n\n\ndef f(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n"
    p = load_problems(False, ["0"])[0]
    full = function_program(prompt, "from typing import List\n\n\n", "f", "```python\ndef f(xs):\n    return sum(xs)\n```", "chat")
    assert full.startswith("from typing import List") and "return sum(xs)" in full
    body = function_program(prompt, "", "f", "return sum(xs)", "chat")
    assert body == prompt + "    return sum(xs)\n"
    comp = function_program(prompt, "", "f", "    return sum(xs)\n\ndef other():\n    pass", "completion")
    assert comp == prompt + "    return sum(xs)\n"
    assert truncate_at_stops("a\nprint(1)") == "a"
    assert p.preamble.startswith("from typing import List") and p.reference.startswith(p.prompt)


def test_generator_uses_the_agent_and_the_prompt_template():
    engine = create_engine("scripted", responses=["```python\ndef f():\n    return 1\n```", "    return 1\n"])
    gen = Generator(engine, GenConfig(model="m", agent="tanuki-coder", num_predict=64, seed=3))
    res = gen.ask("PROMPT", sample=2)
    call = engine.calls[0]
    assert call["messages"][0].role == "system" and "tanuki-coder" in call["messages"][0].content
    assert call["messages"][1].content == "PROMPT" and call["format"]["required"] == ["thought", "steps", "answer"]
    assert call["options"]["num_predict"] == 64 and call["options"]["seed"] == 5 and res.completion_tokens > 0
    gen2 = Generator(engine, GenConfig(model="m", mode="completion"))
    gen2.complete("def f():\n")
    assert engine.calls[1]["kind"] == "generate" and "\ndef " in engine.calls[1]["options"]["stop"]
    with pytest.raises(ConfigError, match="temperature"):
        Generator(engine, GenConfig(model="m", samples=4))


def test_humanevalplus_path_override_and_hint(monkeypatch, tmp_path):
    found = humanevalplus_path()
    monkeypatch.setenv(OVERRIDE_ENV, str(found.parent))
    assert humanevalplus_path() == found
    monkeypatch.setenv(OVERRIDE_ENV, str(found))
    assert humanevalplus_path() == found
    monkeypatch.setenv(OVERRIDE_ENV, str(tmp_path / "nope.jsonl.gz"))
    monkeypatch.setattr("tanuki_ollama.bench.problems.REPO_ROOT", tmp_path / "repo")
    with pytest.raises(ToolchainMissing) as err:
        humanevalplus_path()
    assert OVERRIDE_ENV in err.value.hint


def test_problems_subsets():
    plus = load_problems(True)
    assert len(plus) == 164 and all(p.plus and p.plus_input is not None for p in plus)
    assert [p.task_id for p in load_problems(True, ["3", "HumanEval/1"])] == ["HumanEval/3", "HumanEval/1"]
    assert len(load_problems(False, limit=5)) == 5 and not load_problems(False, limit=1)[0].plus
    with pytest.raises(ConfigError):
        load_problems(True, ["999"])


def test_result_log_resumes_and_refuses_other_settings(tmp_path):
    log = ResultLog(tmp_path, {"model": "a"})
    log.append({"task_id": "t1", "sample": 0, "passed": {"base": True}})
    with log.path.open("a") as fh:
        fh.write('{"task_id": "t2", "sam')  # an interrupted write
    again = ResultLog(tmp_path, {"model": "a"})
    assert list(again.load()) == [("t1", 0)]
    with pytest.raises(ConfigError, match="model"):
        ResultLog(tmp_path, {"model": "b"})
    assert ResultLog(tmp_path, {"model": "b"}, fresh=True).load() == {}


def test_summarize_passes_counts_per_task():
    recs = [{"task_id": "a", "passed": {"base": True, "plus": False}},
            {"task_id": "a", "passed": {"base": True, "plus": True}},
            {"task_id": "b", "passed": {"base": False, "plus": False}},
            {"task_id": "b", "passed": {"base": True, "plus": False}}]
    metrics, per_task = summarize_passes(recs, ["base", "plus"], [1, 2])
    assert per_task[0] == {"task_id": "a", "n": 2, "correct_base": 2, "correct_plus": 1}
    assert metrics["base"]["pass@1"] == pytest.approx((1.0 + 0.5) / 2)
    assert metrics["plus"]["pass@2"] == pytest.approx((1.0 + 0.0) / 2)


def _summary(label: str, value: float) -> dict:
    return {"bench": "humaneval", "label": label, "metrics": {"base/pass@1": value}, "wall_s": 3.0,
            "tokens": {"prompt": 10, "completion": 5}, "command": "tanuki bench humaneval"}


def test_reports_and_compare(tmp_path):
    a = write_reports(_summary("a", 0.25), tmp_path / "a")
    write_reports(_summary("b", 0.5), tmp_path / "b")
    for path in a.values():
        assert Path(path).stat().st_size > 0
    assert Path(a["png"]).read_bytes()[:4] == b"\x89PNG"
    assert "| base/pass@1 | 25.0% |" in Path(a["markdown"]).read_text()
    res = compare([tmp_path / "a" / "summary.json", tmp_path / "b"], tmp_path / "cmp")
    assert res["metrics"]["base/pass@1"] == [0.25, 0.5]
    assert (tmp_path / "cmp" / "compare.png").read_bytes()[:4] == b"\x89PNG"
    out = CliRunner().invoke(cli, ["bench", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["runs"] == ["a (humaneval)", "b (humaneval)"]
    with pytest.raises(ConfigError):
        compare([tmp_path / "a"])


def test_cli_self_check_and_missing_model(tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["bench", "humaneval", "--plus", "--solutions", "canonical", "--tasks", "2",
                              "--out", str(tmp_path / "c"), "--json", "--profile"])
    assert out.exit_code == 0, out.output
    s = json.loads(out.output.strip().splitlines()[-1])
    assert s["metrics"] == {"base/pass@1": 1.0, "plus/pass@1": 1.0} and s["label"] == "canonical"
    assert s["command"].startswith("tanuki ") and (tmp_path / "c" / "profile.txt").stat().st_size > 0
    bad = runner.invoke(cli, ["bench", "humaneval", "--out", str(tmp_path / "m")])
    assert bad.exit_code != 0 and "--model" in bad.output
