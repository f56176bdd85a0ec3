"""The agent router: the plan's choice when it fits the step, a sensible default otherwise.

An agent fits an ``edit`` step when it may write (``write_file`` or ``apply_patch``), a ``check`` step when it
may run tests or linters, and a ``review`` step when it is a reviewer. Keywords of the goal choose among the
specialists when the plan named none (a weak plan must still route sanely).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..agents.roster import AgentSpec, Roster
from .models import PlanStep

DEFAULTS = {"edit": "tanuki-coder", "check": "tanuki-tester", "review": "tanuki-code-reviewer"}
# goal keyword -> agent, for edit steps whose agent the plan left out
KEYWORDS = (
    (("fail", "bug", "fix", "crash", "error", "broken"), "tanuki-debugger"),
    (("test",), "tanuki-tester"),
    (("docstring", "document", "readme"), "tanuki-documenter"),
    (("refactor", "rename", "readab"), "tanuki-refactorer"),
    (("faster", "optimi", "speed"), "tanuki-optimizer"),
    (("dockerfile", "docker", "terraform", " ci "), "tanuki-devops"),
)
WRITES = {"write_file", "apply_patch"}
CHECKS = {"run_tests", "lint"}


def fits(agent: AgentSpec, kind: str) -> bool:
    if kind == "edit":
        return bool(WRITES & set(agent.tools))
    if kind == "check":
        return bool(CHECKS & set(agent.tools))
    return agent.role in ("code-reviewer", "reviewer")


def route(step: PlanStep, roster: Roster, available: Iterable[str] | None = None) -> AgentSpec:
    """The agent that runs ``step``, among ``available`` agents (default: the whole roster)."""
    names = set(roster.names()) & set(available or roster.names())
    if step.agent in names and fits(roster.get(step.agent), step.kind):
        return roster.get(step.agent)
    if step.kind == "edit":
        goal = f" {step.goal.lower()} "
        for words, name in KEYWORDS:
            if name in names and any(w in goal for w in words) and fits(roster.get(name), "edit"):
                return roster.get(name)
    default = DEFAULTS[step.kind]
    if default in names:
        return roster.get(default)
    for agent in roster.agents:  # a custom roster without our defaults
        if agent.name in names and fits(agent, step.kind):
            return agent
    return roster.agents[0]
