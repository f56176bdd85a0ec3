"""The response aggregator: the final diff, a summary, the evidence (tests before/after) and what was not done."""

from __future__ import annotations

from typing import Any

from .models import RunReport
from .workspace import Workspace


def _not_done(state: dict[str, Any], order: list[str], after: dict[str, Any] | None) -> list[str]:
    """The current plan's steps that were not accepted, and the tests that still fail."""
    out = []
    for rec in (state["records"][i] for i in order if i in state["records"]):
        if rec["status"] != "accepted":
            out.append(f"step {rec['id']} ({rec['goal'][:80]}): {rec['status']}"
                       + (f" - {rec['error'][:200]}" if rec.get("error") else ""))
    if after and after.get("failed"):
        out.append("tests still failing: " + ", ".join(after["failed"][:10]))
    return out


def settle_status(status: str, after: dict[str, Any] | None) -> str:
    """A run whose steps were all accepted is a success only if the repository's tests pass at the end (when it
    has any): steps are accepted on "no regression", so a weak plan can be carried out while the tests still fail
    (the micro team did so on two scenarios), and that is "partial", never "verified".

    >>> settle_status("succeeded", {"found": True, "ok": False}), settle_status("succeeded", {"found": False})
    ('partial', 'succeeded')
    >>> settle_status("succeeded", {"found": True, "ok": True}), settle_status("failed", {"found": True, "ok": False})
    ('succeeded', 'failed')
    """
    if status == "succeeded" and after and after.get("found") and not after.get("ok"):
        return "partial"
    return status


def build_report(state: dict[str, Any], ws: Workspace, status: str, after: dict[str, Any] | None,
                 usage: dict[str, Any], wall_s: float, *, baseline: str, residency: dict[str, Any]) -> RunReport:
    plan = state.get("plan") or {"steps": []}
    order = [s["id"] for s in plan["steps"]]
    steps = [state["records"][i] for i in order if i in state["records"]]
    steps += [r for i, r in state["records"].items() if i not in order]  # steps of abandoned plans
    try:
        diff, changed = ws.diff(baseline), ws.changed_files(baseline)
    except Exception:  # noqa: BLE001 - a run that failed before its first snapshot has no diff
        diff, changed = "", []
    before = state.get("tests_before") or {}
    accepted = sum(1 for s in steps if s["status"] == "accepted")
    verdict = {"succeeded": "The task was done and verified",
               "partial": "Part of the plan was done", "failed": "The task was not done",
               "timed_out": "The run timed out", "cancelled": "The run was cancelled (resume it with --resume)"}[status]
    if status == "partial" and steps and accepted == len(plan["steps"]):
        verdict = "The plan was carried out, but the tests still fail"  # never "verified" with failing tests
    summary = (f"{verdict}: {accepted}/{len(plan['steps'])} step(s) accepted, {len(changed)} file(s) changed"
               + (f" ({', '.join(changed[:5])})" if changed else "")
               + f"; tests before: {before.get('summary', 'not run')}"
               + f"; after: {(after or {}).get('summary', 'not run')}.")
    return RunReport(
        run_id=state["run_id"], status=status, summary=summary, diff=diff, plan=plan, steps=steps,
        evidence={"tests_before": before, "tests_after": after or {}, "changed_files": changed,
                  "replans": state.get("replans", 0), "residency": residency},
        not_done=_not_done(state, order, after), usage={**usage, "model_s": round(usage.get("model_s", 0.0), 3)},
        wall_s=round(wall_s, 3), workspace=state["workspace"], succeeded=status == "succeeded",
    )
