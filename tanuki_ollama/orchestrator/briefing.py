"""What an agent is shown: the files a step works on, the sections of its briefing packet (task, step,
requests, evidence, files, retrieval, repo map, history, tools; ``context.py`` fits them to ``num_ctx``), and
the repo map behind retrieval (built on first use, updated as the run writes files).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..agents.roster import AgentSpec
from ..errors import TanukiError
from .evidence import Tests, failing_files, is_test_path, source_candidates
from .models import PlanStep
from .workspace import Workspace


class Briefing:
    """Context for the run's agents, read from its workspace and its state (the task, the tests before the
    run, the steps so far)."""

    def __init__(self, ws: Workspace, registry: Any, state: dict[str, Any], emit: Callable[..., None]):
        self.ws, self.registry, self.state, self.emit = ws, registry, state, emit
        self.repomap: Any = None

    def tests_before(self) -> Tests:
        return Tests.from_dict(self.state["tests_before"])

    def targets(self, step: PlanStep) -> tuple[str | None, str | None]:
        """The source file a whole-file answer replaces, and the test file (either may be missing)."""
        inputs = [p for p in step.inputs if self.is_file(p)]
        sources = [p for p in inputs if not is_test_path(p)]
        tests = [p for p in inputs if is_test_path(p)]
        before = self.tests_before()
        tests += [p for p in failing_files(before.failed, self.ws.root) if p not in tests]
        if not sources:
            sources = self.guess_sources(step.goal, before)
        source = sources[0] if sources else None
        test = tests[0] if tests else (
            str(Path(source).with_name(f"test_{Path(source).name}")) if source and source.endswith(".py") else None)
        return source, test

    def guess_sources(self, text: str, tests: Tests) -> list[str]:
        found = source_candidates(failing_files(tests.failed, self.ws.root), self.ws.root)
        if not found:
            try:
                hits = self.map().search(text, k=8) if self.map() is not None else []
            except Exception:  # noqa: BLE001 - retrieval is a hint; a broken index must not stop the run
                hits = []
            found = [h.path for h in hits if not is_test_path(h.path)]
        return list(dict.fromkeys(found))[:3]

    def sections(self, step: PlanStep, agent: AgentSpec, source: str | None, test: str | None,
                 requests: list[str], tests: Tests) -> dict[str, str]:
        files = []
        for rel in [p for p in [source, test, *step.inputs] if p]:
            if self.is_file(rel) and rel not in [f[0] for f in files]:
                files.append((rel, self.ws.inside(rel).read_text(errors="replace")))
        records = self.state["records"].values()
        history = [f"{r['id']} ({r['agent']}): {r['status']}" + (f", wrote {', '.join(r['files_written'])}"
                   if r["files_written"] else "") for r in records if r["id"] != step.id
                   and r["status"] in ("accepted", "failed")]
        tools = [tool_line(t["function"])
                 for t in self.registry.schemas([n for n in agent.tools if n in self.registry.names()])]
        return {
            "task": self.state["task"],
            "step": f"{step.goal}\nacceptance: {', '.join(step.acceptance) or 'tests pass'}"
                    + (f"\nfile to change: {source}" if source else "") + (f"\ntest file: {test}" if test else ""),
            "requests": "\n".join(f"- {r}" for r in requests),
            "evidence": tests.text(3000),
            "files": "\n\n".join(f"### {rel}\n```\n{text}\n```" for rel, text in files),
            "repo_map": self.relevant(step.goal, [rel for rel, _ in files]) + self.map_text(3000),
            "history": "\n".join(history),
            "tools": "\n".join(tools),
        }

    def relevant(self, query: str, shown: list[str]) -> str:
        """Retrieval: the best matches for the step's goal in files not shown in full (repo map's BM25)."""
        repomap = self.map()
        if repomap is None:
            return ""
        hits = [h for h in repomap.search(query, k=8) if h.path not in shown][:5]
        return "".join(f"relevant: {h.path}:{h.line} {h.snippet.strip()[:120]}\n" for h in hits)

    def map(self) -> Any:
        """The workspace's repo map, built on first use (None where it cannot be built)."""
        if self.repomap is None:
            try:
                from .repomap import RepoMap

                self.repomap = RepoMap.build(self.ws.root)
            except Exception as exc:  # noqa: BLE001 - the map helps the agents; a run works without it
                self.repomap = False
                self.emit("error", f"repo map unavailable: {exc}")
        return self.repomap or None

    def map_text(self, max_chars: int) -> str:
        """The repo map rendered in at most ``max_chars`` (empty without one)."""
        repomap = self.map()
        return repomap.render(max_chars=max_chars) if repomap is not None else ""

    def refresh_map(self, changed: list[str]) -> None:
        if self.repomap:
            self.repomap.update([self.ws.root / p for p in changed])

    def is_file(self, rel: str) -> bool:
        try:
            return self.ws.inside(rel).is_file()
        except TanukiError:
            return False


def tool_line(fn: dict[str, Any]) -> str:
    """A tool's schema in one line: ``name(arg, optional?): description``."""
    params = fn.get("parameters") or {}
    required = set(params.get("required") or [])
    args = ", ".join(a if a in required else f"{a}?" for a in params.get("properties") or {})
    return f"- {fn['name']}({args}): {fn['description']}"
