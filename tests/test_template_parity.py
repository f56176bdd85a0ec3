"""Template parity through Ollama's own template package (ollama-render) against the HF chat template."""

from __future__ import annotations

import pytest

from tanuki_ollama.factory.gguf import inspect_gguf
from tanuki_ollama.factory.template_parity import check_template_parity, render_ollama
from tanuki_ollama.micro import MICRO_SYSTEM, micro_gguf, micro_modelfile

pytestmark = pytest.mark.slow


def test_micro_template_renders_like_the_gguf_chat_template():
    report = check_template_parity(micro_modelfile().template, inspect_gguf(micro_gguf()).chat_template,
                                   default_system=MICRO_SYSTEM)
    assert report.ok, report.summary()
    assert report.checked == ["plain", "system", "multi-turn"]


def test_a_stray_newline_is_caught():
    """The bug this check exists for: a template file's final newline ends every prompt with an extra '\\n'."""
    template = micro_modelfile().template + "\n"
    report = check_template_parity(template, inspect_gguf(micro_gguf()).chat_template, default_system=MICRO_SYSTEM)
    assert not report.ok and "plain" in report.mismatches


def test_tool_calls_render_with_object_arguments():
    from tanuki_ollama.factory.template_parity import TOOL, TOOL_CONVERSATION

    text = render_ollama(micro_modelfile().template, TOOL_CONVERSATION, [TOOL])
    assert '"name": "run_tests", "arguments": {"path":"tests/"}' in text
    assert "<tool_response>\n2 passed\n</tool_response>" in text and '"run_tests"' in text.split("<tools>")[1]
