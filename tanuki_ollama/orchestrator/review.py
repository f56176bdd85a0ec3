"""The adversarial review: the reviewer sees the diff and the sandbox evidence and returns a structured verdict.

Both reviewer shapes of the roster are read: ``tanuki-code-reviewer`` (``verdict: approve|request_changes``,
``findings``) and ``tanuki-reviewer`` (``verdict: accept|revise``, ``reasons``). The decision also needs the
evidence: a change whose checks fail is never accepted, and a rejection must carry concrete requests (a
rejection without any cannot be acted upon, so it counts as approval with a note). Unreadable reviewer output
falls back to the evidence alone.
"""

from __future__ import annotations

from typing import Any

from .models import Finding, Verdict
from .parse import as_str_list, parse_object

APPROVE = {"approve", "accept", "accepted", "approved", "lgtm", "yes", "ok"}


def _findings(raw: Any) -> list[Finding]:
    out = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            line = item.get("line")
            out.append(Finding(line=line if isinstance(line, int) and line > 0 else None,
                               severity=str(item.get("severity") or "minor"),
                               message=str(item.get("message") or "").strip()))
        elif str(item).strip():
            out.append(Finding(message=str(item).strip()))
    return [f for f in out if f.message][:10]


def parse_verdict(text: str, reviewer: str) -> Verdict:
    raw, _ = parse_object(text)
    answer = raw.get("answer") if isinstance(raw, dict) else None
    if not isinstance(answer, dict):
        answer = raw if isinstance(raw, dict) and "verdict" in raw else None
    if answer is None or not isinstance(answer.get("verdict"), str):
        return Verdict(approve=False, reviewer=reviewer, malformed=True,
                       reasons=["the reviewer's answer could not be read"])
    findings = _findings(answer.get("findings"))
    reasons = as_str_list(answer.get("reasons"), limit=10)
    approve = answer["verdict"].strip().lower() in APPROVE
    requests = [] if approve else [
        (f"line {f.line}: " if f.line else "") + f.message for f in findings if f.severity != "info"
    ] + reasons
    return Verdict(approve=approve, reasons=reasons, findings=findings, requests=requests, reviewer=reviewer)


def decide(verdict: Verdict, checks_ok: bool, failures: list[str]) -> Verdict:
    """The final verdict: evidence first, then the reviewer (whose rejection must be concrete)."""
    if not checks_ok:
        requests = failures + [r for r in verdict.requests if r not in failures]
        return verdict.model_copy(update={"approve": False, "requests": requests or ["the checks fail"]})
    if verdict.malformed:
        return verdict.model_copy(update={"approve": True, "reasons": verdict.reasons + ["decided on the evidence"]})
    if not verdict.approve and not verdict.requests:
        return verdict.model_copy(update={"approve": True,
                                          "reasons": verdict.reasons + ["rejection without concrete requests"]})
    return verdict
