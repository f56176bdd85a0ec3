"""Helpers for the orchestrator's tests: a copy of the bundled example repository and ReAct answers."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest

from tanuki_ollama.engines.scripted import ScriptedEngine

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "buggy-calculator"
BROKEN = (EXAMPLE / "calculator.py").read_text()
FIXED = BROKEN.replace("def add(a, b):\n    return a - b", "def add(a, b):\n    return a + b")
WRONG = BROKEN.replace("def add(a, b):\n    return a - b", "def add(a, b):\n    return a * b")


def react(answer: dict, steps: list | None = None, thought: str = "done") -> str:
    return json.dumps({"thought": thought, "steps": steps or [], "answer": answer})


def code(text: str) -> str:
    return react({"language": "python", "code": text})


def approve() -> str:
    return react({"verdict": "approve", "findings": []})


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


class SlowEngine(ScriptedEngine):
    """The scripted engine, but each chat takes ``delay`` seconds (for timeouts and cancellation)."""

    def __init__(self, responses=(), delay: float = 1.0):
        super().__init__(responses)
        self.delay = delay

    def chat(self, model, messages, **kw):
        time.sleep(self.delay)
        return super().chat(model, messages, **kw)


@pytest.fixture
def repo(tmp_path) -> Path:
    dest = tmp_path / "repo"
    shutil.copytree(EXAMPLE, dest)
    return dest
