"""``tanuki bench humaneval [--plus]``: HumanEval / HumanEval+ pass@k through any engine, graded in the sandbox.

    tanuki bench humaneval --plus --model tanuki-micro --limit 20 --out bench-out/he-micro

Per-sample results go to ``<out>/samples.jsonl`` as they finish (a rerun resumes); the summary to
``<out>/summary.{json,md,png}``. ``--solutions canonical`` / ``empty`` grade the dataset's own solutions / empty
bodies (no engine): the harness must score 100% and 0%.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..agents.prompts import render_template
from .codegen import Completion, GenConfig, Generator, function_program
from .grading import GradeConfig, grade_programs
from .problems import HUMANEVALPLUS_VERSION, Problem, load_problems
from .report import write_reports
from .results import ResultLog, summarize_passes

Solutions = Literal["model", "canonical", "empty", "team"]
TEAM_TASK = ("Implement the function `{entry}` in solution.py: replace its body so that it does what its "
             "docstring says. Keep its name and signature.")


class HumanEvalConfig(BaseModel):
    plus: bool = False
    tasks: list[str] = Field(default_factory=list)
    limit: int | None = None
    solutions: Solutions = "model"
    gen: GenConfig | None = None
    team_family: str | None = None
    team_timeout_s: float = 600.0
    ks: list[int] = Field(default_factory=lambda: [1])
    grade: GradeConfig = Field(default_factory=GradeConfig)
    out_dir: Path = Path("bench-out/humaneval")
    fresh: bool = False
    command: str = ""

    @property
    def bench(self) -> str:
        return f"humaneval+ {HUMANEVALPLUS_VERSION}" if self.plus else "humaneval"

    @property
    def label(self) -> str:
        if self.solutions == "team":
            return f"team ({self.team_family or 'default models'})"
        if self.solutions != "model" or self.gen is None:
            return self.solutions
        who = f"{self.gen.agent} on {self.gen.model}" if self.gen.agent else self.gen.model
        return f"{who} ({self.gen.mode})"

    def fingerprint(self) -> dict[str, Any]:
        return {"bench": self.bench, "solutions": self.solutions, "gen": self.gen.model_dump() if self.gen else None,
                "team_family": self.team_family, "grade": self.grade.model_dump(exclude={"workers"})}


def _answer(problem: Problem, cfg: HumanEvalConfig, gen: Generator | None, sample: int,
            engine: Any) -> tuple[str, Completion, dict[str, Any]]:
    """The program to grade for one sample, the raw completion and extra fields for the record."""
    if cfg.solutions == "canonical":
        return problem.reference, Completion(text=problem.canonical_solution), {}
    if cfg.solutions == "empty":
        return problem.prompt, Completion(text=""), {}
    if cfg.solutions == "team":
        from .team import run_in_workspace, team_config

        files, rec = run_in_workspace(TEAM_TASK.format(entry=problem.entry_point), {"solution.py": problem.prompt},
                                      engine=engine,
                                      config=team_config(engine, cfg.team_family, cfg.team_timeout_s))
        comp = Completion(text=files.get("solution.py", ""), prompt_tokens=rec["prompt_tokens"],
                          completion_tokens=rec["completion_tokens"], wall_s=rec["wall_s"])
        return comp.text, comp, {"team": rec}
    assert gen is not None
    if gen.cfg.mode == "completion":
        comp = gen.complete(problem.prompt, sample)
    else:
        comp = gen.ask(render_template("bench/humaneval_chat.j2", prompt=problem.prompt.rstrip("\n")), sample)
    prog = function_program(problem.prompt, problem.preamble, problem.entry_point, comp.text, gen.cfg.mode)
    return prog, comp, {}


def run_humaneval(cfg: HumanEvalConfig, *, engine: Any = None,
                  log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Generate, grade and summarise; resumable. Returns the summary (also written under ``cfg.out_dir``)."""
    say = log or (lambda _m: None)
    problems = load_problems(cfg.plus, cfg.tasks or None, cfg.limit)
    samples = cfg.gen.samples if (cfg.solutions == "model" and cfg.gen) else 1
    store = ResultLog(cfg.out_dir, cfg.fingerprint(), fresh=cfg.fresh)
    done = store.load()
    gen = Generator(engine, cfg.gen) if cfg.solutions == "model" and cfg.gen else None
    todo = [(p, s) for p in problems for s in range(samples) if (p.task_id, s) not in done]
    say(f"{cfg.bench}: {len(problems)} tasks x {samples} samples, {len(done)} already done, {len(todo)} to run")
    t_start = time.monotonic()
    # a model answer is graded and saved as soon as it exists; engine-free self-checks fill the sandbox pool
    chunk = 1 if cfg.solutions in ("model", "team") else max(1, cfg.grade.workers * 2)
    for start in range(0, len(todo), chunk):
        batch = todo[start:start + chunk]
        answers = [_answer(p, cfg, gen, s, engine) for p, s in batch]
        grades = grade_programs([(p, prog) for (p, _), (prog, _, _) in zip(batch, answers)], cfg.grade)
        for (p, s), (prog, comp, extra), g in zip(batch, answers, grades):
            rec = {"task_id": p.task_id, "sample": s, "program": prog, "answer": comp.text,
                   "prompt_tokens": comp.prompt_tokens, "completion_tokens": comp.completion_tokens,
                   "gen_s": round(comp.wall_s, 3), "grade_s": round(g.duration_s, 3), "grade": g.model_dump(),
                   "passed": {name: g.passed(name) for name in (("base", "plus") if p.plus else ("base",))}, **extra}
            store.append(rec)
            done[(p.task_id, s)] = rec
        say(f"  {min(start + chunk, len(todo))}/{len(todo)} graded ({time.monotonic() - t_start:.0f}s)")
    return summarize(cfg, problems, done)


def summarize(cfg: HumanEvalConfig, problems: list[Problem], done: dict) -> dict[str, Any]:
    ids = {p.task_id for p in problems}
    records = [r for (tid, _), r in done.items() if tid in ids]
    sets = ["base", "plus"] if cfg.plus else ["base"]
    metrics, per_task = summarize_passes(records, sets, cfg.ks)
    flat = {f"{s}/{k}": v for s, m in metrics.items() for k, v in m.items()}
    gen_s = sum(r["gen_s"] for r in records)
    grade_s = sum(r["grade_s"] for r in records)
    summary = {
        "bench": cfg.bench, "label": cfg.label, "command": cfg.command, "config": cfg.model_dump(mode="json"),
        "metrics": flat, "wall_s": round(gen_s + grade_s, 1),
        "tokens": {"prompt": sum(r["prompt_tokens"] for r in records),
                   "completion": sum(r["completion_tokens"] for r in records)},
        "counts": {"tasks": len(per_task), "samples": len(records),
                   "generation s/sample": round(gen_s / max(1, len(records)), 2),
                   "grading s/sample": round(grade_s / max(1, len(records)), 2)},
        "per_task": per_task,
        "per_item_md": ["| task | samples | " + " | ".join(f"correct ({s})" for s in sets) + " |",
                        "|---|---|" + "---|" * len(sets)]
        + [f"| {t['task_id']} | {t['n']} | " + " | ".join(str(t[f'correct_{s}']) for s in sets) + " |"
           for t in per_task],
    }
    summary["files"] = write_reports(summary, cfg.out_dir)
    return summary
