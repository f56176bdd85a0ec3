"""A slow scripted engine for the replica tests: it serves every roster agent and each chat takes ``delay_s``,
so a team run streams for a while (long enough to kill its replica in the middle)."""

from __future__ import annotations

import time

from tests.server.helpers import PacedEngine


class SlowEngine(PacedEngine):
    name = "slow"

    def __init__(self, delay_s: float = 0.3, **kw):
        from tanuki_ollama.agents.roster import load_roster

        super().__init__(models=("paced", *load_roster().names()), delay_s=delay_s, **kw)

    def chat(self, model, messages, **kw):
        time.sleep(self.delay_s)
        return super().chat(model, messages, **kw)
