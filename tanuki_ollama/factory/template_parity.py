"""Template parity: the Ollama TEMPLATE (Go) must render exactly what the HF chat template (Jinja) renders.

The Go side is rendered by ``ollama-render``, a tiny program built on Ollama's own ``template`` package, so
what we compare is what ``ollama serve`` sends to the engine. The Jinja side is rendered the way transformers'
``apply_chat_template`` does (sandboxed Jinja with ``trim_blocks``/``lstrip_blocks``).
"""

from __future__ import annotations

import difflib
import json
import subprocess
from dataclasses import dataclass, field
from typing import Any

from ..errors import EngineError
from ..toolchain import Toolchain

Conversation = list[dict[str, Any]]

TOOL = {
    "type": "function",
    "function": {
        "name": "run_tests",
        "description": "Run the test suite and report failures.",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    },
}

STANDARD_CONVERSATIONS: dict[str, Conversation] = {
    "plain": [{"role": "user", "content": "Write is_even(n) in Python."}],
    "system": [
        {"role": "system", "content": "You are a careful reviewer."},
        {"role": "user", "content": "Review: def f(x): return x+1"},
    ],
    "multi-turn": [
        {"role": "system", "content": "You write code."},
        {"role": "user", "content": "Write add(a, b)."},
        {"role": "assistant", "content": "def add(a, b):\n    return a + b"},
        {"role": "user", "content": "Now add type hints."},
    ],
}
TOOL_CONVERSATION: Conversation = [
    {"role": "user", "content": "Run the tests in tests/."},
    {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "run_tests", "arguments": {"path": "tests/"}}}]},
    {"role": "tool", "content": "2 passed"},
]


def with_default_system(messages: Conversation, system: str | None) -> Conversation:
    """What Ollama's chat handler does: prepend the Modelfile SYSTEM unless the chat starts with a system turn."""
    if system and (not messages or messages[0]["role"] != "system"):
        return [{"role": "system", "content": system}, *messages]
    return list(messages)


def render_ollama(template: str, messages: Conversation, tools: list[dict] | None = None,
                  toolchain: Toolchain | None = None) -> str:
    tc = toolchain or Toolchain.default()
    req = {"template": template, "messages": messages, "tools": tools or []}
    proc = subprocess.run([str(tc.ollama_render)], input=json.dumps(req), capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise EngineError(f"Ollama's template engine refused the TEMPLATE: {proc.stderr.strip()}",
                          hint="fix the Go template (data/templates/ or the Modelfile's TEMPLATE)")
    return proc.stdout


def render_hf(chat_template: str, messages: Conversation, tools: list[dict] | None = None, *,
              add_generation_prompt: bool = True, **special: str) -> str:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.filters["tojson"] = lambda v, indent=None: json.dumps(v, indent=indent, ensure_ascii=False)
    hf_messages = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):  # HF convention: arguments as objects, under "function"
            m["tool_calls"] = [{"type": "function", "function": c["function"]} for c in m["tool_calls"]]
        hf_messages.append(m)
    return env.from_string(chat_template).render(
        messages=hf_messages, tools=tools, add_generation_prompt=add_generation_prompt, **special
    )


@dataclass
class ParityReport:
    checked: list[str] = field(default_factory=list)
    mismatches: dict[str, str] = field(default_factory=dict)  # conversation name -> unified diff

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        if self.ok:
            return f"template parity ok ({', '.join(self.checked)})"
        parts = [f"template parity FAILED for {', '.join(self.mismatches)}"]
        parts += [f"--- {name}\n{diff}" for name, diff in self.mismatches.items()]
        return "\n".join(parts)


def check_template_parity(go_template: str, hf_template: str, *, default_system: str | None = None,
                          conversations: dict[str, Conversation] | None = None, tools: bool = False,
                          toolchain: Toolchain | None = None, **special: str) -> ParityReport:
    convs = dict(conversations or STANDARD_CONVERSATIONS)
    if tools:
        convs["tool-call"] = TOOL_CONVERSATION
    report = ParityReport()
    for name, conv in convs.items():
        msgs = with_default_system(conv, default_system)
        tool_list = [TOOL] if name == "tool-call" else None
        go = render_ollama(go_template, msgs, tool_list, toolchain)
        hf = render_hf(hf_template, msgs, tool_list, **special)
        report.checked.append(name)
        if go != hf:
            diff = difflib.unified_diff(hf.splitlines(True), go.splitlines(True), "hf", "ollama")
            report.mismatches[name] = "".join(diff) or f"hf={hf!r}\nollama={go!r}"
    return report
