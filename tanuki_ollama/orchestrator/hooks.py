"""The run as the candidate search sees it (``repair.py``): one narrow object, ``SearchHooks``, with the run's
task, settings, workspace, tools and usage under public names, and the hooks the search calls back:

- ``derive_checks`` / ``remove_checks``: acceptance checks for a task without a failing test (from the task's
  examples and the docstrings, else written by the tester and vetted by the reviewer: ``checks.py``), written
  into the workspace while the search runs and removed after it;
- ``tests_in``: the tests of a candidate's own copy of the workspace;
- ``write_candidate``: a candidate's file into the workspace (or the original files back);
- ``review_candidate``: the reviewer's verdict on a candidate that passed every check.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..agents.roster import AgentSpec, Roster
from ..errors import TanukiError
from .briefing import Briefing
from .calls import ModelGate, ToolCalls
from .evidence import Tests, is_test_path
from .models import PlanStep, RunConfig, StepRecord, Verdict
from .review import parse_verdict


class SearchHooks:
    """What ``repair.search_edit`` may use of the run; ``review`` is the loop's (reviewer and evidence)."""

    def __init__(self, task: str, config: RunConfig, roster: Roster, gate: ModelGate, tools: ToolCalls,
                 brief: Briefing, emit: Callable[..., None], review: Callable[..., Verdict]):
        self.task, self.config, self.roster = task, config, roster
        self.gate, self.tools, self.brief = gate, tools, brief
        self.emit, self.review = emit, review
        self.ws, self.registry, self.ctx, self.usage = tools.ws, tools.registry, tools.ctx, gate.usage

    # ------------------------------------------------------------------ the run, by public names
    def tests(self) -> Tests:
        """The workspace's test evidence (cached by its content)."""
        return self.tools.tests()

    def repo_map(self) -> Any:
        """The workspace's repo map (None where it cannot be built)."""
        return self.brief.map()

    def check_limits(self) -> None:
        """Raise ``Cancelled`` or ``RunTimeout`` when the run was cancelled or is out of time."""
        self.gate.check_limits()

    # ------------------------------------------------------------------ the hooks
    def tests_in(self, folder: Path, ids: list[str] | None, timeout_s: float) -> Tests:
        """The tests of a candidate's own copy of the workspace (``ids``: only these tests)."""
        from ..tools import ToolContext

        ctx = ToolContext(workspace=folder, timeout_s=timeout_s, sandbox=self.ctx.get_sandbox())
        return Tests.from_observation(self.tools.call("run_tests", {"args": list(ids)} if ids else {}, ctx))

    def write_candidate(self, cand: Any, originals: dict[str, str], rec: StepRecord) -> None:
        """Put a candidate's file into the workspace (None: put the original files back)."""
        writes = {cand.region.path: cand.new_text} if cand is not None else originals
        for path, text in writes.items():
            obs = self.tools.call("write_file", {"path": path, "content": text}, self.ctx)
            if not obs.ok:
                raise TanukiError(f"write {path} refused: {obs.error or obs.summary}", hint="check the workspace")
            self.brief.refresh_map([path])
        if cand is not None:
            rec.files_written = sorted(set(rec.files_written) | {cand.region.path})

    def review_candidate(self, step: PlanStep, before: Tests, cand: Any, deadline: float) -> tuple[bool, list[str]]:
        """The reviewer's verdict on a candidate that passed every check (it is in the workspace now)."""
        tests = Tests(found=True, ok=True, passed=cand.passed, summary=cand.reason)
        verdict = self.review(step, f"step-{step.id}", tests, True, [], deadline)
        return verdict.approve, verdict.requests

    def derive_checks(self, step: PlanStep, agent: AgentSpec, deadline: float) -> Any:
        """Acceptance checks for a task without a failing test, written into the workspace (or None)."""
        from . import checks as checks_mod

        source, _ = self.brief.targets(step)
        inputs = [p for p in step.inputs if self.brief.is_file(p)]
        sources = list(dict.fromkeys(filter(None, [source, *inputs])))
        sources = [p for p in sources if p.endswith(".py") and not is_test_path(p)]
        found = checks_mod.example_checks(f"{self.task}\n{step.goal}", self.ws.root, sources)
        if found is None and sources:
            found = self._tester_checks(sources, deadline)
        if found is None:
            return None
        try:
            found.write(self.ws.root)
        except checks_mod.ChecksError as exc:  # the step falls back to one whole-file answer
            self.emit("checks", f"acceptance checks not written: {exc.message}")
            return None
        self.emit("checks", f"{found.cases} acceptance check(s) from {found.origin} in {found.path}",
                  checks=found.model_dump())
        return found

    def _tester_checks(self, sources: list[str], deadline: float) -> Any:
        from . import checks as checks_mod

        tester = next((a for a in self.roster.agents if a.role == "tester"
                       and (not self.config.agents or a.name in self.config.agents)), None)
        if tester is None:
            return None
        texts = {p: self.ws.inside(p).read_text(errors="replace") for p in sources}
        modules = [checks_mod.module_name(p, self.ws.root)[0] for p in sources]
        messages = checks_mod.tester_messages(self.task, texts, roster=self.roster, root=self.ws.root)
        result = self.gate.chat(self.config.model_for(tester.name), messages, tester.output_schema, deadline)
        found = checks_mod.parse_tester_checks(result.message.content, modules)
        if found is None:
            return None
        reviewer = self.roster.get(self.config.reviewer_agent)
        asked = checks_mod.review_messages(self.task, found, reviewer=reviewer, roster=self.roster)
        answer = self.gate.chat(self.config.model_for(reviewer.name), asked, reviewer.output_schema, deadline)
        verdict = parse_verdict(answer.message.content, reviewer.name)
        if not verdict.malformed and not verdict.approve:
            self.emit("checks", "the reviewer rejected the tester's checks: "
                      + "; ".join(verdict.requests[:2]))
            return None
        return found

    def remove_checks(self, found: Any) -> None:
        path = self.ws.inside(found.path)
        if path.is_file():
            path.unlink()
        self.tools.forget_tests()
