"""The context manager: each agent's briefing packet, fitted to the model's ``num_ctx``, with a checksum.

A packet is an ordered list of named sections (task, step, requests, evidence, files, repo map, history,
tools). Between turns of the same agent only the sections that changed travel (a :class:`PacketDelta`); the
receiving :class:`AgentSession` rebuilds the full packet and verifies its checksum, so a lost or stale update is
caught instead of silently briefing the model with the wrong context.

Token counts come from a fast estimate (characters per token) calibrated by one real count per model
(``engine.count_tokens``), not one engine call per chunk. Compression is extractive: code keeps imports,
signatures and the lines around what matters; logs keep error lines, the head and the tail.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from ..agents.prompts import render_template
from ..errors import TanukiError

# Sections in the order they are shown; SHRINK_ORDER is the order in which they give up room.
ORDER = ("task", "step", "requests", "evidence", "files", "repo_map", "history", "tools")
SHRINK_ORDER = ("history", "repo_map", "tools", "files", "evidence", "requests", "step")
CALIBRATION_TEXT = (
    "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    return a + b\n\n"
    "FAILED tests/test_calc.py::test_divide - ZeroDivisionError: division by zero\n"
    "Fix the failing test with the smallest change, then explain the change in one sentence.\n"
)
_SIGNATURE = re.compile(r"^\s*(def |class |async def |fn |func |function |public |private |import |from |#include|package )")
_LOG_SIGNAL = re.compile(r"(error|fail|assert|traceback|exception|panic|expected|line \d+|\.py:\d+)", re.IGNORECASE)


class PacketCorrupt(TanukiError):
    """A briefing packet (or a delta) does not match its checksum."""


def checksum(sections: Sequence[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps(list(map(list, sections)), ensure_ascii=False).encode()).hexdigest()[:16]


class Packet(BaseModel):
    agent: str
    step_id: str
    sections: list[tuple[str, str]]
    checksum: str
    tokens: int = 0
    dropped: list[str] = Field(default_factory=list)

    def verify(self) -> None:
        if checksum(self.sections) != self.checksum:
            raise PacketCorrupt(f"briefing packet for {self.agent}/{self.step_id} fails its checksum",
                                hint="rebuild the packet; never edit a packet after it was sealed")


class PacketDelta(BaseModel):
    """The sections that changed since the packet with checksum ``base``; ``checksum`` is of the result."""

    agent: str
    step_id: str
    base: str
    changed: list[tuple[str, str]]
    removed: list[str] = Field(default_factory=list)
    checksum: str


def diff_packets(old: Packet, new: Packet) -> PacketDelta:
    before = dict(old.sections)
    changed = [(k, v) for k, v in new.sections if before.get(k) != v]
    removed = [k for k in before if k not in dict(new.sections)]
    return PacketDelta(agent=new.agent, step_id=new.step_id, base=old.checksum, changed=changed, removed=removed,
                       checksum=new.checksum)


def apply_delta(old: Packet, delta: PacketDelta) -> Packet:
    if delta.base != old.checksum:
        raise PacketCorrupt(f"update for {delta.agent} is based on packet {delta.base}, the agent holds {old.checksum}",
                            hint="send the full packet")
    merged = dict(old.sections)
    for key in delta.removed:
        merged.pop(key, None)
    merged.update(dict(delta.changed))
    sections = [(k, merged[k]) for k in ORDER if k in merged] + [(k, v) for k, v in merged.items() if k not in ORDER]
    packet = Packet(agent=old.agent, step_id=old.step_id, sections=sections, checksum=delta.checksum)
    packet.verify()
    return packet


# ---------------------------------------------------------------------------------------------- tokens
class TokenEstimator:
    """``ceil(chars / chars_per_token)`` with one real count per model as calibration (plus a 10% margin).

    ``shared=True``: one calibration serves every model (the agents of a family share one backbone and its
    tokenizer), so a run pays for a single counting call.
    """

    def __init__(self, engine: Any = None, default_ratio: float = 3.5, *, shared: bool = False):
        self.engine = engine
        self.default_ratio = default_ratio
        self.shared = shared
        self.ratios: dict[str, float] = {}

    def ratio(self, model: str) -> float:
        if self.shared and self.ratios and model not in self.ratios:
            self.ratios[model] = next(iter(self.ratios.values()))
        if model not in self.ratios:
            ratio = self.default_ratio
            if self.engine is not None:
                try:
                    real = self.engine.count_tokens(model, CALIBRATION_TEXT)
                    ratio = len(CALIBRATION_TEXT) / real if real > 0 else ratio
                except TanukiError:
                    pass  # an engine that cannot count keeps the default ratio
            self.ratios[model] = max(1.0, ratio)
        return self.ratios[model]

    def count(self, model: str, text: str) -> int:
        return math.ceil(len(text) / self.ratio(model) * 1.1)


# ---------------------------------------------------------------------------------------------- compression
def _elide(lines: list[str], keep: set[int], max_chars: int, marker: str) -> str:
    """The lines whose 0-based index is in ``keep``; each run of dropped lines becomes one ``marker`` line."""
    out: list[str] = []
    skipped = 0
    for i, line in enumerate(lines):
        if i in keep:
            if skipped:
                out.append(marker.format(skipped))
                skipped = 0
            out.append(line)
        else:
            skipped += 1
    if skipped:
        out.append(marker.format(skipped))
    result = "\n".join(out)
    return result if len(result) <= max_chars else _cut(result, max_chars)


def compress_code(text: str, max_chars: int, keep: Iterable[int] = (), radius: int = 3) -> str:
    """Keep imports, signatures and ``radius`` lines around each 1-based line in ``keep``; elide the rest."""
    if len(text) <= max_chars:
        return text
    lines = text.splitlines()
    wanted = {i for i, line in enumerate(lines) if _SIGNATURE.match(line)}
    for n in keep:
        wanted |= set(range(max(0, n - 1 - radius), min(len(lines), n + radius)))
    return _elide(lines, wanted, max_chars, marker="    ... ({} lines)")


def compress_log(text: str, max_chars: int, head: int = 5, tail: int = 15) -> str:
    """Keep the head, the tail and every line that looks like an error; elide the rest."""
    if len(text) <= max_chars:
        return text
    lines = text.splitlines()
    keep = set(range(min(head, len(lines)))) | set(range(max(0, len(lines) - tail), len(lines)))
    keep |= {i for i, line in enumerate(lines) if _LOG_SIGNAL.search(line)}
    return _elide(lines, keep, max_chars, marker="... ({} lines)")


def _cut(text: str, max_chars: int) -> str:
    if max_chars <= 40:
        return text[:max(0, max_chars)]
    half = (max_chars - 20) // 2
    return f"{text[:half]}\n... (cut) ...\n{text[-half:]}"


# ---------------------------------------------------------------------------------------------- building
class ContextManager:
    """Builds and fits briefing packets; remembers the last packet per agent for differential updates."""

    def __init__(self, estimator: TokenEstimator, *, num_ctx: int = 4096, reserve: int = 768):
        self.estimator = estimator
        self.num_ctx = num_ctx
        self.reserve = reserve  # tokens left for the answer (num_predict) and the system prompt
        self.sent: dict[str, Packet] = {}

    def budget(self, model: str, system: str = "") -> int:
        return max(256, self.num_ctx - self.reserve - self.estimator.count(model, system))

    def build(self, *, agent: str, model: str, step_id: str, sections: dict[str, str], system: str = "",
              keep_lines: dict[str, Sequence[int]] | None = None) -> Packet:
        """Seal a packet of ``sections`` (keys from ``ORDER``) that fits the model's context."""
        present = [(k, sections[k]) for k in ORDER if sections.get(k)]
        fitted, dropped = self._fit(model, dict(present), self.budget(model, system), keep_lines or {})
        ordered = [(k, fitted[k]) for k in ORDER if fitted.get(k)]
        tokens = sum(self.estimator.count(model, v) for _, v in ordered)
        return Packet(agent=agent, step_id=step_id, sections=ordered, checksum=checksum(ordered), tokens=tokens,
                      dropped=dropped)

    def _fit(self, model: str, sections: dict[str, str], budget: int, keep_lines: dict[str, Sequence[int]]):
        dropped: list[str] = []
        count = self.estimator.count
        for name in SHRINK_ORDER:
            total = sum(count(model, v) for v in sections.values())
            if total <= budget:
                break
            if name not in sections:
                continue
            room_tokens = budget - (total - count(model, sections[name]))
            room = int(max(0, room_tokens) * self.estimator.ratio(model) / 1.1)
            if room < 80:
                sections.pop(name)
                dropped.append(name)
            elif name in ("files",):
                sections[name] = compress_code(sections[name], room, keep_lines.get(name, ()))
            elif name == "evidence":
                sections[name] = compress_log(sections[name], room)
            else:
                sections[name] = _cut(sections[name], room)
        return sections, dropped

    def send(self, packet: Packet) -> Packet | PacketDelta:
        """What travels to the agent: the whole packet the first time in a step, only the changes afterwards."""
        previous = self.sent.get(packet.agent)
        self.sent[packet.agent] = packet
        if previous is None or previous.step_id != packet.step_id:
            return packet
        return diff_packets(previous, packet)

    def forget(self, agent: str) -> None:
        self.sent.pop(agent, None)


class AgentSession:
    """The receiving side: holds the agent's current packet, verifies every packet and delta on receipt."""

    def __init__(self, agent: str):
        self.agent = agent
        self.held: Packet | None = None

    def receive(self, item: Packet | PacketDelta, answer_hint: str) -> str:
        """Verify ``item`` and return the user message it becomes; raises :class:`PacketCorrupt`."""
        if isinstance(item, Packet):
            item.verify()
            self.held = item
            return render_template("orchestrator/brief.j2", sections=item.sections, answer_hint=answer_hint)
        if self.held is None:
            raise PacketCorrupt(f"{self.agent} got an update without a packet", hint="send the full packet")
        self.held = apply_delta(self.held, item)
        return render_template("orchestrator/update.j2", sections=item.changed, answer_hint=answer_hint)
