"""Grade candidate programs in the sandbox (``tanuki_ollama.sandbox.run_many``), one sandbox run per program.

HumanEval+ problems run the data-file grader ``data/bench/heplus_runner.py`` (expected outputs from the canonical
solution, per-input time limits, one result per test set: ``base`` and ``plus``); plain HumanEval problems run
their own ``check(candidate)`` (one set, ``base``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..sandbox import run_many
from ..sandbox.models import ExecutionResult, Limits, RunRequest
from .problems import ORACLES, Problem

RUNNER = Path(__file__).resolve().parents[1] / "data" / "bench" / "heplus_runner.py"
RESULT_PREFIX = "@@RESULT "


class GradeConfig(BaseModel):
    wall_s: float = 60.0        # one sandbox run (all the inputs of one task)
    memory_mb: int = 1024
    min_limit_s: float = 1.0    # per input: max(min_limit_s, limit_factor x the reference's time)
    limit_factor: float = 20.0
    workers: int = 2


class SetResult(BaseModel):
    passed: int = 0
    total: int = 0
    ok: bool = False
    failure: dict[str, Any] | None = None


class Grade(BaseModel):
    sets: dict[str, SetResult]
    timed_out: bool = False
    duration_s: float = 0.0
    stderr_tail: str = ""

    def passed(self, name: str) -> bool:
        """``plus`` means base and plus (the HumanEval+ score); ``base`` the base set alone."""
        names = ["base", "plus"] if name == "plus" else [name]
        return all(n in self.sets and self.sets[n].ok for n in names)


@lru_cache(maxsize=1)
def _runner_source() -> str:
    return RUNNER.read_text(encoding="utf-8")


def _plus_request(problem: Problem, program: str, cfg: GradeConfig) -> RunRequest:
    spec = {"task_id": problem.task_id, "entry_point": problem.entry_point, "atol": problem.atol,
            "oracle": ORACLES.get(problem.task_id), "sets": ["base", "plus"],
            "inputs": {"base": problem.base_input, "plus": problem.plus_input or []},
            "min_limit_s": cfg.min_limit_s, "limit_factor": cfg.limit_factor, "ref_limit_s": cfg.wall_s}
    files = {"main.py": _runner_source(), "problem.json": json.dumps(spec), "reference.py": problem.reference,
             "candidate.py": program}
    return RunRequest(language="python", files=files, limits=_limits(cfg))


def _base_request(problem: Problem, program: str, cfg: GradeConfig) -> RunRequest:
    code = f"{program}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"
    return RunRequest(language="python", files={"main.py": code}, limits=_limits(cfg))


def _limits(cfg: GradeConfig) -> Limits:
    return Limits(wall_s=cfg.wall_s, cpu_s=cfg.wall_s, memory_mb=cfg.memory_mb, output_bytes=4 * 1024 * 1024)


def parse_plus(res: ExecutionResult) -> Grade:
    sets: dict[str, SetResult] = {}
    for line in res.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            d = json.loads(line[len(RESULT_PREFIX):])
            sets[d["set"]] = SetResult(passed=d["passed"], total=d["total"], ok=d["passed"] == d["total"],
                                       failure=d["failure"])
    for name in ("base", "plus"):  # a set the run never reported failed (crash, timeout, memory)
        sets.setdefault(name, SetResult(failure={"error": res.limit_hit or f"exit {res.exit_code}"}))
    return Grade(sets=sets, timed_out=res.timed_out, duration_s=res.duration_s, stderr_tail=res.stderr[-500:])


def parse_base(res: ExecutionResult) -> Grade:
    ok = res.ok
    failure = None if ok else {"error": res.limit_hit or (res.stderr.strip().splitlines() or ["exit"])[-1][:300]}
    return Grade(sets={"base": SetResult(passed=int(ok), total=1, ok=ok, failure=failure)}, timed_out=res.timed_out,
                 duration_s=res.duration_s, stderr_tail=res.stderr[-500:])


def grade_programs(items: list[tuple[Problem, str]], cfg: GradeConfig | None = None) -> list[Grade]:
    """Grade ``(problem, full program)`` pairs; results keep the order."""
    cfg = cfg or GradeConfig()
    reqs = [(_plus_request if p.plus else _base_request)(p, prog, cfg) for p, prog in items]
    results = run_many(reqs, workers=cfg.workers)
    return [(parse_plus if p.plus else parse_base)(r) for (p, _), r in zip(items, results)]
