"""From an agent's structured answer to actions: tool calls from its ReAct steps, whole-file writes from its
answer. Small models are asked for whole files (``code``, ``fixed_code``, ``tests``, ``files``), never patches.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

from ..agents.roster import AgentSpec

# answer field -> which file it replaces ("source": the step's source file, "test": its test file)
WRITE_FIELDS = {"code": "source", "fixed_code": "source", "tests": "test", "migration": "source"}
# tool -> the argument a bare string input stands for (a ReAct step's "input" is often not JSON)
PRIMARY_ARG = {"read_file": "path", "search": "query", "run_tests": "path", "lint": "path", "format": "path",
               "git": "command", "gdb": "program", "docker": "path", "terraform": "command"}
EVIDENCE_TOOLS = {"run_tests", "lint"}  # run by the orchestrator itself after every attempt
_FENCE = re.compile(r"^\s*```[\w+-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


@dataclass
class Write:
    path: str
    content: str


def strip_fences(code: str) -> str:
    match = _FENCE.match(code)
    return match.group(1) + "\n" if match else code


def answer_of(parsed: dict[str, Any] | None) -> dict[str, Any]:
    """The ``answer`` object of a ReAct reply; a bare object that looks like an answer is taken as one."""
    if not isinstance(parsed, dict):
        return {}
    answer = parsed.get("answer")
    if isinstance(answer, dict):
        return answer
    if isinstance(answer, str):
        return {"code": answer}
    return {k: v for k, v in parsed.items() if k in WRITE_FIELDS or k == "files"}


def tool_calls(parsed: dict[str, Any] | None, agent: AgentSpec, limit: int) -> list[tuple[str, dict[str, Any]]]:
    """The tool calls named in the reply's ReAct ``steps`` (the orchestrator runs the evidence tools itself)."""
    steps = parsed.get("steps") if isinstance(parsed, dict) else None
    calls = []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        name = str(step.get("action") or "").strip()
        if not name or name in EVIDENCE_TOOLS or name in ("answer", "finish", "none"):
            continue
        raw = step.get("input")
        args: Any = raw
        if isinstance(raw, str):
            try:
                args = json.loads(raw)
            except json.JSONDecodeError:
                args = {PRIMARY_ARG.get(name, "input"): raw}
        calls.append((name, args if isinstance(args, dict) else {PRIMARY_ARG.get(name, "input"): str(raw)}))
        if len(calls) >= limit:
            break
    return calls


def writes(answer: dict[str, Any], source: str | None, test: str | None) -> list[Write]:
    out: list[Write] = []
    for item in answer.get("files") or []:
        if isinstance(item, dict) and isinstance(item.get("path"), str) and isinstance(item.get("content"), str):
            out.append(Write(item["path"], item["content"]))
    for field, target in WRITE_FIELDS.items():
        value = answer.get(field)
        path = source if target == "source" else test
        if isinstance(value, str) and value.strip() and path:
            out.append(Write(path, strip_fences(value)))
    return out


def syntax_error(path: str, content: str) -> str | None:
    """A one-line description of a Python syntax error in ``content`` (other languages are not checked)."""
    if not path.endswith(".py"):
        return None
    try:
        ast.parse(content)
    except SyntaxError as exc:
        return f"{path} line {exc.lineno}: syntax error: {exc.msg}"
    return None


def answer_hint(agent: AgentSpec, source: str | None, test: str | None) -> str:
    """One line telling the agent what its ``answer`` must hold, naming the file a whole-file field replaces."""
    props = (agent.output_schema.get("properties") or {}).get("answer", {})
    required = props.get("required") or list(props.get("properties") or {})
    parts = []
    for field in required:
        target = WRITE_FIELDS.get(field)
        path = source if target == "source" else test if target == "test" else None
        parts.append(f'"{field}": the complete new content of {path}' if path else f'"{field}"')
    return "The answer object holds " + ", ".join(parts) + "." if parts else ""
