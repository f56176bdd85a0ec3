"""The adversarial review: the reviewer sees the diff and the sandbox evidence and returns a structured verdict.

Both reviewer shapes of the roster are read: ``tanuki-code-reviewer`` (``verdict: approve|request_changes``,
``findings``) and ``tanuki-reviewer`` (``verdict: accept|revise``, ``reasons``). The decision also needs the
evidence: a change whose checks fail is never accepted, and a rejection must carry concrete requests (a
rejection without any cannot be acted upon, so it counts as approval with a note). Unreadable reviewer output
falls back to the evidence alone.
"""

from __future__ import annotations

import re
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


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
# words that name nothing in particular: English filler, keywords, and what every review talks about
_COMMON = set("""the and for with that this from not are was were has have had but you your its can should would
could will into than then there their them they what when which while also only some more most very such each
any all one two out use used using make made does did done code test tests line lines file files function
functions method answer object value values return returns def class self none true false null var let const
new public private static void int string str list dict set import pass error errors fail fails failed failure
change changes changed diff review reviewer please need needs must add added remove removed fix fixed bug
contains correct incorrect wrong right check checks passed output input""".split())  # noqa: SIM905


def changed_lines(diff: str) -> list[int]:
    """New-side line numbers of the lines a unified diff adds or changes (and of the hunks that only delete)."""
    out, line = [], 0
    for row in diff.splitlines():
        head = re.match(r"^@@ -\d+(?:,\d+)? \+(\d+)", row)
        if head:
            line = int(head.group(1))
            continue
        if row.startswith(("+++", "---")):
            continue
        if row.startswith("+"):
            out.append(line)
            line += 1
        elif row.startswith("-"):
            out.append(line)
        else:
            line += 1
    return out


def grounded(text: str, line: int | None, diff: str, near: int = 1) -> bool:
    """Does a reviewer's request point at the change: a changed line (within ``near``), or a name it touches?"""
    if line is not None and any(abs(line - n) <= near for n in changed_lines(diff)):
        return True
    body = "\n".join(r for r in diff.splitlines() if not r.startswith(("diff ", "index ", "+++", "---", "@@")))
    names = {w for w in _WORD.findall(body) if w.lower() not in _COMMON}
    return any(w in names for w in _WORD.findall(text) if w.lower() not in _COMMON)


def decide(verdict: Verdict, checks_ok: bool, failures: list[str], diff: str | None = None) -> Verdict:
    """The final verdict: evidence first, then the reviewer, whose rejection must be concrete and, when the
    checks pass and the diff is known, grounded in the change (a changed line or a name it touches): a small
    model's rejection that names nothing of the change cannot be acted upon."""
    if not checks_ok:
        requests = failures + [r for r in verdict.requests if r not in failures]
        return verdict.model_copy(update={"approve": False, "requests": requests or ["the checks fail"]})
    if verdict.malformed:
        return verdict.model_copy(update={"approve": True, "reasons": verdict.reasons + ["decided on the evidence"]})
    if not verdict.approve and not verdict.requests:
        return verdict.model_copy(update={"approve": True,
                                          "reasons": verdict.reasons + ["rejection without concrete requests"]})
    if not verdict.approve and diff is not None:
        kept = [f for f in verdict.findings if f.severity != "info" and grounded(f.message, f.line, diff)]
        reasons = [r for r in verdict.reasons if grounded(r, None, diff)]
        if not kept and not reasons:
            return verdict.model_copy(update={"approve": True, "reasons": verdict.reasons + [
                "rejection not grounded in the change (it names no changed line and no name the diff touches)"]})
    return verdict
