"""The hot-swap engine on the real micro backbone (SmolLM2-135M Q4_1) with random LoRAs, one llama-server."""

from __future__ import annotations

import json
import threading
import time

import pytest

MICRO_AGENTS = ("tanuki-micro-hsa", "tanuki-micro-hsb")  # the agents conftest.py builds
GREEDY = {"temperature": 0, "top_k": 1, "seed": 7}

from tanuki_ollama.engines.hotswap import HotSwapEngine
from tanuki_ollama.types import Message

PROMPT = [Message(role="user", content="Write is_even(n) in Python.")]


def _answer(engine, model, n=24, messages=PROMPT):
    return engine.chat(model, messages, options={**GREEDY, "num_predict": n}).message.content


def test_agents_differ_and_repeat_exactly(micro_engine):
    first = {m: _answer(micro_engine, m) for m in micro_engine.agents}
    assert len(set(first.values())) == len(first), first  # every adapter really changes the answer
    again = {m: _answer(micro_engine, m) for m in reversed(list(micro_engine.agents))}
    assert again == first


@pytest.mark.parametrize("parallel", [1, 2])
def test_alternating_adapters_never_reuse_another_adapters_cache(micro_agents, parallel, tmp_path):
    """Same prompt, adapters alternating on ONE slot (parallel=1) or two: each answer equals a fresh server
    that holds only that agent's adapter."""
    from tanuki_ollama.micro import micro_gguf

    a, b = MICRO_AGENTS[:2]
    with HotSwapEngine(micro_gguf(), micro_agents, ctx=4096, parallel=parallel, log_path=tmp_path / "s.log") as eng:
        seq = [(m, _answer(eng, m)) for m in (a, b, a, b, "tanuki-micro-hsbase", a)]
    for name in (a, b):
        with HotSwapEngine(micro_gguf(), {name: micro_agents[name]}, ctx=4096, parallel=1) as fresh:
            want = _answer(fresh, name)
        assert all(got == want for m, got in seq if m == name), (name, want, seq)


def test_stream_equals_chat_and_reports_usage(micro_engine):
    model = MICRO_AGENTS[0]
    whole = micro_engine.chat(model, PROMPT, options={**GREEDY, "num_predict": 20})
    chunks = list(micro_engine.chat_stream(model, PROMPT, options={**GREEDY, "num_predict": 20}))
    assert len(chunks) > 3 and chunks[-1].done and not any(c.done for c in chunks[:-1])
    assert "".join(c.content for c in chunks) == whole.message.content
    usage = chunks[-1].usage
    assert usage.completion_tokens == 20 and chunks[-1].done_reason == "length"
    assert usage.prompt_tokens == micro_engine.count_tokens(model, micro_engine.render(model, PROMPT))


def test_slices_continue_exactly_and_short_requests_are_not_starved(micro_agents, tmp_path):
    from tanuki_ollama.micro import micro_gguf

    a, b = MICRO_AGENTS[:2]
    # two slots: the short request runs on the other one, so the long generation's KV survives between slices
    with HotSwapEngine(micro_gguf(), micro_agents, ctx=4096, parallel=2, slice_tokens=8,
                       log_path=tmp_path / "s.log") as eng:
        eng.slice_tokens = 0  # one slice: the reference
        whole = _answer(eng, a, n=48)
        eng.slice_tokens = 8
        finished: dict[str, float] = {}
        long_answer: list[str] = []

        def long_job():
            long_answer.append(_answer(eng, a, n=48))
            finished[a] = time.monotonic()

        t = threading.Thread(target=long_job)
        t.start()
        time.sleep(0.3)
        _answer(eng, b, n=4)
        finished[b] = time.monotonic()
        t.join(120)
    assert long_answer == [whole]  # 6 slices of 8 tokens, resumed from its own tokens, equal one pass
    assert finished[b] < finished[a]  # the short request ran between the long one's slices


def test_same_agent_requests_run_in_one_batch(micro_engine):
    model = MICRO_AGENTS[1]
    before = len(micro_engine.scheduler.grant_log)
    out: list[str] = []
    threads = [threading.Thread(target=lambda: out.append(_answer(micro_engine, model, n=12))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(out) == 2 and all(out)
    assert list(micro_engine.scheduler.grant_log)[before:] == [model, model]


def test_json_schema_output(micro_engine):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "ok": {"type": "boolean"}},
              "required": ["name", "ok"]}
    r = micro_engine.chat(MICRO_AGENTS[0], [Message(role="user", content="Give a function name as JSON.")],
                          format=schema, options={**GREEDY, "num_predict": 64})
    data = json.loads(r.message.content)
    assert isinstance(data["name"], str) and isinstance(data["ok"], bool)
    r = micro_engine.chat(MICRO_AGENTS[1], PROMPT, format="json", options={**GREEDY, "num_predict": 48})
    assert r.message.content.lstrip().startswith("{")  # Ollama's JSON grammar (may run out of tokens here)
    if r.done_reason == "stop":
        assert isinstance(json.loads(r.message.content), dict)


def test_tools_reach_the_prompt(micro_engine):
    from tanuki_ollama.factory.template_parity import TOOL

    prompt = micro_engine.render(MICRO_AGENTS[0], PROMPT, tools=[TOOL])
    assert "<tools>" in prompt and '"run_tests"' in prompt
    r = micro_engine.chat(MICRO_AGENTS[0], PROMPT, tools=[TOOL], options={**GREEDY, "num_predict": 8})
    assert r.usage.prompt_tokens > micro_engine.chat(MICRO_AGENTS[0], PROMPT, options={**GREEDY, "num_predict": 1}
                                                     ).usage.prompt_tokens


def test_models_memory_and_protocol(micro_engine):
    from tanuki_ollama.protocols import Engine

    assert isinstance(micro_engine, Engine)
    names = {m.name for m in micro_engine.list_models()}
    assert names == set(micro_engine.agents)
    running = micro_engine.running()
    assert {r.name for r in running} == names
    mem = micro_engine.memory()
    assert mem["rss"] == running[0].size_bytes > mem["base_file_bytes"] // 2
    assert mem["n_loras"] == 2
    shown = micro_engine.show(MICRO_AGENTS[0] + ":latest")
    assert shown.architecture == "llama" and "tools" in shown.capabilities and shown.adapters
    assert micro_engine.adapter_id("tanuki-micro-hsbase") is None
    micro_engine.load(MICRO_AGENTS[1])
    assert micro_engine.version().startswith("hotswap")
    from tanuki_ollama.errors import ModelNotFound

    with pytest.raises(ModelNotFound):
        micro_engine.chat("nope", PROMPT)


def test_switching_adapters_does_not_re_reserve_the_scheduler(micro_agents, tmp_path):
    """Our llama.cpp patch (tanuki_ollama/native/llama_cpp_patches/0001-...): an adapter switch drops the reusable
    graphs instead of a full sched_reserve(), which cost 5-8 ms per switch on the micro. At verbosity 4 the log
    shows each reserve ("reserve took"); the answers stay those of a fresh server (test above, and the Ollama
    parity tests)."""
    from tanuki_ollama.micro import micro_gguf

    log = tmp_path / "s.log"
    a, b = MICRO_AGENTS[:2]
    with HotSwapEngine(micro_gguf(), micro_agents, ctx=4096, parallel=1, log_path=log,
                       extra_args=("--log-verbosity", "4")) as eng:
        _answer(eng, a, n=2)
        before = log.read_text(errors="replace").count("reserve took")
        for model in (b, "tanuki-micro-hsbase", a, b):  # 4 switches
            _answer(eng, model, n=2)
        after = log.read_text(errors="replace").count("reserve took")
    assert before >= 1, "llama-server's log no longer reports its scheduler reserves: check the log format"
    assert after == before, f"{after - before} scheduler reserves during 4 adapter switches: the patch is missing"
