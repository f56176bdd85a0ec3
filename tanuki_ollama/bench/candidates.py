"""``tanuki bench candidates``: the candidate search's throughput, candidates per minute with the model's parallel
slots and the validation pool at several sizes, measured side by side in one run on one repository (default: the
quickstart example).

Each setting runs one search round of ``--samples`` candidates over the localised regions with the same seeds,
without stopping at the first passing candidate, so every setting generates and validates the same amount of
work. Reported per setting: wall time, candidates per minute, the summed time of the model requests and of the
validations (both overlap when requests run in parallel), tokens, and how many candidates passed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import ConfigError
from ..types import Message
from .problems import REPO_ROOT
from .report import write_reports

EXAMPLE = REPO_ROOT / "examples" / "buggy-calculator"


class CandidatesConfig(BaseModel):
    repo: Path = EXAMPLE
    task: str = "make the failing test pass"
    model: str = "tanuki-micro-debugger"
    samples: int = Field(16, ge=1, le=256)
    settings: list[tuple[int, int]] = Field(default_factory=lambda: [(1, 1), (2, 2), (4, 2)])  # (parallel, workers)
    num_thread: int | None = 1
    num_ctx: int = 4096
    repeats: int = Field(1, ge=1, le=10)
    out_dir: Path = Path("bench-out/candidates")
    command: str = ""


def _runner_options(cfg: CandidatesConfig) -> dict[str, Any]:
    """The same runner options as a run's (a differing one makes Ollama reload the model)."""
    from ..orchestrator import RunConfig

    return RunConfig(num_ctx=cfg.num_ctx, num_thread=cfg.num_thread).runner_options()


class _Calls:
    """The search's model calls straight to the engine (no run around them), timed and counted."""

    def __init__(self, engine: Any, cfg: CandidatesConfig):
        self.engine, self.cfg = engine, cfg
        self.lock = threading.Lock()
        self.tokens = 0

    def _opts(self, opts: dict) -> dict:
        return {**_runner_options(self.cfg), **opts}

    def chat(self, model: str, messages: list[Message], schema: dict, opts: dict, abort: threading.Event) -> Any:
        from ..orchestrator.search import GenAnswer

        t0 = time.monotonic()
        result = self.engine.chat(model, messages, format=schema, options=self._opts(opts))
        with self.lock:
            self.tokens += result.usage.completion_tokens
        return GenAnswer(result.message.content, result.usage.completion_tokens, time.monotonic() - t0)

    def complete(self, model: str, prompt: str, opts: dict, abort: threading.Event) -> Any:
        from ..orchestrator.search import GenAnswer

        t0 = time.monotonic()
        result = self.engine.generate(model, prompt, raw=True, options=self._opts(opts))
        with self.lock:
            self.tokens += result.usage.completion_tokens
        return GenAnswer(result.message.content, result.usage.completion_tokens, time.monotonic() - t0)


def _one(cfg: CandidatesConfig, engine: Any, parallel: int, workers: int, seed: int) -> dict[str, Any]:
    from ..orchestrator.evidence import Tests
    from ..orchestrator.localise import localise
    from ..orchestrator.repair import regions_from
    from ..orchestrator.search import Search, SearchIO, SearchSettings, Writer
    from ..tools import ToolContext, default_registry

    registry = default_registry()
    root = Path(tempfile.mkdtemp(prefix="tanuki-bench-cand-")) / "repo"
    try:
        shutil.copytree(cfg.repo, root, ignore=shutil.ignore_patterns(".git", "__pycache__", ".tanuki"))
        ctx = ToolContext(workspace=root, timeout_s=120.0)
        before = Tests.from_observation(registry.call("run_tests", {}, ctx))
        if before.ok or not before.failed:
            raise ConfigError(f"{cfg.repo} has no failing test to search against",
                              hint="point --repo at a repository whose tests fail")
        t0 = time.monotonic()
        loc = localise(root, before, registry=registry, ctx=ctx, task=cfg.task)
        loc_s = time.monotonic() - t0
        regions = regions_from(loc, root)
        files = {r.path: (root / r.path).read_text(encoding="utf-8") for r in regions}
        calls = _Calls(engine, cfg)

        def run_tests(folder: Path, ids: list[str] | None, timeout_s: float) -> Any:
            folder_ctx = ToolContext(workspace=folder, timeout_s=timeout_s, sandbox=ctx.get_sandbox())
            return Tests.from_observation(registry.call("run_tests", {"args": list(ids)} if ids else {}, folder_ctx))

        io = SearchIO(chat=calls.chat, complete=calls.complete, run_tests=run_tests, review=None,
                      apply_to_workspace=lambda cand: None, check_limits=lambda: None,
                      emit=lambda *a, **k: None)
        writers = [Writer("tanuki-debugger", "debugger", cfg.model)]
        settings = SearchSettings(samples=cfg.samples, rounds=1, workers=workers, gen_parallel=parallel, seed=seed,
                                  num_predict=384, stop_at_first=False)
        gate = list(dict.fromkeys(before.failed + before.errors))
        result = Search(root, files, cfg.task, before, gate, regions, writers, io, settings).run()
        st = result.stats
        return {"parallel": parallel, "workers": workers, "seed": seed, "wall_s": st["wall_s"],
                "candidates": st["candidates"], "candidates_per_min": st["candidates_per_min"],
                "generation_s": st["generation_s"], "validation_s": st["validation_s"],
                "localisation_s": round(loc_s, 3), "validated": st["validated"], "unique": st["unique"],
                "passed": sum(c.status in ("passed", "accepted") for c in result.candidates),
                "tokens": calls.tokens}
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


def run_candidates(cfg: CandidatesConfig, *, engine: Any = None, log: Callable[[str], None] | None = None) -> dict:
    say = log or (lambda _m: None)
    engine.generate(cfg.model, "", options=_runner_options(cfg))  # load once, outside the timings
    rows = []
    for rep in range(cfg.repeats):  # settings alternate within each repeat: load drift hits all alike
        for parallel, workers in cfg.settings:
            row = _one(cfg, engine, parallel, workers, seed=rep)
            rows.append(row)
            say(f"parallel {parallel}, workers {workers}: {row['candidates']} candidates in {row['wall_s']:.1f}s "
                f"({row['candidates_per_min']:.1f}/min)")
    base = [r for r in rows if (r["parallel"], r["workers"]) == tuple(cfg.settings[0])]
    base_rate = sum(r["candidates_per_min"] for r in base) / max(1, len(base))
    per_setting = []
    for parallel, workers in dict.fromkeys(tuple(x) for x in cfg.settings):
        mine = [r for r in rows if (r["parallel"], r["workers"]) == (parallel, workers)]
        rate = sum(r["candidates_per_min"] for r in mine) / max(1, len(mine))
        per_setting.append({"parallel": parallel, "workers": workers, "candidates_per_min": round(rate, 2),
                            "speedup": round(rate / base_rate, 2) if base_rate else None,
                            "wall_s": round(sum(r["wall_s"] for r in mine) / len(mine), 2),
                            "generation_s": round(sum(r["generation_s"] for r in mine) / len(mine), 2),
                            "validation_s": round(sum(r["validation_s"] for r in mine) / len(mine), 2),
                            "localisation_s": round(sum(r["localisation_s"] for r in mine) / len(mine), 2)})
    summary = {"bench": "candidates", "label": f"{cfg.model}, {cfg.samples} candidates", "command": cfg.command,
               "config": cfg.model_dump(mode="json"), "load_average": list(os.getloadavg()),
               "metrics": {f"p{s['parallel']}w{s['workers']}/candidates_per_min": s["candidates_per_min"]
                           for s in per_setting},
               "settings": per_setting, "runs": rows,
               "per_item_md": [("| parallel slots | validation workers | candidates/min | speed-up | wall s | "
                               "generation s (summed) | validation s (summed) |"), "|---|---|---|---|---|---|---|"]
               + [f"| {s['parallel']} | {s['workers']} | {s['candidates_per_min']} | {s['speedup']} | {s['wall_s']} | "
                  f"{s['generation_s']} | {s['validation_s']} |" for s in per_setting]}
    summary["files"] = write_reports(summary, cfg.out_dir)
    return summary
