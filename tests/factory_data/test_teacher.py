from __future__ import annotations

import json

import pytest
from werkzeug import Response

from tanuki_ollama.errors import BackendUnavailable, EngineError
from tanuki_ollama.factory.data import load_dataset_split
from tanuki_ollama.factory.data.teacher import (
    JUDGEMENT_SCHEMA,
    TeachConfig,
    TeacherClient,
    hardest,
    teach,
    trace_steps,
)


def _judge_all(body: dict) -> dict:
    """A fake teacher: labels every step of the trace in the prompt good, the last one bad."""
    prompt = body["messages"][-1]["content"]
    n = sum(1 for line in prompt.splitlines() if line.startswith("[") and "]" in line[:5])
    return {"steps": [{"index": i, "label": "good" if i < n - 1 else "bad", "reason": f"step {i}"} for i in range(n)],
            "final": {"label": "good", "reason": "ok"}}


def _ollama_handler(seen: list):
    def handler(request):
        body = request.get_json()
        seen.append(body)
        return Response(json.dumps({"model": body["model"], "message": {"role": "assistant",
                                    "content": json.dumps(_judge_all(body))}, "done": True}),
                        content_type="application/json")
    return handler


def test_hardest_and_trace_steps(small_dataset):
    rows = load_dataset_split(small_dataset.path, "debugger", "train")
    top = hardest(rows, 0.02)
    assert len(top) == 1 and top[0]["difficulty"] == max(r["difficulty"] for r in rows)
    steps = trace_steps(top[0])
    assert steps[0]["kind"] == "thought" and steps[-1]["kind"] == "answer"
    assert len(steps) == 2 + len(json.loads(top[0]["messages"][2]["content"])["steps"])


def test_teach_ollama_api_resumes_and_records_provenance(small_dataset, httpserver, tmp_path):
    seen: list = []
    httpserver.expect_request("/api/chat", method="POST").respond_with_handler(_ollama_handler(seen))
    cfg = TeachConfig(endpoint=httpserver.url_for("/"), api="ollama", model="teacher-x", fraction=0.02, rps=50,
                      agents=["tanuki-coder", "tanuki-debugger", "tanuki-tester"])
    res = teach(small_dataset.path, cfg, out=tmp_path, progress=False)
    assert res.judged == 3 and res.failed == 0
    assert seen[0]["format"] == JUDGEMENT_SCHEMA and seen[0]["stream"] is False and seen[0]["model"] == "teacher-x"
    lines = [json.loads(x) for x in (res.path / "judgements-00000.jsonl").read_text().splitlines()]
    assert {r["agent"] for r in lines} == {"tanuki-coder", "tanuki-debugger", "tanuki-tester"}
    rec = lines[0]
    assert rec["steps"][-1]["label"] == "bad" and all(s["label"] == "good" for s in rec["steps"][:-1])
    assert rec["messages"][0]["role"] == "system" and rec["teacher"]["model"] == "teacher-x"
    m = json.loads((res.path / "manifest.json").read_text())
    assert m["endpoint"] == cfg.endpoint and m["model"] == "teacher-x" and m["prompt_hash"] and m["judged_total"] == 3
    assert res.path.parent.name == small_dataset.version and res.path.parent.parent == tmp_path
    # resume: nothing new is asked
    before = len(seen)
    again = teach(small_dataset.path, cfg, out=tmp_path, progress=False)
    assert again.judged == 0 and again.skipped == 3 and len(seen) == before


def test_teach_openai_api_with_retries(small_dataset, httpserver, tmp_path):
    calls = {"n": 0}

    def handler(request):
        calls["n"] += 1
        if calls["n"] == 1:
            return Response("busy", status=503)
        body = request.get_json()
        assert body["response_format"]["json_schema"]["schema"] == JUDGEMENT_SCHEMA
        return Response(json.dumps({"choices": [{"message": {"role": "assistant",
                                                              "content": json.dumps(_judge_all(body))}}]}),
                        content_type="application/json")

    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(handler)
    cfg = TeachConfig(endpoint=httpserver.url_for("/"), api="openai", model="m", agents=["tanuki-coder"], rps=50)
    client = TeacherClient(cfg, sleep=lambda s: None)
    res = teach(small_dataset.path, cfg, out=tmp_path, progress=False, client=client)
    assert res.judged == 1 and calls["n"] == 2


def test_teacher_errors_name_the_fix(small_dataset, httpserver, tmp_path):
    httpserver.expect_request("/api/chat").respond_with_data("model not found", status=404)
    cfg = TeachConfig(endpoint=httpserver.url_for("/"), model="absent", agents=["tanuki-coder"], rps=50)
    with pytest.raises(EngineError) as err:
        teach(small_dataset.path, cfg, out=tmp_path, progress=False)
    assert "ollama pull absent" in err.value.hint
    dead = TeachConfig(endpoint="http://127.0.0.1:9", retries=1, agents=["tanuki-coder"], rps=50)
    with pytest.raises(BackendUnavailable, match="failed 2 times"):
        teach(small_dataset.path, dead, out=tmp_path, progress=False, client=TeacherClient(dead, sleep=lambda s: None))


def test_malformed_judgements_are_counted_not_stored(small_dataset, httpserver, tmp_path):
    httpserver.expect_request("/api/chat").respond_with_json(
        {"message": {"role": "assistant", "content": json.dumps({"steps": [], "final": {"label": "good"}})}})
    cfg = TeachConfig(endpoint=httpserver.url_for("/"), agents=["tanuki-coder"], rps=50)
    res = teach(small_dataset.path, cfg, out=tmp_path, progress=False)
    assert res.judged == 0 and res.failed == 1
    assert "unusable" in json.loads((res.path / "manifest.json").read_text())["failures"][0]


@pytest.mark.slow
@pytest.mark.ollama
def test_teach_against_real_ollama_micro_model(small_dataset, ollama, micro_model, tmp_path):
    cfg = TeachConfig(endpoint=ollama.host, api="ollama", model=micro_model, agents=["tanuki-coder"], rps=5,
                      concurrency=1, timeout_s=300, max_tokens=256, retries=1)
    res = teach(small_dataset.path, cfg, out=tmp_path, progress=False)
    # the 135M model's judgements are poor; the pipeline must still run end to end and account for every example
    assert res.judged + res.failed == res.selected == 1
    m = json.loads((res.path / "manifest.json").read_text())
    assert m["model"] == micro_model and m["endpoint"] == ollama.host
