"""Generation for the benchmarks through any engine (``engines.create_engine``), and the post-processing that
turns an answer into a program: code from an agent's JSON answer, from a fenced block, or a raw continuation.

Prompts are data (``data/prompts/bench/*.j2``). Chat mode sends the rendered prompt as the user message (with the
roster agent's system prompt, output schema and parameters when ``agent`` is set); completion mode continues the
problem's prompt raw and stops at HumanEval's stop sequences.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Literal

from pydantic import BaseModel

from ..errors import ConfigError
from ..types import Message

#: HumanEval's stop sequences (Chen et al. 2021) for completion mode.
COMPLETION_STOPS = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert "]
_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_JSON_CODE = re.compile(r'"code"\s*:\s*"((?:[^"\\]|\\.)*)', re.DOTALL)


class GenConfig(BaseModel):
    model: str
    engine: str = "ollama"
    mode: Literal["chat", "completion"] = "chat"
    agent: str | None = None       # a roster agent: its system prompt, output schema and parameters
    num_predict: int = 384
    num_ctx: int = 2048
    num_thread: int | None = None  # None: the engine's default (Ollama: the physical cores)
    temperature: float = 0.0
    seed: int = 0
    samples: int = 1


class Completion(BaseModel):
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0


class Generator:
    """One engine + one model (or roster agent), answering benchmark prompts."""

    def __init__(self, engine: Any, cfg: GenConfig):
        if cfg.samples > 1 and cfg.temperature == 0.0:
            raise ConfigError("pass@k with several samples needs sampling",
                              hint="add --temperature 0.8 (or keep --samples 1 for greedy pass@1)")
        self.engine, self.cfg = engine, cfg
        self.system: str | None = None
        self.format: dict | None = None
        self.agent_options: dict[str, Any] = {}
        if cfg.agent:
            from ..agents.prompts import render_system_prompt
            from ..agents.roster import load_roster

            spec = load_roster().get(cfg.agent)
            self.system = render_system_prompt(spec)
            self.format = None if spec.plain_text else spec.output_schema
            self.agent_options = spec.parameters.as_options()

    def options(self, sample: int, stop: list[str] | None = None) -> dict[str, Any]:
        opts = {**self.agent_options, "temperature": self.cfg.temperature, "num_predict": self.cfg.num_predict,
                "num_ctx": self.cfg.num_ctx, "seed": self.cfg.seed + sample}
        if self.cfg.num_thread:
            opts["num_thread"] = self.cfg.num_thread
        if stop:
            opts["stop"] = stop
        return opts

    def ask(self, user: str, sample: int = 0) -> Completion:
        messages = ([Message(role="system", content=self.system)] if self.system else []) + [
            Message(role="user", content=user)]
        t0 = time.monotonic()
        res = self.engine.chat(self.cfg.model, messages, format=self.format, options=self.options(sample))
        return Completion(text=res.message.content, prompt_tokens=res.usage.prompt_tokens,
                          completion_tokens=res.usage.completion_tokens, wall_s=time.monotonic() - t0)

    def complete(self, prompt: str, sample: int = 0) -> Completion:
        t0 = time.monotonic()
        res = self.engine.generate(self.cfg.model, prompt, raw=True, options=self.options(sample, COMPLETION_STOPS))
        return Completion(text=res.message.content, prompt_tokens=res.usage.prompt_tokens,
                          completion_tokens=res.usage.completion_tokens, wall_s=time.monotonic() - t0)


def _json_code(text: str) -> str | None:
    """``answer.code`` (or ``code``) of an agent's JSON answer, also from a JSON cut off by num_predict."""
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        ans = obj.get("answer")
        code = ans.get("code") if isinstance(ans, dict) else obj.get("code")
        if isinstance(code, str):
            return code
    m = _JSON_CODE.search(text)
    if m is None:
        return None
    raw = m.group(1)
    for cut in range(len(raw), max(len(raw) - 8, -1), -1):  # drop a dangling escape at the cut
        try:
            return json.loads(f'"{raw[:cut]}"')
        except ValueError:
            continue
    return None


def extract_code(text: str, prefer: str | None = None) -> str:
    """The code in an answer: an agent's JSON ``answer.code``, else the fenced block containing ``prefer`` (else
    the first one), else the whole text."""
    code = _json_code(text) if text.lstrip().startswith("{") else None
    if code is not None:
        text = code
    blocks = [b for _, b in _FENCE.findall(text)]
    if not blocks:
        return text.strip("\n")
    if prefer:
        for b in blocks:
            if prefer in b:
                return b.strip("\n")
    return blocks[0].strip("\n")


def truncate_at_stops(text: str, stops: list[str] = COMPLETION_STOPS) -> str:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


def function_program(prompt: str, preamble: str, entry_point: str, answer: str, mode: str) -> str:
    """A whole program from an answer to a function-completion prompt (HumanEval style)."""
    if mode == "completion":
        return prompt + truncate_at_stops(answer)
    code = extract_code(answer, prefer=f"def {entry_point}(")
    if re.search(rf"^\s*def {re.escape(entry_point)}\(", code, re.MULTILINE):
        return f"{preamble}\n{code}\n"
    lines = code.splitlines()
    if lines and not lines[0].startswith((" ", "\t")):  # a bare body: indent it under the prompt's def
        code = "\n".join("    " + ln if ln.strip() else ln for ln in lines)
    return f"{prompt}{code}\n"
