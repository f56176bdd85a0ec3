"""Correctness against the real `ollama serve`: each agent's greedy answer through the hot-swap engine equals
the same agent registered in Ollama with FROM base + ADAPTER (same template, system, parameters)."""

from __future__ import annotations

import pytest

from tanuki_ollama.engines.hotswap import AgentModel, HotSwapEngine
from tanuki_ollama.types import Message

pytestmark = [pytest.mark.slow, pytest.mark.ollama]
GREEDY = {"temperature": 0, "top_k": 1, "seed": 7}

PROMPTS = [
    [Message(role="user", content="Write is_even(n) in Python.")],
    [Message(role="system", content="You review code."), Message(role="user", content="Is `x = x + 1` correct?")],
]


def test_micro_agents_answer_exactly_as_ollama_with_adapter(ollama, ollama_micro_agents, micro_engine):
    # every switch reloads Ollama's runner (slow here), so: one prompt per agent, a second one for the first
    cases = [(name, PROMPTS[0]) for name in ollama_micro_agents]
    cases.insert(1, (cases[0][0], PROMPTS[1]))
    for name, messages in cases:
        opts = {**GREEDY, "num_predict": 24}
        want = ollama.chat(name, messages, options=opts)
        got = micro_engine.chat(name, messages, options=opts)
        assert got.message.content == want.message.content, (name, messages)
        assert got.usage.prompt_tokens == want.usage.prompt_tokens
        assert got.usage.completion_tokens == want.usage.completion_tokens


def test_micro_stream_and_schema_match_ollama(ollama, ollama_micro_agents, micro_engine):
    name = next(iter(ollama_micro_agents))
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    opts = {**GREEDY, "num_predict": 32}
    msgs = [Message(role="user", content="Name a sorting algorithm, as JSON.")]
    assert (micro_engine.chat(name, msgs, format=schema, options=opts).message.content
            == ollama.chat(name, msgs, format=schema, options=opts).message.content)
    streamed = "".join(c.content for c in micro_engine.chat_stream(name, PROMPTS[0], options=opts))
    assert streamed == ollama.chat(name, PROMPTS[0], options=opts).message.content


def test_token_counts_match_ollama(ollama, ollama_micro_agents, micro_engine):
    name = next(iter(ollama_micro_agents))
    text = "def add(a: int, b: int) -> int:\n    return a + b  # émoji 🦝"
    assert micro_engine.count_tokens(name, text) == ollama.count_tokens(name, text)


def test_tiny_fixture_agents_answer_exactly_as_ollama(ollama, tiny_llama, tmp_path):
    from tanuki_ollama.factory.modelfile import CHATML_STOPS, builtin_template

    params = {"stop": list(CHATML_STOPS), "num_ctx": 2048}
    agents = {"tanuki-tiny-hs-lora": AgentModel("tanuki-tiny-hs-lora", tiny_llama.lora, "You code.", params),
              "tanuki-tiny-hs-base": AgentModel("tanuki-tiny-hs-base", None, "You code.", params)}
    for name, agent in agents.items():
        if not ollama.has_model(name):
            ollama.create(name, gguf=tiny_llama.q4_k_m, adapter=agent.lora, template=builtin_template("chatml"),
                          system=agent.system, parameters=dict(params))
    msgs = [Message(role="user", content="def fib(n):")]
    opts = {**GREEDY, "num_predict": 16}
    with HotSwapEngine(tiny_llama.q4_k_m, agents, ctx=2048, parallel=1, log_path=tmp_path / "s.log") as engine:
        answers = {}
        for name in agents:
            want = ollama.chat(name, msgs, options=opts).message.content
            answers[name] = engine.chat(name, msgs, options=opts).message.content
            assert answers[name] == want, name
    assert answers["tanuki-tiny-hs-lora"] != answers["tanuki-tiny-hs-base"]  # the LoRA really acts
