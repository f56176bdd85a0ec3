"""Evidence from the sandbox: the ``run_tests`` observation as a small typed record, and the links between
failing tests and the source files they exercise (Python imports)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .context import compress_log

_TEST_NAME = re.compile(r"(^|/)(test_[^/]*|[^/]*_test\.(py|go)|[^/]*\.(test|spec)\.[jt]sx?|[^/]*Test\.java)$")


def is_test_path(rel: str) -> bool:
    return bool(_TEST_NAME.search(rel)) or "/tests/" in f"/{rel}" or "/test/" in f"/{rel}"


class Tests(BaseModel):
    found: bool = True
    ok: bool = False
    passed: int = 0
    failed: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    messages: dict[str, str] = Field(default_factory=dict)
    output: str = ""
    summary: str = "not run"

    @classmethod
    def from_observation(cls, obs: Any) -> Tests:
        data = obs.data or {}
        errors = [str(e) for e in data.get("errors") or []]
        text = f"{obs.summary} {obs.error or ''}".lower()
        found = not ("no tests found" in text or "no tests collected" in errors)
        return cls(found=found, ok=bool(obs.ok), passed=int(data.get("passed") or 0),
                   failed=[str(f) for f in data.get("failed") or []], errors=errors,
                   messages={str(k): str(v) for k, v in (data.get("messages") or {}).items()},
                   output=str(data.get("output_tail") or obs.error or ""), summary=obs.summary)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Tests:
        return cls.model_validate(data) if data else cls(found=False)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def requests(self) -> list[str]:
        """Concrete requests for the agent: each failing test with the first line of its failure."""
        out = []
        for name in self.failed + self.errors:
            msg = (self.messages.get(name) or "").strip().splitlines()
            out.append(f"make {name} pass" + (f" (now: {msg[0][:200]})" if msg else ""))
        return out[:8]

    def text(self, max_chars: int) -> str:
        parts = [self.summary]
        for name in self.failed + self.errors:
            if self.messages.get(name):
                parts.append(f"{name}: {self.messages[name]}")
        if self.output and not self.ok:
            parts.append(self.output)
        return compress_log("\n".join(parts), max_chars)

    def lines_in(self, source: str | None) -> list[int]:
        """Line numbers of ``source`` that the failure output points at (kept when code is compressed)."""
        if not source:
            return []
        blob = self.output + "\n" + "\n".join(self.messages.values())
        name = re.escape(Path(source).name)
        return sorted({int(n) for n in re.findall(rf"{name}[\"']?(?:, line |:)(\d+)", blob)})


def failing_files(failed: list[str], root: Path) -> list[str]:
    """Test files behind failing test ids (``pkg.test_x::test_y``, ``tests/test_x.py::test_y``, ``a.b.TestC``)."""
    out: list[str] = []
    for name in failed:
        head = name.split("::")[0]
        candidates = [head] if head.endswith(".py") else []
        parts = head.split(".")
        candidates += ["/".join(parts[:i]) + ".py" for i in range(len(parts), 0, -1)]
        for rel in candidates:
            if (root / rel).is_file() and rel not in out:
                out.append(rel)
                break
    return out


def source_candidates(test_files: list[str], root: Path) -> list[str]:
    """Non-test modules that the given Python test files import, in import order."""
    out: list[str] = []
    for rel in test_files:
        try:
            tree = ast.parse((root / rel).read_text(errors="replace"))
        except (SyntaxError, OSError):
            continue
        for node in ast.walk(tree):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for module in modules:
                base = module.replace(".", "/")
                for cand in (f"{base}.py", f"{base}/__init__.py", f"src/{base}.py",
                             str(Path(rel).parent / f"{base}.py")):
                    if (root / cand).is_file() and not is_test_path(cand) and cand not in out:
                        out.append(cand)
                        break
    return out
