"""Pure logic of the hot-swap engine: ChatML rendering (against Ollama's own template package), the fair
scheduler, stop strings across slices, tool-call parsing and streaming, and the registry entry."""

from __future__ import annotations

import threading
import time

import pytest

from tanuki_ollama.engines import _BUILTIN, _load
from tanuki_ollama.engines.hotswap import (
    AgentModel,
    FairScheduler,
    HotSwapEngine,
    _Gen,
    _StopFilter,
    parse_tool_calls,
    render_chatml,
)
from tanuki_ollama.factory.template_parity import STANDARD_CONVERSATIONS, TOOL_CONVERSATION


def test_registry_names_the_engine():
    assert _load(_BUILTIN["hotswap"]) is HotSwapEngine


CONVERSATIONS = {
    **STANDARD_CONVERSATIONS,
    "tool-turns": TOOL_CONVERSATION,
    "merged-users": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    "two-systems": [{"role": "system", "content": "s1"}, {"role": "user", "content": "u"},
                    {"role": "system", "content": "s2"}],
    "ends-with-assistant": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "def f("}],
    "html-args": [{"role": "user", "content": "x"},
                  {"role": "assistant", "content": "", "tool_calls": [
                      {"function": {"name": "t", "arguments": {"b": "<a&b>", "a": [1, 2]}}}]},
                  {"role": "tool", "content": "ok"}, {"role": "user", "content": "y"}],
}


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
def test_native_chatml_renders_what_ollama_renders(name):
    from tanuki_ollama.errors import ToolchainMissing
    from tanuki_ollama.factory.modelfile import builtin_template
    from tanuki_ollama.factory.template_parity import render_ollama

    try:
        expected = render_ollama(builtin_template("chatml"), CONVERSATIONS[name])
    except ToolchainMissing:
        pytest.skip("ollama-render is not built")
    assert render_chatml(CONVERSATIONS[name]) == expected


def _hold(sched: FairScheduler, agent: str, adapter, log: list, hold_s: float, n: int = 1):
    for _ in range(n):
        t = sched.acquire(agent, adapter, timeout=30)
        log.append(agent)
        time.sleep(hold_s)
        sched.release(t)


def test_scheduler_is_round_robin_and_never_starves():
    sched = FairScheduler(parallel=1)
    log: list[str] = []
    hog = threading.Thread(target=_hold, args=(sched, "hog", 0, log, 0.02, 20))  # a long, sliced generation
    hog.start()
    time.sleep(0.05)
    others = [threading.Thread(target=_hold, args=(sched, f"a{i}", i + 1, log, 0.01)) for i in range(3)]
    for t in others:
        t.start()
    for t in [hog, *others]:
        t.join(30)
    assert len(log) == 23
    last_other = max(log.index(f"a{i}") for i in range(3))
    # every waiting agent got its turn within one round of the hog's slices, not after all 20
    assert last_other < 12, log
    assert sched.waiting() == {}


def test_scheduler_batches_one_agent_and_switches_adapters_only_when_drained():
    sched = FairScheduler(parallel=2)
    a1 = sched.acquire("a", 1)
    a2 = sched.acquire("a", 1)  # same agent, second slot: granted at once (batched by the server)
    assert {a1.slot, a2.slot} == {0, 1}
    got: list = []
    b = threading.Thread(target=lambda: got.append(sched.acquire("b", 2, timeout=10)))
    b.start()
    time.sleep(0.2)
    assert not got  # a slot is free only after a1 releases, and a2 still runs under adapter 1
    sched.release(a1)
    time.sleep(0.2)
    assert not got
    sched.release(a2)
    b.join(10)
    assert got and got[0].granted and not got[0].cache_ok  # the slot's cache was computed under adapter 1
    sched.release(got[0])
    again = sched.acquire("a", 1, prefer_slot=a1.slot)
    assert again.cache_ok  # a slot that last ran adapter 1 is still available
    sched.release(again)


def test_stop_filter_holds_back_partial_stop_strings_across_slices():
    f = _StopFilter(["<|im_end|>"])
    assert f.feed("hello <|im") == "hello "
    assert f.feed("_en") == ""
    assert f.feed("d|> tail") == ""
    assert f.stopped and f.flush() == ""
    g = _StopFilter(["<|im_end|>"])
    assert g.feed("a <|i") == "a "
    assert g.feed("x") == "<|ix"


def test_tool_calls_are_parsed_out_of_the_answer():
    text, calls = parse_tool_calls('Let me run them.\n<tool_call>\n{"name": "run_tests", "arguments": '
                                   '{"path": "tests/"}}\n</tool_call>')
    assert text == "Let me run them."
    assert calls[0].name == "run_tests" and calls[0].arguments == {"path": "tests/"}
    assert parse_tool_calls("no calls <tool_call>{bad json}</tool_call>")[1] == []


def test_streaming_holds_back_tool_calls(monkeypatch):
    engine = HotSwapEngine.__new__(HotSwapEngine)  # no server: only the streaming assembly is under test
    engine.agents = {"m": AgentModel("m")}
    engine.ctx = 4096
    engine.start = lambda: engine
    pieces = ["Sure", " <", "tool", "_call>\n{\"name\": \"t\", ", "\"arguments\": {}}\n</tool_call>"]

    def fake_run(agent, prompt, opts, fmt, state: _Gen):
        yield from pieces
    monkeypatch.setattr(engine, "_run", fake_run, raising=False)
    chunks = list(engine._complete("m", "p", None, None, [{"type": "function"}], stream=True))
    assert "".join(c.content for c in chunks) == "Sure "
    assert chunks[-1].done and chunks[-1].tool_calls[0].name == "t"
