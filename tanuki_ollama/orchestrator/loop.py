"""The loop: plan -> for each step (in dependency order): route -> brief -> resident -> act -> evidence ->
review (revise, bounded) -> accept, or roll back and re-plan (bounded) -> aggregate.

Every step runs on a snapshot of the workspace; the journal is saved after every step, so an interrupted run
resumes (``RunConfig.resume``). Limits (step, review and run timeouts, cancellation) are checked before every
model call and while waiting for one.

This module is the control flow, the planner and reviewer calls, and the run's state, events and report. The
rest is composed in: ``calls.ModelGate`` (model calls under the limits) and ``calls.ToolCalls`` (tool calls,
test evidence), ``briefing.Briefing`` (what agents are shown), ``whole_file.WholeFile`` (the whole-file edit
path) and ``hooks.SearchHooks`` (the run as the candidate search of ``repair.py`` sees it). ``Cancelled``,
``RunTimeout`` and ``StepTimeout`` are defined in ``errors.py`` and importable from here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..agents.prompts import render_system_prompt, render_template
from ..agents.roster import AgentSpec, Roster, load_roster
from ..errors import Cancelled, RunTimeout, StepTimeout, TanukiError
from ..types import Message
from . import act
from .briefing import Briefing
from .calls import ModelGate, ToolCalls
from .evidence import Tests
from .hooks import SearchHooks
from .journal import Journal
from .models import Plan, PlanStep, RunConfig, RunEvent, RunReport, StepRecord, Verdict
from .planner import default_plan, parse_plan, plan_messages, plan_schema
from .review import decide, parse_verdict
from .router import route
from .whole_file import WholeFile
from .workspace import Workspace

BASELINE = "base"


def run_task(task: str, repo: Path, *, engine: Any, config: RunConfig | None = None,
             on_event: Callable[[RunEvent], None] | None = None, cancel: threading.Event | None = None,
             registry: Any = None, roster: Roster | None = None) -> RunReport:
    """Turn ``task`` into a verified change of ``repo`` (a copy of it unless ``config.in_place``)."""
    return _Run(task, Path(repo), engine, config or RunConfig(), on_event, cancel or threading.Event(),
                registry, roster).execute()


class _Run:
    def __init__(self, task, repo, engine, config: RunConfig, on_event, cancel, registry, roster):
        from ..tools import ToolContext, default_registry

        self.config = config
        self.on_event = on_event or (lambda event: None)
        self.roster = roster or load_roster()
        self.registry = registry or default_registry()
        self.t0 = time.monotonic()
        self.deadline = self.t0 + config.run_timeout_s
        if config.resume:
            self.journal = Journal.existing(config.journal_dir, config.resume)
            self.state = self.journal.load()
            self.ws = Workspace(Path(self.state["workspace"]), self.journal.run_id, self.registry)
        else:
            self.journal = Journal.open(config.journal_dir)
            self.ws = Workspace.prepare(repo, self.journal.dir, self.journal.run_id, in_place=config.in_place,
                                        registry=self.registry)
            self.state = {"run_id": self.journal.run_id, "task": task, "repo": str(Path(repo).resolve()),
                          "workspace": str(self.ws.root), "status": "running", "plan": None, "records": {},
                          "replans": 0, "tests_before": None, "failures": [], "config": config.model_dump()}
        self.task = self.state["task"]
        self.run_id = self.journal.run_id
        self.ctx = ToolContext(workspace=self.ws.root, timeout_s=config.tool_timeout_s)
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "model_requests": 0, "model_calls": 0,
                      "model_s": 0.0, "tool_s": 0.0}
        self.gate = ModelGate(engine, config, self.roster, cancel, self.deadline, self.run_id, self.usage)
        self.tools = ToolCalls(self.registry, self.ctx, self.ws, self.usage, self._emit)
        self.brief = Briefing(self.ws, self.registry, self.state, self._emit)
        self.whole_file = WholeFile(engine, config, self.gate, self.tools, self.brief, self._emit,
                                    self._review)
        self.hooks = SearchHooks(self.task, config, self.roster, self.gate, self.tools, self.brief,
                                 self._emit, self._review)

    # ------------------------------------------------------------------ the run
    def execute(self) -> RunReport:
        status = "failed"
        try:
            self._start()
            self._steps()
            status = self._final_status()
        except Cancelled as exc:
            status = "cancelled"
            self._emit("error", exc.message)
        except RunTimeout as exc:
            status = "timed_out"
            self._emit("error", exc.message)
        finally:
            self.gate.residency.close()
            self.state["status"] = "interrupted" if status == "cancelled" else status
            self._save()
        report = self._report(status)
        if report.status != status:  # every step accepted, yet the repository's tests fail: not a success
            status = self.state["status"] = report.status
            self._save()
        self._emit("done", report.summary, status=status, succeeded=report.succeeded)
        self.journal.append({"kind": "report", "report": report.model_dump()})
        return report

    def _start(self) -> None:
        if self.config.resume:
            self._emit("plan", f"resuming run {self.run_id}", plan=self.state["plan"] or {"steps": []})
            for rec in self._records().values():
                if rec["status"] == "running":  # interrupted mid-step: back to its snapshot, run it again
                    self.ws.restore(f"step-{rec['id']}")
                    rec["status"] = "pending"
                    self._emit("rollback", f"step {rec['id']} was interrupted: restored its snapshot")
        else:
            self.ws.snapshot(BASELINE)
        if self.state["tests_before"] is None:
            self.state["tests_before"] = self.tools.tests().as_dict()
            self._emit("tool", f"tests before: {self.state['tests_before']['summary']}",
                       tests=self.state["tests_before"])
        if self.state["plan"] is None:  # a new run, or one interrupted while planning
            self._set_plan(self._plan(feedback=""), keep=[])

    def _steps(self) -> None:
        for _ in range(self.config.max_replans + 2):  # one pass per plan; each re-plan starts a new pass
            failed = None
            for step in self._pending():
                self.gate.check_limits()
                rec = self._run_step(step)
                if rec.status == "failed":
                    failed = rec
                    break
            if failed is None:
                return
            if self.state["replans"] >= self.config.max_replans:
                for other in self._pending():
                    self._record(other.id).update(status="skipped", error="not attempted: an earlier step failed")
                return
            self.state["replans"] += 1
            feedback = f"step {failed.id} ({failed.goal}) failed: {failed.error or 'rejected'}"
            self._emit("replan", feedback, attempt=self.state["replans"])
            kept = [s for s in self._plan_obj().steps if self._record(s.id)["status"] == "accepted"]
            for other in self._pending():
                self._record(other.id).update(status="skipped", error="replaced by a new plan")
            self._set_plan(self._plan(feedback=feedback, prefix=f"r{self.state['replans']}-"), keep=kept)

    def _run_step(self, step: PlanStep) -> StepRecord:
        t0, model_s, tool_s, git_s = time.monotonic(), self.usage["model_s"], self.usage["tool_s"], self.ws.git_s
        agent = route(step, self.roster, self.config.agents or None)
        rec = StepRecord(**{**self._record(step.id), "agent": agent.name, "status": "running"})
        self._put(rec)
        self.ws.snapshot(f"step-{step.id}")
        self._emit("step_start", f"{step.id} {step.kind} by {agent.name}: {step.goal}", step=step.model_dump(),
                   agent=agent.name)
        self.gate.prefetch_after(step, self._pending())
        deadline = min(self.deadline, t0 + self.config.step_timeout_s)
        try:
            handler = {"edit": self._edit, "check": self._check, "review": self._review_step}[step.kind]
            ok = handler(step, agent, rec, deadline)
        except StepTimeout as exc:
            ok, rec.error = False, exc.message
        except (Cancelled, RunTimeout):
            rec.wall_s = time.monotonic() - t0
            self._put(rec)  # stays "running": a resume runs it again
            self.ws.restore(f"step-{step.id}")  # unverified work never reaches the report's diff
            raise
        except TanukiError as exc:  # an engine or tool error ends this step, not the run
            ok, rec.error = False, exc.message
            self._emit("error", f"step {step.id}: {exc.message}")
        rec.wall_s = time.monotonic() - t0
        rec.model_s, rec.tool_s = self.usage["model_s"] - model_s, self.usage["tool_s"] - tool_s
        rec.git_s = self.ws.git_s - git_s
        rec.status = "accepted" if ok else "failed"
        if not ok:
            restored = self.ws.restore(f"step-{step.id}")
            self.brief.refresh_map(restored)
            self._emit("rollback", f"step {step.id} rolled back ({len(restored)} file(s) restored)",
                       restored=restored)
        self._put(rec)
        self._emit("step_end", f"{step.id}: {rec.status}", status=rec.status, error=rec.error)
        return rec

    # ------------------------------------------------------------------ step kinds
    def _edit(self, step: PlanStep, agent: AgentSpec, rec: StepRecord, deadline: float) -> bool:
        if self.config.search:
            from .repair import search_edit

            found = search_edit(self.hooks, step, agent, rec, deadline)
            if found is not None:
                return found
            if self._failing_tests_fixed():  # the run's gate is met: a later step has nothing left to do
                self._emit("search", f"step {step.id}: the tests that failed pass now; nothing left to check it "
                           "against, so nothing is changed")
                rec.verdicts.append({"approve": True, "reviewer": "evidence",
                                     "reasons": ["the tests that failed at the start pass now"]})
                return True
            self._emit("search", f"step {step.id}: nothing to check candidates against; one whole-file answer")
        return self.whole_file.edit(step, agent, rec, deadline)

    def _failing_tests_fixed(self) -> bool:
        """The run started with failing tests, and every test passes now."""
        before = Tests.from_dict(self.state["tests_before"])
        return before.found and bool(before.failed or before.errors) and self.tools.tests().ok

    def _check(self, step: PlanStep, agent: AgentSpec, rec: StepRecord, deadline: float) -> bool:
        rec.attempts += 1
        tests = self.tools.tests(allowed=agent.tools)
        rec.tool_calls.append({"tool": "run_tests", "ok": tests.ok, "summary": tests.summary})
        ok = tests.ok or not tests.found
        if any("lint" in a.lower() for a in step.acceptance) and "lint" in agent.tools:
            obs = self.tools.call("lint", {}, self.ctx, allowed=agent.tools)
            rec.tool_calls.append({"tool": "lint", "ok": obs.ok, "summary": obs.summary})
            ok = ok and obs.ok
        if not ok:
            rec.error = tests.summary
        return ok

    def _review_step(self, step: PlanStep, agent: AgentSpec, rec: StepRecord, deadline: float) -> bool:
        rec.attempts += 1
        tests = self.tools.tests()
        verdict = self._review(step, BASELINE, tests, tests.ok or not tests.found, tests.requests(), deadline,
                               reviewer=agent, always=True)
        rec.verdicts.append(verdict.model_dump())
        if not verdict.approve:
            rec.error = "; ".join(verdict.requests[:3]) or "rejected"
        return verdict.approve

    def _review(self, step: PlanStep, since: str, tests: Tests, checks_ok: bool, failures: list[str],
                deadline: float, reviewer: AgentSpec | None = None, always: bool = False) -> Verdict:
        """The reviewer's verdict on the diff since snapshot ``since``, combined with the evidence."""
        reviewer = reviewer or self.roster.get(self.config.reviewer_agent)
        if not checks_ok and not (always or self.config.review_failing):
            verdict = decide(Verdict(approve=False, reviewer="evidence"), False, failures)
        else:
            diff = self.ws.diff(since) or "(no changes)"
            user = render_template("orchestrator/review.j2", task=self.task, goal=step.goal,
                                   diff=diff[-6000:], evidence=tests.text(2000),
                                   answer_hint=act.answer_hint(reviewer, None, None))
            messages = [Message(role="system", content=render_system_prompt(reviewer)),
                        Message(role="user", content=user)]
            review_deadline = min(deadline, time.monotonic() + self.config.review_timeout_s)
            try:
                result = self.gate.chat(self.config.model_for(reviewer.name), messages,
                                        reviewer.output_schema, review_deadline)
                verdict = parse_verdict(result.message.content, reviewer.name)
            except StepTimeout as exc:
                if time.monotonic() >= deadline:  # the step's own time is up, not just the review's
                    raise
                # no verdict in --review-timeout: like an unreadable one, the evidence decides
                verdict = Verdict(approve=False, reviewer=reviewer.name, malformed=True,
                                  reasons=[f"no verdict: {exc.message}"])
            verdict = decide(verdict, checks_ok, failures, diff=diff if diff != "(no changes)" else None)
        self._emit("review", f"{verdict.reviewer}: {'approve' if verdict.approve else 'reject'}"
                   + (f" ({'; '.join(verdict.requests[:2])})" if verdict.requests and not verdict.approve else ""),
                   step=step.id, verdict=verdict.model_dump())
        return verdict

    # ------------------------------------------------------------------ planning
    def _plan(self, feedback: str, prefix: str = "") -> Plan:
        before = Tests.from_dict(self.state["tests_before"])
        files = self.brief.guess_sources(self.task, before)
        planner = self.roster.get(self.config.planner_agent)
        agents = [a for a in self.roster.agents if not self.config.agents or a.name in self.config.agents]
        names = [a.name for a in agents]
        messages = plan_messages(self.task, agents, self.brief.map_text(2000), before.failed, feedback)
        try:
            result = self.gate.chat(self.config.model_for(planner.name), messages, plan_schema(names),
                                    min(self.deadline, time.monotonic() + self.config.step_timeout_s))
            plan = parse_plan(result.message.content, self.task, names, files)
        except StepTimeout as exc:
            plan = default_plan(self.task, files, note=f"planner: {exc.message}")
        except (Cancelled, RunTimeout):
            raise
        except TanukiError as exc:
            plan = default_plan(self.task, files, note=f"planner failed: {exc.message}")
        for s in plan.steps:
            if prefix:
                s.id = prefix + s.id
                s.depends_on = [prefix + d for d in s.depends_on]
        self._emit("plan", f"plan ({plan.source}): " + " -> ".join(f"{s.id}:{s.kind}" for s in plan.steps),
                   plan=plan.model_dump())
        return plan

    def _set_plan(self, plan: Plan, keep: list[PlanStep]) -> None:
        kept_ids = {s.id for s in keep}
        plan.steps = keep + [s for s in plan.steps if s.id not in kept_ids]
        for s in plan.steps:
            if s.id in kept_ids:
                s.depends_on = [d for d in s.depends_on if d in kept_ids]
        self.state["plan"] = plan.model_dump()
        for s in plan.steps:
            if s.id not in self.state["records"]:
                self._put(StepRecord(id=s.id, kind=s.kind, agent=s.agent, goal=s.goal))
        self._save()

    def _plan_obj(self) -> Plan:
        return Plan.model_validate(self.state["plan"])

    def _pending(self) -> list[PlanStep]:
        out = []
        for s in self._plan_obj().steps:
            status = self._record(s.id)["status"]
            if status in ("pending", "running"):
                out.append(s)
        return out

    # ------------------------------------------------------------------ state, events, report
    def _records(self) -> dict[str, dict]:
        return self.state["records"]

    def _record(self, step_id: str) -> dict:
        return self.state["records"][step_id]

    def _put(self, rec: StepRecord) -> None:
        self.state["records"][rec.id] = rec.model_dump()
        self._save()

    def _save(self) -> None:
        self.journal.save(self.state)

    def _emit(self, kind: str, message: str, **data: Any) -> None:
        event = RunEvent(run_id=self.run_id, kind=kind, message=message, data=data)
        self.journal.append(event.model_dump())
        self.on_event(event)

    def _final_status(self) -> str:
        statuses = [self._record(s.id)["status"] for s in self._plan_obj().steps]
        if statuses and all(s == "accepted" for s in statuses):
            return "succeeded"
        if any(s == "accepted" for s in statuses) and self.ws.changed_files(BASELINE):
            return "partial"
        return "failed"

    def _report(self, status: str) -> RunReport:
        from .aggregate import build_report, settle_status

        after = None
        if status not in ("cancelled",) and self.state.get("tests_before") is not None:
            try:
                after = self.tools.tests().as_dict()
            except TanukiError:
                after = None
        status = settle_status(status, after)
        return build_report(self.state, self.ws, status, after, self.usage, time.monotonic() - self.t0,
                            baseline=BASELINE,
                            residency={**self.gate.residency.stats,
                                       "resources": self.gate.residency.monitor.snapshot().model_dump()})
