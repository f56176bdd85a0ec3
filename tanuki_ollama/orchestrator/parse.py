"""Turning a small model's text into a JSON object: strict first, then repairs, never an exception.

A 135M model writes fenced blocks, prose around the object, trailing commas, single quotes, or stops in the
middle of a string. :func:`parse_object` repairs what can be repaired and says what it did.

>>> parse_object('Sure! ```json\\n{"a": 1,}\\n```')
({'a': 1}, ['extracted', 'trailing-comma'])
>>> parse_object('{"a": {"b": "x')
({'a': {'b': 'x'}}, ['closed-truncated'])
>>> parse_object('no json here')
(None, ['no-object'])
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _loads(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _close_truncated(text: str) -> str:
    """Close an object cut off mid-way: finish the open string, drop a dangling key, close brackets."""
    stack: list[str] = []
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    out = text + ('"' if in_str else "")
    out = re.sub(r',\s*"[^"]*"\s*:?\s*$', "", out)  # a dangling key without a value
    out = re.sub(r"[,:]\s*$", "", out)
    return out + "".join(reversed(stack))


def parse_object(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The JSON object in ``text`` and the list of repairs applied (empty when it was clean)."""
    value = _loads(text.strip())
    if value is not None:
        return value, []
    repairs: list[str] = []
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start = body.find("{")
    if start < 0:
        return None, ["no-object"]
    end = body.rfind("}")
    candidate = body[start:end + 1] if end > start else body[start:]
    repairs.append("extracted")
    value = _loads(candidate)
    if value is not None:
        return value, repairs if candidate != text.strip() else []
    fixed = _TRAILING_COMMA.sub(r"\1", candidate)
    if fixed != candidate:
        repairs.append("trailing-comma")
        value = _loads(fixed)
        if value is not None:
            return value, repairs
    closed = _close_truncated(body[start:])
    value = _loads(_TRAILING_COMMA.sub(r"\1", closed))
    if value is not None:
        return value, ["closed-truncated"]
    return None, repairs + ["unparseable"]


def as_str_list(value: Any, limit: int = 20) -> list[str]:
    """A list of non-empty strings from whatever the model put there (a string, a list, dicts...)."""
    if value is None:
        return []
    if isinstance(value, (str, int, float)):
        value = [value]
    if isinstance(value, dict):
        value = list(value.values())
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            item = item.get("message") or item.get("text") or json.dumps(item)
        text = str(item).strip()
        if text:
            out.append(text)
    return out[:limit]
