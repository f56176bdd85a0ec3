"""The switch bench's arithmetic (`tanuki bench switch`), on an engine whose switch cost is known.

The real measurements run the real engines (`tanuki bench switch --json`); this only checks that the paired
definition recovers a known switch cost and ignores the load drift between pairs."""

from __future__ import annotations

import itertools
import time

from tanuki_ollama.bench.switch import _switch_series
from tanuki_ollama.types import ChatChunk, Usage


class _TimedEngine:
    """First token after ``base_s`` (+ ``switch_s`` when the agent changed); the base drifts upward per call, as a
    machine whose load rises does."""

    def __init__(self, base_s: float, switch_s: float, drift_s: float):
        self.base_s, self.switch_s, self.drift_s = base_s, switch_s, drift_s
        self.prev: str | None = None
        self.calls = itertools.count()

    def chat_stream(self, model, messages, options=None):
        delay = self.base_s + self.drift_s * next(self.calls) + (self.switch_s if model != self.prev else 0.0)
        self.prev = model
        time.sleep(delay)
        yield ChatChunk(model=model, content="x")
        yield ChatChunk(model=model, done=True, usage=Usage(load_duration_s=0.0))


def test_paired_switch_cost_is_recovered_despite_drift():
    eng = _TimedEngine(base_s=0.005, switch_s=0.060, drift_s=0.004)
    out = _switch_series(eng, ["a", "b"], reps=3, opts={})
    assert out["switches"] == 6
    # unpaired (after minus the median of all same-agent requests) would be off by the drift, up to +-24 ms here
    assert 45 <= out["switch_ms_median"] <= 90, out
    assert out["ttft_after_switch_ms_median"] > out["ttft_same_agent_ms_median"]


def test_no_switch_cost_reads_as_zero():
    eng = _TimedEngine(base_s=0.010, switch_s=0.0, drift_s=0.0)
    out = _switch_series(eng, ["a", "b"], reps=2, opts={})
    assert out["switch_ms_median"] <= 5, out
