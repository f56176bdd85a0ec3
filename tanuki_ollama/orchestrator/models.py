"""The orchestrator's data: run configuration, plans, verdicts, events and the final report (pydantic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

StepKind = Literal["edit", "check", "review"]
RunStatus = Literal["succeeded", "failed", "partial", "timed_out", "cancelled"]
EventKind = Literal["plan", "step_start", "agent", "tool", "review", "rollback", "replan", "step_end", "done", "error",
                    "localise", "checks", "search", "candidate"]


class RunConfig(BaseModel):
    """Bounds and choices of one run. ``models`` maps agent names to engine models (default: the agent name)."""

    models: dict[str, str] = Field(default_factory=dict)
    agents: list[str] = Field(default_factory=list)  # the agents a run may route to (empty: the whole roster)
    max_revisions: int = Field(2, ge=0, le=10)
    max_replans: int = Field(1, ge=0, le=5)
    max_tool_calls: int = Field(4, ge=0, le=20)
    step_timeout_s: float = Field(300.0, gt=0)
    review_timeout_s: float = Field(120.0, gt=0)
    run_timeout_s: float = Field(1800.0, gt=0)
    memory_budget_bytes: int | None = None
    journal_dir: Path | None = None
    resume: str | None = None
    num_ctx: int = Field(4096, ge=512)
    num_predict: int = Field(768, ge=16)
    num_thread: int | None = Field(None, ge=1)  # engine threads; None: the engine's default
    temperature: float | None = None
    tool_timeout_s: float = Field(120.0, gt=0)
    prefetch: bool = True
    in_place: bool = False  # work on the repository itself instead of a copy under the run's folder
    planner_agent: str = "tanuki-planner-critic"  # whose model writes the plan
    reviewer_agent: str = "tanuki-code-reviewer"  # reviews each edit (review steps name their own)
    review_failing: bool = False  # also ask the reviewer when the checks already fail (costs a model call)
    # the candidate search of edit steps (orchestrator/search.py): localise, sample small edits, validate by tests
    search: bool = True  # False: one whole-file answer per attempt (the pre-search behaviour)
    samples: int = Field(8, ge=1, le=64)  # candidates asked for per round
    rounds: int = Field(3, ge=1, le=10)  # rounds of sample -> validate -> feed back the best partial candidate
    workers: int = Field(2, ge=1, le=16)  # candidates validated at once (each in its own copy, in the sandbox)
    gen_parallel: int = Field(2, ge=1, le=16)  # model requests in flight at once (Ollama's parallel slots)
    coverage: bool = True  # spectrum-based localisation (Ochiai over per-test coverage) where tooling allows
    seed: int = 0  # the sampling seeds of a run derive from it (reproducible candidates)

    def runner_options(self) -> dict[str, Any]:
        """The options that decide an engine's runner: every load and request of a run carries the same ones
        (Ollama reloads a model whose ``num_ctx`` or ``num_thread`` differ)."""
        return {"num_ctx": self.num_ctx, **({"num_thread": self.num_thread} if self.num_thread else {})}

    def model_for(self, agent: str) -> str:
        return self.models.get(agent, agent)

    @classmethod
    def for_family(cls, prefix: str, agents: list[str] | None = None, **kwargs: Any) -> RunConfig:
        """Map every roster agent ``tanuki-<role>`` to ``<prefix>-<role>`` (e.g. ``tanuki-micro-coder``)."""
        from ..agents.roster import load_roster

        names = agents or load_roster().names()
        models = {name: f"{prefix}-{name.removeprefix('tanuki-')}" for name in names}
        return cls(models=models, **kwargs)


class PlanStep(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    kind: StepKind = "edit"
    agent: str = ""
    goal: str = ""
    inputs: list[str] = Field(default_factory=list)
    acceptance: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)


class Plan(BaseModel):
    model_config = ConfigDict(extra="ignore")

    steps: list[PlanStep]
    source: Literal["model", "repaired", "default"] = "model"
    notes: list[str] = Field(default_factory=list)


class Finding(BaseModel):
    line: int | None = None
    severity: str = "minor"
    message: str = ""


class Verdict(BaseModel):
    """A reviewer's structured verdict; ``requests`` are the concrete changes asked for."""

    approve: bool
    reasons: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    requests: list[str] = Field(default_factory=list)
    reviewer: str = ""
    malformed: bool = False


class RunEvent(BaseModel):
    run_id: str
    kind: EventKind
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class StepRecord(BaseModel):
    """What happened to one plan step (kept in the journal and the report)."""

    id: str
    kind: StepKind
    agent: str
    goal: str
    status: Literal["pending", "running", "accepted", "failed", "skipped"] = "pending"
    attempts: int = 0
    verdicts: list[dict[str, Any]] = Field(default_factory=list)
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    files_written: list[str] = Field(default_factory=list)
    error: str | None = None
    search: dict[str, Any] | None = None  # the candidate search: localisation, rounds, candidates, the gate
    model_s: float = 0.0  # waiting for models
    tool_s: float = 0.0  # running tools (tests, linters, the agent's own calls)
    git_s: float = 0.0  # snapshots, rollback and diffs (the git tool)
    wall_s: float = 0.0


class RunReport(BaseModel):
    run_id: str
    status: RunStatus
    summary: str
    diff: str
    plan: dict[str, Any]
    steps: list[dict[str, Any]]
    evidence: dict[str, Any]
    not_done: list[str]
    usage: dict[str, Any]
    wall_s: float
    workspace: str = ""
    succeeded: bool = False

    def to_markdown(self) -> str:
        lines = [f"# tanuki run {self.run_id}: {self.status}", "", self.summary, ""]
        lines.append("## Steps")
        for s in self.steps:
            lines.append(f"- `{s['id']}` {s['kind']} by {s['agent']}: **{s['status']}** "
                         f"({s['attempts']} attempt(s)) {s['goal']}")
        before, after = self.evidence.get("tests_before", {}), self.evidence.get("tests_after", {})
        lines += ["", "## Evidence", f"- tests before: {before.get('summary', 'not run')}",
                  f"- tests after: {after.get('summary', 'not run')}"]
        if self.not_done:
            lines += ["", "## Not done"] + [f"- {item}" for item in self.not_done]
        lines += ["", "## Diff", "```diff", self.diff.rstrip() or "(no changes)", "```"]
        tokens = f"{self.usage.get('prompt_tokens', 0)} prompt + {self.usage.get('completion_tokens', 0)} answer"
        lines += ["", f"workspace: `{self.workspace}`, wall {self.wall_s:.1f}s, tokens {tokens}"]
        return "\n".join(lines) + "\n"
