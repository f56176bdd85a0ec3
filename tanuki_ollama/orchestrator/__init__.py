"""The orchestrator: ``run_task(task, repo, engine=...)`` turns a task into a verified change.

plan (foresight planner) -> route -> brief (context manager) -> resident (residency manager) -> act (tools)
-> evidence (sandbox) -> review (bounded revisions) -> accept, or roll back and re-plan -> aggregate.
"""

from .loop import Cancelled, RunTimeout, StepTimeout, run_task
from .models import Plan, PlanStep, RunConfig, RunEvent, RunReport, Verdict

__all__ = ["Cancelled", "Plan", "PlanStep", "RunConfig", "RunEvent", "RunReport", "RunTimeout", "StepTimeout",
           "Verdict", "run_task"]
