"""Integration against the real `ollama serve` (pinned build) and the real llama.cpp engine.

The micro backbone (SmolLM2-135M-Instruct) answers real questions; the tiny fixtures prove that a LoRA GGUF
registered with ADAPTER changes what Ollama generates, for both architectures.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import httpx
import pytest

from tanuki_ollama.capabilities import probe_adapter
from tanuki_ollama.errors import InvalidModelFile, ModelNotFound
from tanuki_ollama.ollama_server import free_port
from tanuki_ollama.toolchain import OLLAMA_VERSION, Toolchain
from tanuki_ollama.types import Message

pytestmark = [pytest.mark.slow, pytest.mark.ollama]
GREEDY = {"temperature": 0, "seed": 7, "top_k": 1}


def test_the_pinned_ollama_answers(ollama):
    if not os.environ.get("TANUKI_OLLAMA_BIN"):
        assert ollama.version() == OLLAMA_VERSION


def test_micro_writes_is_palindrome(ollama, micro_model):
    q = "Write a Python function is_palindrome(s) that returns True if s reads the same backwards."
    res = ollama.chat(micro_model, [Message(role="user", content=q)], options={**GREEDY, "num_predict": 160})
    assert "def is_palindrome" in res.message.content
    assert res.usage.prompt_tokens > 10 and res.usage.completion_tokens > 5


def test_micro_streams(ollama, micro_model):
    chunks = list(ollama.chat_stream(micro_model, [Message(role="user", content="Say hello in Python.")],
                                     options={**GREEDY, "num_predict": 24}))
    assert len(chunks) > 3
    assert chunks[-1].done and chunks[-1].usage and chunks[-1].usage.completion_tokens > 0
    assert "".join(c.content for c in chunks).strip()


def test_micro_structured_output_follows_schema(ollama, micro_model):
    schema = {
        "type": "object",
        "properties": {"language": {"type": "string"}, "function_name": {"type": "string"}},
        "required": ["language", "function_name"],
    }
    res = ollama.chat(micro_model, [Message(role="user", content="Name a language and a function for reversing "
                                            "a string. Answer in JSON.")], format=schema,
                      options={**GREEDY, "num_predict": 64})
    data = json.loads(res.message.content)
    assert set(schema["required"]) <= set(data)


def test_token_counting_uses_the_model_tokenizer(ollama, micro_model):
    short = ollama.count_tokens(micro_model, "def f(): pass")
    longer = ollama.count_tokens(micro_model, "def f(): pass\n" * 20)
    assert 0 < short < longer


def test_show_reports_capabilities_and_parameters(ollama, micro_model):
    d = ollama.show(micro_model)
    assert "completion" in d.capabilities and "tools" in d.capabilities
    assert d.architecture == "llama" and d.context_length >= 2048
    assert d.parameters["num_ctx"] == "4096" and "<|im_end|>" in d.parameters["stop"]


def test_load_ps_unload(ollama, micro_model):
    ollama.load(micro_model, keep_alive="5m")
    running = {r.name.split(":")[0]: r for r in ollama.running()}
    assert micro_model in running and running[micro_model].size_bytes > 0
    assert running[micro_model].context_length == 4096  # our num_ctx, always sent
    ollama.unload(micro_model)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(r.name.startswith(micro_model) for r in ollama.running()):
        time.sleep(0.5)
    assert not any(r.name.startswith(micro_model) for r in ollama.running())


def test_unknown_model_is_a_clear_error(ollama):
    with pytest.raises(ModelNotFound) as err:
        ollama.chat("no-such-model", [Message(role="user", content="hi")])
    assert "tanuki models" in err.value.hint


def test_corrupt_gguf_never_reaches_ollama(ollama, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 64)
    with pytest.raises(InvalidModelFile):
        ollama.create("tanuki-bad", gguf=bad)
    assert not ollama.has_model("tanuki-bad")


def _greedy_raw(ollama, model: str) -> str:
    res = ollama.generate(model, "def add(a, b):", raw=True, options={**GREEDY, "num_predict": 12})
    return res.message.content


def test_lora_adapter_changes_ollama_output(ollama, tiny):
    base, lora = f"tiny-{tiny.arch}-base", f"tiny-{tiny.arch}-lora"
    ollama.create(base, gguf=tiny.q4_k_m)
    ollama.create(lora, gguf=tiny.q4_k_m, adapter=tiny.lora)
    shown = ollama.raw_request("POST", "/api/show", {"model": lora})
    assert "ADAPTER" in shown.get("modelfile", "")
    out_base, out_base_again, out_lora = _greedy_raw(ollama, base), _greedy_raw(ollama, base), _greedy_raw(ollama, lora)
    assert out_base == out_base_again  # greedy is deterministic
    assert out_base != out_lora, "the LoRA did not change the output"


def test_probe_says_the_pinned_ollama_accepts_adapter(ollama, tiny_llama):
    probe = probe_adapter(ollama, tiny_llama.q4_k_m, tiny_llama.lora)
    assert probe.accepts_adapter and probe.strategy == "adapter", probe.reason


def test_tokenizer_ids_match_between_hf_and_llama_cpp(tiny):
    """The pre-tokenizer fix is right: llama.cpp tokenizes exactly as the HF tokenizer does."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(tiny.hf_dir)
    port = free_port()
    server = subprocess.Popen(
        [str(Toolchain.default().llama_tool("llama-server")), "-m", str(tiny.f16), "--port", str(port),
         "--host", "127.0.0.1", "-c", "512", "--no-webui", "--offline"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        for text in ["def is_palindrome(s):\n    return s == s[::-1]\n", "  indented\ttabs and 123 numbers!",
                     "unicode: café, naïve, 東京 🚀", "<|im_start|>user\nhi<|im_end|>"]:
            ours = httpx.post(f"{url}/tokenize", json={"content": text, "add_special": False, "parse_special": True},
                              timeout=10).json()["tokens"]
            assert ours == tok.encode(text, add_special_tokens=False), text
    finally:
        server.terminate()
        server.wait(10)
