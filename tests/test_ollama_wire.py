"""The Ollama engine at the wire, against a local HTTP stand-in (shapes and error mapping only)."""

from __future__ import annotations

import json
import re

import pytest

from tanuki_ollama.capabilities import probe_adapter
from tanuki_ollama.engines.ollama import OllamaEngine
from tanuki_ollama.errors import BackendUnavailable, EngineError, ModelNotFound
from tanuki_ollama.ollama_server import free_port
from tanuki_ollama.types import Message


def test_chat_sends_num_ctx_tools_and_format_and_parses_tool_calls(httpserver):
    seen = {}

    def handler(request):
        from werkzeug.wrappers import Response

        seen.update(json.loads(request.data))
        body = {"model": "m", "created_at": "2026-01-01T00:00:00Z", "done": True, "done_reason": "stop",
                "message": {"role": "assistant", "content": "",
                            "tool_calls": [{"function": {"name": "run_tests", "arguments": {"path": "tests/"}}}]},
                "prompt_eval_count": 12, "eval_count": 3}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/chat", method="POST").respond_with_handler(handler)
    eng = OllamaEngine(httpserver.url_for("").rstrip("/"), num_ctx=8192)
    tool = {"type": "function", "function": {"name": "run_tests", "parameters": {"type": "object"}}}
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    res = eng.chat("m", [Message(role="user", content="go")], tools=[tool], format=schema, keep_alive=-1)
    assert seen["options"]["num_ctx"] == 8192
    assert seen["tools"][0]["function"]["name"] == "run_tests"
    assert seen["format"] == schema and seen["keep_alive"] == -1
    assert res.message.tool_calls[0].name == "run_tests"
    assert res.message.tool_calls[0].arguments == {"path": "tests/"}
    assert res.usage.prompt_tokens == 12 and res.usage.completion_tokens == 3


def test_unknown_model_maps_to_model_not_found(httpserver):
    httpserver.expect_request("/api/chat").respond_with_json({"error": "model 'x' not found"}, status=404)
    with pytest.raises(ModelNotFound) as err:
        OllamaEngine(httpserver.url_for("").rstrip("/")).chat("x", [Message(role="user", content="hi")])
    assert "tanuki models" in err.value.hint


def test_wrong_port_names_the_fix():
    port = free_port()
    eng = OllamaEngine(f"http://127.0.0.1:{port}", timeout=5)
    with pytest.raises(BackendUnavailable) as err:
        eng.list_models()
    assert f"127.0.0.1:{port}" in err.value.message
    assert "ollama serve" in err.value.hint


@pytest.mark.slow
def test_probe_detects_an_ollama_that_refuses_adapter(httpserver, tiny_llama):
    """A server that answers create-with-adapter with an error is reported as refusing, strategy `merged`."""
    base, adapter = tiny_llama.q4_k_m, tiny_llama.lora
    httpserver.expect_request("/api/version").respond_with_json({"version": "0.34.1"})
    for method in ("HEAD", "POST"):
        httpserver.expect_request(re.compile(r"/api/blobs/sha256:[0-9a-f]{64}"), method=method).respond_with_data(
            "", status=200 if method == "HEAD" else 201
        )
    httpserver.expect_request("/api/create", method="POST").respond_with_json(
        {"error": "adapters are no longer supported; merge the adapter into the model"}, status=400
    )
    probe = probe_adapter(OllamaEngine(httpserver.url_for("").rstrip("/")), base, adapter)
    assert not probe.accepts_adapter and probe.strategy == "merged"
    assert "adapter" in probe.reason and probe.version == "0.34.1" and not probe.version_supported


def test_server_error_is_engine_error(httpserver):
    httpserver.expect_request("/api/generate").respond_with_json({"error": "boom"}, status=500)
    with pytest.raises(EngineError):
        OllamaEngine(httpserver.url_for("").rstrip("/")).generate("m", "hi")
