"""Prompt reuse is exact: with reuse on (the default), interleaved agents sharing a prompt prefix get the same
greedy answers as with reuse off and as Ollama with FROM base + ADAPTER; and reuse really happens."""

from __future__ import annotations

import pytest

from tanuki_ollama.engines.hotswap import HotSwapEngine, _SlotKV
from tanuki_ollama.types import Message

MICRO_AGENTS = ("tanuki-micro-hsa", "tanuki-micro-hsb")  # the agents conftest.py builds
GREEDY = {"temperature": 0, "top_k": 1, "seed": 7, "num_predict": 10}
CONTEXT = ("Repository notes: the package `shapes` has area.py (circle, square, triangle), perimeter.py and "
           "tests/test_area.py; functions take floats and return floats; keep answers short. "
           + " ".join(f"shapes/extra_{i}.py defines shape_{i}(x) returning x times {i}." for i in range(10)))
QUESTIONS = ["Write circle_area(r).", "What does test_area.py check?"]


def _conversations(first_answer: str) -> list[list[Message]]:
    """Chats that share the system context; the last continues the first one (multi-turn prefix)."""
    sys = Message(role="system", content=CONTEXT)
    chats = [[sys, Message(role="user", content=q)] for q in QUESTIONS]
    chats.append(chats[0] + [Message(role="assistant", content=first_answer),
                             Message(role="user", content="Now add a docstring.")])
    return chats


def _interleaved(engine, first_answers: dict[str, str]) -> list[tuple[str, int, str]]:
    out = []
    for i in range(len(QUESTIONS) + 1):  # a, b, a, b, ...: every request switches the adapter
        for name in MICRO_AGENTS:
            chat = _conversations(first_answers[name])[i]
            out.append((name, i, engine.chat(name, chat, options=GREEDY).message.content))
    return out


@pytest.fixture(scope="module")
def reuse_runs(micro_agents, tmp_path_factory):
    from tanuki_ollama.micro import micro_gguf

    agents = {n: micro_agents[n] for n in MICRO_AGENTS}
    log = tmp_path_factory.mktemp("reuse")
    runs, stats = {}, {}
    for reuse, parallel in ((True, 2), (False, 2), ("prefix", 2), ("prefix-one-slot", 1)):
        mode = "prefix" if str(reuse).startswith("prefix") else reuse
        with HotSwapEngine(micro_gguf(), agents, ctx=4096, parallel=parallel, prompt_cache=mode,
                           log_path=log / f"reuse-{reuse}.log") as eng:
            first = {n: eng.chat(n, _conversations("")[0], options=GREEDY).message.content for n in MICRO_AGENTS}
            runs[reuse] = (first, _interleaved(eng, first))
            stats[reuse] = dict(eng.reuse_stats)
    return runs, stats


def test_reuse_on_equals_reuse_off_across_interleaved_agents(reuse_runs):
    runs, stats = reuse_runs
    assert runs[True] == runs[False]
    assert stats[True]["reused"] >= len(MICRO_AGENTS) * len(QUESTIONS)  # the shared prefix really was reused
    assert stats[False]["reused"] == 0 and stats[False]["rewinds"] == 0
    answers = {name: {a for n, _, a in runs[True][1] if n == name} for name in MICRO_AGENTS}
    assert answers[MICRO_AGENTS[0]] != answers[MICRO_AGENTS[1]]  # the adapters really differ


def test_prefix_reuse_resumes_and_never_crosses_adapters(reuse_runs):
    """prompt_cache="prefix" (Ollama's way, not bit-exact): it resumes more than exact reuse, the adapters still
    differ, and on ONE slot, where every request switches the adapter, nothing is resumed, so every answer is the
    full evaluation's."""
    runs, stats = reuse_runs
    assert stats["prefix"]["reused"] >= len(MICRO_AGENTS) * len(QUESTIONS) and stats["prefix"]["rewinds"] == 0
    answers = {name: {a for n, _, a in runs["prefix"][1] if n == name} for name in MICRO_AGENTS}
    assert answers[MICRO_AGENTS[0]] != answers[MICRO_AGENTS[1]]
    assert stats["prefix-one-slot"]["reused"] == 0
    assert runs["prefix-one-slot"] == runs[False]


@pytest.mark.slow
@pytest.mark.ollama
def test_reuse_on_equals_ollama_with_adapter(reuse_runs, ollama, ollama_micro_agents):
    """Ollama's answers with a cold runner (keep_alive=0: its own prompt cache resumes any common prefix with
    one-row/untiled kernels, so a warm Ollama's answer to the multi-turn chat depends on what ran before)."""
    first, seq = reuse_runs[0][True]
    for name in MICRO_AGENTS:
        want_first = ollama.chat(name, _conversations("")[0], options=GREEDY, keep_alive=0).message.content
        assert first[name] == want_first, name
        for n, i, got in seq:
            if n == name and i in (1, len(QUESTIONS)):  # a shared-prefix chat and the multi-turn one
                want = ollama.chat(name, _conversations(first[name])[i], options=GREEDY, keep_alive=0)
                assert got == want.message.content, (name, i)


def test_reuse_rules_only_resume_exact_prefixes(micro_agents):
    """The rules alone (no server): a resumed suffix must meet the same kernels as a full run."""
    from tanuki_ollama.micro import micro_gguf

    eng = HotSwapEngine(micro_gguf(), {MICRO_AGENTS[0]: micro_agents[MICRO_AGENTS[0]]}, start=False)
    eng._align = 1
    assert eng._exact_suffix(40, 38)  # short prompt: 2+ rows either way
    assert not eng._exact_suffix(40, 39)  # 1 row: another matmul kernel than in a batch
    assert not eng._exact_suffix(200, 190)  # 10 rows vs. a 200-row ubatch: untiled vs tiled attention
    assert eng._exact_suffix(200, 136) and eng._exact_resume_point(200, 198) == 136
    assert eng._exact_suffix(563, 512) and not eng._exact_suffix(563, 499)  # ubatch boundaries (512) count
    assert eng._exact_resume_point(563, 561) == 561  # the last ubatch holds 51 rows: 2 of them are the same
    eng._align = 4
    assert not eng._exact_suffix(200, 134) and eng._exact_resume_point(200, 198) == 136
    eng._slots[0] = _SlotKV(adapter=0, tokens=list(range(100)), exact=list(range(60)))
    assert not eng._prepare_reuse(0, 1, list(range(100)))  # another adapter computed it
