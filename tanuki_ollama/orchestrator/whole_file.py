"""The whole-file edit path: the routed agent gets a briefing packet (deltas on later turns, a fresh packet
when the conversation no longer fits), answers with tool calls and whole files (``act.py``), and the change
is checked by the evidence and the reviewer; rejected answers are revised, at most ``max_revisions`` times.

An edit step takes this path when the run has no candidate search (``RunConfig.search``) or the search has
nothing to check candidates against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..agents.prompts import render_system_prompt
from ..agents.roster import AgentSpec
from ..types import Message
from . import act
from .briefing import Briefing
from .calls import ModelGate, ToolCalls
from .context import AgentSession, ContextManager, PacketCorrupt, TokenEstimator
from .models import PlanStep, RunConfig, StepRecord, Verdict
from .parse import parse_object


class WholeFile:
    """Whole-file answers for edit steps; ``review`` is the loop's (the reviewer's verdict, the evidence)."""

    def __init__(self, engine: Any, config: RunConfig, gate: ModelGate, tools: ToolCalls, brief: Briefing,
                 emit: Callable[..., None], review: Callable[..., Verdict]):
        self.config, self.gate, self.tools, self.brief = config, gate, tools, brief
        self.emit, self.review = emit, review
        self.estimator = TokenEstimator(engine, shared=True)  # the agents of a family share one tokenizer
        self.cm = ContextManager(self.estimator, num_ctx=config.num_ctx, reserve=config.num_predict + 64)

    def edit(self, step: PlanStep, agent: AgentSpec, rec: StepRecord, deadline: float) -> bool:
        model = self.config.model_for(agent.name)
        source, test = self.brief.targets(step)
        system = render_system_prompt(agent)
        hint = act.answer_hint(agent, source, test)
        session = AgentSession(agent.name)
        self.cm.forget(agent.name)
        base = [Message(role="system", content=system)]
        for shot in agent.few_shot:  # the roster's examples, as a real exchange
            base += [Message(role="user", content=shot.user), Message(role="assistant", content=shot.assistant)]
        turns: list[Message] = []
        requests: list[str] = []
        tests = self.brief.tests_before()
        for attempt in range(1 + self.config.max_revisions):
            rec.attempts += 1
            packet = self.cm.build(agent=agent.name, model=model, step_id=step.id, system=system,
                                   sections=self.brief.sections(step, agent, source, test, requests, tests),
                                   keep_lines={"files": tests.lines_in(source)})
            history = sum(self.estimator.count(model, m.content) for m in turns)
            if history + packet.tokens > self.cm.budget(model, system):
                self.cm.forget(agent.name)  # the conversation no longer fits: start again from a full packet
                turns = []
            try:
                user = session.receive(self.cm.send(packet), hint)
            except PacketCorrupt:
                self.cm.forget(agent.name)
                turns, user = [], session.receive(self.cm.send(packet), hint)
            result = self.gate.chat(model, base + turns + [Message(role="user", content=user)],
                                    agent.output_schema, deadline)
            turns += [Message(role="user", content=user), result.message]
            parsed, repairs = parse_object(result.message.content)
            self.emit("agent", f"{agent.name} answered ({len(result.message.content)} chars"
                      + (f", repaired: {', '.join(repairs)}" if repairs else "") + ")",
                      step=step.id, attempt=attempt, repairs=repairs)
            if parsed is None:
                requests = ["your reply was not one JSON object: reply with exactly one JSON object. " + hint]
                rec.verdicts.append({"approve": False, "requests": requests, "malformed": True})
                continue
            problems = self.act(parsed, agent, rec, source, test)
            tests = self.tools.tests()
            checks_ok = not problems and self.tools.acceptance_ok(step, tests)
            verdict = self.review(step, f"step-{step.id}", tests, checks_ok, problems + tests.requests(),
                                  deadline)
            rec.verdicts.append(verdict.model_dump())
            if verdict.approve:
                return True
            requests = verdict.requests
        rec.error = "; ".join(requests[:3]) or "rejected"
        return False

    def act(self, parsed: dict, agent: AgentSpec, rec: StepRecord, source: str | None,
            test: str | None) -> list[str]:
        """Run the tool calls of the reply's ReAct steps, then its whole-file writes; returns the problems."""
        ctx = self.tools.ctx
        for name, args in act.tool_calls(parsed, agent, self.config.max_tool_calls):
            obs = self.tools.call(name, args, ctx, allowed=agent.tools)
            rec.tool_calls.append({"tool": name, "args": args, "ok": obs.ok, "summary": obs.summary})
            self.emit("tool", f"{name}: {obs.summary}", ok=obs.ok)
        problems = []
        writes = act.writes(act.answer_of(parsed), source, test)
        if not writes:
            problems.append("the answer held no file content to write")
        for write in writes:
            error = act.syntax_error(write.path, write.content)
            if error:
                problems.append(error)
                continue
            obs = self.tools.call("write_file", {"path": write.path, "content": write.content}, ctx,
                                  allowed=agent.tools)
            rec.tool_calls.append({"tool": "write_file", "args": {"path": write.path}, "ok": obs.ok,
                                   "summary": obs.summary})
            self.emit("tool", f"write_file: {obs.summary}", ok=obs.ok)
            if obs.ok:
                rec.files_written = sorted(set(rec.files_written) | {write.path})
                self.brief.refresh_map([write.path])
            else:
                problems.append(f"write {write.path} refused: {obs.error or obs.summary}")
        return problems
