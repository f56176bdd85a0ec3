"""Pure logic: settings, toolchain versions, the engine registry, the scripted engine, Modelfiles."""

from __future__ import annotations

import doctest

import pytest

import tanuki_ollama.settings
import tanuki_ollama.toolchain
from tanuki_ollama.engines import available, create_engine, register
from tanuki_ollama.errors import ConfigError, EngineError, ModelNotFound
from tanuki_ollama.factory.modelfile import Modelfile, builtin_template
from tanuki_ollama.settings import Settings
from tanuki_ollama.toolchain import parse_version, version_supported
from tanuki_ollama.types import Message


@pytest.mark.parametrize("module", [tanuki_ollama.settings, tanuki_ollama.toolchain])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_settings_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TANUKI_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:12345")
    s = Settings.from_env()
    assert s.cache == tmp_path / "c"
    assert s.ollama_host == "http://127.0.0.1:12345"


@pytest.mark.parametrize(
    "text, supported",
    [("0.32.15", True), ("ollama version is 0.30.0", True), ("0.34.1", False), ("0.24.0", False), ("0.0.0", False)],
)
def test_version_support(text, supported):
    assert version_supported(parse_version(text)) is supported


def test_registry_knows_builtins_and_rejects_unknown():
    assert {"ollama", "scripted"} <= set(available())
    with pytest.raises(ConfigError) as err:
        create_engine("nope")
    assert "scripted" in err.value.hint


def test_registry_register_third_party():
    register("echo-test", lambda **kw: create_engine("scripted", responses=["hi"], **kw))
    eng = create_engine("echo-test")
    assert eng.chat("m", [Message(role="user", content="x")]).message.content == "hi"


def test_scripted_engine_records_and_streams():
    eng = create_engine("scripted", responses=["def f():\n    return 1", {"content": "", "tool_calls": [
        {"name": "read_file", "arguments": {"path": "a.py"}}]}], models=["tanuki-coder"])
    chunks = list(eng.chat_stream("tanuki-coder", [Message(role="user", content="write f")], options={"num_ctx": 2048}))
    assert "".join(c.content for c in chunks) == "def f():\n    return 1"
    assert chunks[-1].done and chunks[-1].usage.completion_tokens > 0
    res = eng.chat("tanuki-coder", [Message(role="user", content="read a.py")])
    assert res.message.tool_calls[0].arguments == {"path": "a.py"}
    assert [c["kind"] for c in eng.calls] == ["chat", "chat"]
    assert eng.running()[0].name == "tanuki-coder"
    with pytest.raises(ModelNotFound):
        eng.chat("other", [])
    with pytest.raises(EngineError):
        eng.chat("tanuki-coder", [])


def test_modelfile_render():
    mf = Modelfile(
        from_="./base.gguf",
        adapter="./coder.gguf",
        template=builtin_template("chatml"),
        system="You write code.",
        parameters={"num_ctx": 4096, "temperature": 0.2, "stop": ["<|im_end|>", "<|im_start|>"]},
        license="Apache-2.0",
    )
    text = mf.render()
    lines = text.splitlines()
    assert lines[0] == "FROM ./base.gguf" and lines[1] == "ADAPTER ./coder.gguf"
    assert 'PARAMETER stop "<|im_end|>"' in lines and "PARAMETER num_ctx 4096" in lines
    assert 'SYSTEM """You write code."""' in text
    assert "{{ .Content }}" in text and ".Tools" in text
    assert mf.api_parameters()["stop"] == ["<|im_end|>", "<|im_start|>"]
    with pytest.raises(ValueError):
        Modelfile(from_="x", system='bad """ value').render()
