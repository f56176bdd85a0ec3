"""``tanuki bench bugfix``: a Defects4J-style set made here by injecting single-point bugs (mutation operators of
``factory.data.mutate``) into reference solutions, each verified in the sandbox to fail at least one test, and
graded by the original tests.

- Python: HumanEval+ canonical solutions (AST mutants, extended operators), graded by the HumanEval+ grader.
- Java: the reference programs in ``bench/bugfix/java/<name>/`` (``Solution.java`` + a plain-``main`` test
  ``Main.java``), text mutants of ``Solution.java``; a mutant must compile and fail.

The set is reproducible from ``(seed, GENERATOR_VERSION)`` and is saved with both in ``<out>/bugs.jsonl``.

``solutions="team"`` fixes each bug through ``tanuki run`` (``bench.team``) in a workspace holding the buggy code
and its tests (Python: ``solution.py`` + ``test_solution.py`` from the problem's base tests; Java:
``Solution.java`` + ``Main.java``), under each named run configuration (``single``, ``team``) interleaved bug by
bug; the comparison reports per language the fixed counts, the ratio and an exact sign test over the pairs.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..agents.prompts import render_template
from ..errors import ConfigError
from ..factory.data.mutate import TEXT_OPS_EXTENDED, normalise, python_mutants, text_mutants
from ..sandbox import run_many
from ..sandbox.models import Limits, RunRequest
from .codegen import Completion, GenConfig, Generator, extract_code
from .grading import GradeConfig, grade_programs
from .problems import REPO_ROOT, Problem, load_problems
from .report import write_reports
from .results import ResultLog, summarize_passes
from .team import TeamSettings

GENERATOR_VERSION = "1"
JAVA_DIR = REPO_ROOT / "bench" / "bugfix" / "java"
JAVA_LIMITS = Limits(wall_s=20.0, cpu_s=20.0, memory_mb=1024)
Language = Literal["python", "java"]


class Bug(BaseModel):
    bug_id: str
    language: Language
    source: str                   # HumanEval task id or Java program name
    kind: str
    description: str
    line: int
    buggy: str                    # the buggy code (Python module / Solution.java)
    fixed: str                    # the reference it came from
    failing: str = ""             # evidence: the first failure seen when the bug was verified


class BugSetConfig(BaseModel):
    seed: int = 0
    languages: list[Language] = Field(default_factory=lambda: ["python", "java"])
    python_tasks: list[str] = Field(default_factory=list)   # empty: every HumanEval+ task
    python_limit: int | None = None
    java_programs: list[str] = Field(default_factory=list)  # empty: every program under bench/bugfix/java
    per_source: int = 1           # bugs kept per reference solution
    candidates: int = 4           # mutants tried per reference solution


# ---------------------------------------------------------------------------------------------- the bug set
def java_programs(names: list[str] | None = None) -> dict[str, dict[str, str]]:
    """``{name: {"Solution.java": ..., "Main.java": ...}}`` from ``bench/bugfix/java``."""
    if not JAVA_DIR.is_dir():
        raise ConfigError(f"the Java reference programs are missing ({JAVA_DIR})", hint="run from a full checkout")
    found = {d.name: {f.name: f.read_text(encoding="utf-8") for f in d.glob("*.java")}
             for d in sorted(JAVA_DIR.iterdir()) if (d / "Solution.java").is_file()}
    if names:
        missing = sorted(set(names) - set(found))
        if missing:
            raise ConfigError(f"unknown Java programs: {', '.join(missing)}", hint=f"known: {', '.join(found)}")
        found = {n: found[n] for n in names}
    return found


def java_requests(program: dict[str, str], solution: str) -> RunRequest:
    return RunRequest(language="java", files={**program, "Solution.java": solution}, limits=JAVA_LIMITS)


def java_passed(res: Any) -> bool:
    return res.ok


def python_candidates(cfg: BugSetConfig) -> list[tuple[Problem, str, Any]]:
    """``(problem, normalised reference, mutant)``: deterministic in ``(seed, GENERATOR_VERSION)``."""
    cands: list[tuple[Problem, str, Any]] = []
    for p in load_problems(True, cfg.python_tasks or None, cfg.python_limit):
        rng = random.Random(f"{cfg.seed}:{GENERATOR_VERSION}:{p.task_id}")
        ref = normalise(p.reference)
        cands += [(p, ref, m) for m in python_mutants(ref, rng, limit=cfg.candidates, extra=True)]
    return cands


def java_candidates(cfg: BugSetConfig) -> list[tuple[str, str, Any]]:
    """``(program, reference Solution.java, mutant)``: deterministic in ``(seed, GENERATOR_VERSION)``."""
    cands = []
    for name, files in java_programs(cfg.java_programs or None).items():
        rng = random.Random(f"{cfg.seed}:{GENERATOR_VERSION}:{name}")
        ref = files["Solution.java"]
        cands += [(name, ref, m) for m in text_mutants(ref, rng, limit=cfg.candidates, ops=TEXT_OPS_EXTENDED)]
    return cands


def _python_bugs(cfg: BugSetConfig, grade: GradeConfig) -> list[Bug]:
    cands = python_candidates(cfg)
    grades = grade_programs([(p, m.code) for p, _, m in cands], grade)
    bugs: list[Bug] = []
    kept: dict[str, int] = {}
    for (p, ref, m), g in zip(cands, grades):
        if g.passed("plus") or kept.get(p.task_id, 0) >= cfg.per_source:
            continue
        kept[p.task_id] = kept.get(p.task_id, 0) + 1
        fail = next((s.failure for s in g.sets.values() if not s.ok and s.failure), {}) or {}
        bugs.append(Bug(bug_id=f"py/{p.task_id}/{kept[p.task_id]}", language="python", source=p.task_id,
                        kind=m.kind, description=m.description, line=m.line, buggy=m.code, fixed=ref,
                        failing=str(fail.get("error", ""))[:200]))
    return bugs


def _java_bugs(cfg: BugSetConfig, workers: int) -> list[Bug]:
    progs = java_programs(cfg.java_programs or None)
    cands = java_candidates(cfg)
    results = run_many([java_requests(progs[n], m.code) for n, _, m in cands], workers=workers)
    bugs: list[Bug] = []
    kept: dict[str, int] = {}
    for (name, ref, m), res in zip(cands, results):
        if res.compile_failed or java_passed(res) or kept.get(name, 0) >= cfg.per_source:
            continue
        kept[name] = kept.get(name, 0) + 1
        evidence = (res.stdout.strip().splitlines() or [res.limit_hit or f"exit {res.exit_code}"])[0]
        bugs.append(Bug(bug_id=f"java/{name}/{kept[name]}", language="java", source=name, kind=m.kind,
                        description=m.description, line=m.line, buggy=m.code, fixed=ref, failing=evidence[:200]))
    return bugs


def build_bug_set(cfg: BugSetConfig, out: Path, grade: GradeConfig | None = None) -> list[Bug]:
    """Make (or reload) the verified bug set; ``out`` gets ``bugs.jsonl`` with a header naming seed and version."""
    grade = grade or GradeConfig()
    header = {"generator_version": GENERATOR_VERSION, **cfg.model_dump()}
    if out.is_file():
        lines = out.read_text(encoding="utf-8").splitlines()
        if lines and json.loads(lines[0]) == header:
            return [Bug(**json.loads(line)) for line in lines[1:]]
    bugs = (_python_bugs(cfg, grade) if "python" in cfg.languages else []) + (
        _java_bugs(cfg, grade.workers) if "java" in cfg.languages else [])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join([json.dumps(header)] + [b.model_dump_json() for b in bugs]) + "\n", encoding="utf-8")
    return bugs


# ------------------------------------------------------------------------------------------------ fixing
class BugfixConfig(BaseModel):
    bugs: BugSetConfig = Field(default_factory=BugSetConfig)
    solutions: Literal["model", "reference", "buggy", "team"] = "model"
    gen: GenConfig | None = None
    team: TeamSettings = Field(default_factory=TeamSettings)
    hint: bool = False            # tell the model what kind of bug it is (easier variant)
    grade: GradeConfig = Field(default_factory=GradeConfig)
    out_dir: Path = Path("bench-out/bugfix")
    fresh: bool = False
    command: str = ""

    @property
    def label(self) -> str:
        if self.solutions == "team":
            return f"{' vs '.join(self.team.configs)} ({self.team.family})"
        if self.solutions != "model" or self.gen is None:
            return self.solutions
        return f"{self.gen.agent} on {self.gen.model}" if self.gen.agent else self.gen.model

    def fingerprint(self) -> dict[str, Any]:
        out = {"bugs": self.bugs.model_dump(), "generator_version": GENERATOR_VERSION, "solutions": self.solutions,
               "gen": self.gen.model_dump() if self.gen else None, "hint": self.hint}
        if self.solutions == "team":
            out["team"] = self.team.fingerprint()
        return out


def _fix_prompt(bug: Bug, hint: bool) -> str:
    lang, fence = ("Python", "python") if bug.language == "python" else ("Java", "java")
    return render_template("bench/bugfix.j2", language=lang, fence=fence, code=bug.buggy.rstrip("\n"),
                           hint=bug.description if hint else "")


def _fixed_program(bug: Bug, answer: str) -> str:
    if bug.language == "java":
        code = extract_code(answer, prefer="class Solution")
        return code if "class Solution" in code else bug.buggy
    code = extract_code(answer, prefer="def ")
    names = re.findall(r"^def (\w+)\(", code, re.MULTILINE)
    if not names:
        return bug.buggy
    # keep the module's other definitions; the answer replaces the functions it defines
    return f"{bug.buggy}\n\n# --- the model's fix\n{code}\n"


def _answer(bug: Bug, cfg: BugfixConfig, gen: Generator | None, sample: int) -> tuple[str, Completion]:
    if cfg.solutions == "reference":
        return bug.fixed, Completion(text="")
    if cfg.solutions == "buggy":
        return bug.buggy, Completion(text="")
    assert gen is not None
    comp = gen.ask(_fix_prompt(bug, cfg.hint), sample)
    return _fixed_program(bug, comp.text), comp


def _grade(bugs: list[Bug], programs: list[str], grade: GradeConfig) -> list[tuple[bool, dict[str, Any]]]:
    out: list[tuple[bool, dict[str, Any]] | None] = [None] * len(bugs)
    py = [(i, b) for i, b in enumerate(bugs) if b.language == "python"]
    if py:
        problems = {p.task_id: p for p in load_problems(True, sorted({b.source for _, b in py}))}
        grades = grade_programs([(problems[b.source], programs[i]) for i, b in py], grade)
        for (i, _), g in zip(py, grades):
            out[i] = (g.passed("plus"), {"sets": {k: v.model_dump() for k, v in g.sets.items()},
                                         "duration_s": g.duration_s})
    jv = [(i, b) for i, b in enumerate(bugs) if b.language == "java"]
    if jv:
        progs = java_programs(sorted({b.source for _, b in jv}))
        results = run_many([java_requests(progs[b.source], programs[i]) for i, b in jv], workers=grade.workers)
        for (i, _), r in zip(jv, results):
            out[i] = (java_passed(r), {"stdout": r.stdout[-300:], "compile_failed": r.compile_failed,
                                       "duration_s": r.duration_s})
    return out  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------ through the team
BUGFIX_TASK = "Make the failing test pass: fix the bug in {source} ({test} is the test; do not change it)."


def python_test_file(problem: Problem) -> str:
    """``test_solution.py`` of a Python bug: the problem's base tests (its ``check(candidate)``) as one pytest
    test of the entry point, imported from ``solution``."""
    entry = problem.entry_point
    return (f"from solution import *  # noqa: F401,F403\nfrom solution import {entry}\n\n"
            f"{problem.test.strip()}\n\n\ndef test_solution():\n    check({entry})\n")


@lru_cache(maxsize=1)
def _plus_problems() -> dict[str, Problem]:
    return {p.task_id: p for p in load_problems(True)}


def bug_workspace(bug: Bug, problem: Problem | None = None) -> tuple[str, dict[str, str], str]:
    """``(task, files, the file graded afterwards)`` of the workspace a bug is fixed in: the task text is the
    same for every bug (no hint of the kind of bug)."""
    if bug.language == "java":
        main = java_programs([bug.source])[bug.source]["Main.java"]
        files = {"Solution.java": bug.buggy, "Main.java": main}
        return BUGFIX_TASK.format(source="Solution.java", test="Main.java"), files, "Solution.java"
    problem = problem or _plus_problems()[bug.source]
    files = {"solution.py": bug.buggy, "test_solution.py": python_test_file(problem)}
    return BUGFIX_TASK.format(source="solution.py", test="test_solution.py"), files, "solution.py"


def _team_fix(bug: Bug, config: Any, engine: Any) -> tuple[str, dict[str, Any]]:
    """The program to grade after ``tanuki run`` on the bug's workspace, and the run's record."""
    from .team import run_in_workspace

    task, files, graded = bug_workspace(bug)
    out, rec = run_in_workspace(task, files, engine=engine, config=config)
    return out.get(graded, bug.buggy), rec


def run_team(cfg: BugfixConfig, bugs: list[Bug], store: ResultLog, done: dict, engine: Any,
             say: Callable[[str], None]) -> None:
    """Each bug under each configuration of ``cfg.team.configs`` (interleaved bug by bug), graded and saved as
    soon as it is done; a record's ``sample`` is its configuration's index in ``team.CONFIGS``."""
    from .team import CONFIGS, run_configs

    configs = run_configs(engine, cfg.team.family, cfg.team.run_timeout_s, cfg.team.configs,
                          samples=cfg.team.samples, rounds=cfg.team.rounds, **cfg.team.overrides)
    todo = [(b, name) for b in bugs for name in cfg.team.configs if (b.bug_id, CONFIGS.index(name)) not in done]
    say(f"team: {len(bugs)} bugs x {', '.join(cfg.team.configs)}, {len(todo)} runs to do")
    for n, (b, name) in enumerate(todo, start=1):
        program, run = _team_fix(b, configs[name], engine)
        (ok, detail), = _grade([b], [program], cfg.grade)
        rec = {"task_id": b.bug_id, "sample": CONFIGS.index(name), "config": name, "language": b.language,
               "kind": b.kind, "program": program, "answer": "", "prompt_tokens": run["prompt_tokens"],
               "completion_tokens": run["completion_tokens"], "gen_s": round(run["wall_s"], 3),
               "grade_s": round(detail.get("duration_s", 0.0), 3), "detail": detail,
               "passed": {"all": ok, b.language: ok}, "run": run}
        store.append(rec)
        done[(b.bug_id, rec["sample"])] = rec
        say(f"  {n}/{len(todo)} {b.bug_id} [{name}]: {'fixed' if ok else 'not fixed'} ({run['status']}, "
            f"{run['wall_s']:.0f}s)")


def run_bugfix(cfg: BugfixConfig, *, engine: Any = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = log or (lambda _m: None)
    t0 = time.monotonic()
    bugs = build_bug_set(cfg.bugs, cfg.out_dir / "bugs.jsonl", cfg.grade)
    say(f"bug set: {len(bugs)} verified bugs (seed {cfg.bugs.seed}, generator v{GENERATOR_VERSION}, "
        f"{time.monotonic() - t0:.0f}s)")
    store = ResultLog(cfg.out_dir, cfg.fingerprint(), fresh=cfg.fresh)
    done = store.load()
    if cfg.solutions == "team":
        run_team(cfg, bugs, store, done, engine, say)
        return summarize_team(cfg, bugs, done)
    gen = Generator(engine, cfg.gen) if cfg.solutions == "model" and cfg.gen else None
    samples = cfg.gen.samples if gen else 1
    todo = [(b, s) for b in bugs for s in range(samples) if (b.bug_id, s) not in done]
    chunk = 1 if gen is not None else max(1, cfg.grade.workers * 2)  # model answers are saved one by one
    for start in range(0, len(todo), chunk):
        batch = todo[start:start + chunk]
        answers = [_answer(b, cfg, gen, s) for b, s in batch]
        graded = _grade([b for b, _ in batch], [prog for prog, _ in answers], cfg.grade)
        for (b, s), (prog, comp), (ok, detail) in zip(batch, answers, graded):
            rec = {"task_id": b.bug_id, "sample": s, "language": b.language, "kind": b.kind, "program": prog,
                   "answer": comp.text, "prompt_tokens": comp.prompt_tokens,
                   "completion_tokens": comp.completion_tokens, "gen_s": round(comp.wall_s, 3),
                   "grade_s": round(detail.get("duration_s", 0.0), 3), "detail": detail,
                   "passed": {"all": ok, b.language: ok}}
            store.append(rec)
            done[(b.bug_id, s)] = rec
        say(f"  {min(start + chunk, len(todo))}/{len(todo)} graded")
    return summarize(cfg, bugs, done)


def summarize(cfg: BugfixConfig, bugs: list[Bug], done: dict) -> dict[str, Any]:
    ids = {b.bug_id for b in bugs}
    records = [r for (tid, _), r in done.items() if tid in ids]
    metrics: dict[str, float] = {}
    for lang in ["all", *cfg.bugs.languages]:
        recs = [r for r in records if lang == "all" or r["language"] == lang]
        if recs:
            m, _ = summarize_passes(recs, [lang], [1])
            metrics[f"{lang}/fixed@1"] = m[lang]["pass@1"]
    by_kind: dict[str, int] = {}
    for b in bugs:
        by_kind[b.kind] = by_kind.get(b.kind, 0) + 1
    gen_s = sum(r["gen_s"] for r in records)
    grade_s = sum(r["grade_s"] for r in records)
    summary = {
        "bench": f"bugfix (generator v{GENERATOR_VERSION}, seed {cfg.bugs.seed})", "label": cfg.label,
        "command": cfg.command, "config": cfg.model_dump(mode="json"), "metrics": metrics,
        "wall_s": round(gen_s + grade_s, 1),
        "tokens": {"prompt": sum(r["prompt_tokens"] for r in records),
                   "completion": sum(r["completion_tokens"] for r in records)},
        "counts": {"bugs": len(bugs), "python bugs": sum(b.language == "python" for b in bugs),
                   "java bugs": sum(b.language == "java" for b in bugs),
                   "operators": ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items()))},
        "per_task": [{"bug_id": r["task_id"], "kind": r["kind"], "fixed": r["passed"]["all"]} for r in records],
        "per_item_md": ["| bug | operator | fixed |", "|---|---|---|"]
        + [f"| {r['task_id']} | {r['kind']} | {'yes' if r['passed']['all'] else 'no'} |" for r in records],
    }
    summary["files"] = write_reports(summary, cfg.out_dir)
    return summary


def summarize_team(cfg: BugfixConfig, bugs: list[Bug], done: dict) -> dict[str, Any]:
    """Per configuration and language: fixed counts and rates; with two configurations the paired comparison
    (ratio team/single, sign test); tokens, wall time and the candidate search's usage."""
    from .team import CONFIGS, paired_summary, run_costs

    ids = {b.bug_id: b for b in bugs}
    records = [r for (tid, _), r in done.items() if tid in ids and r.get("config") in cfg.team.configs]
    metrics: dict[str, float] = {}
    per_config: dict[str, Any] = {}
    for name in cfg.team.configs:
        recs = [r for r in records if r["config"] == name]
        langs = {}
        for lang in ["all", *cfg.bugs.languages]:
            sel = [r for r in recs if lang == "all" or r["language"] == lang]
            fixed = sum(bool(r["passed"]["all"]) for r in sel)
            langs[lang] = {"bugs": len(sel), "fixed": fixed, "rate": round(fixed / len(sel), 4) if sel else 0.0}
            if sel:
                metrics[f"{name}/{lang}/fixed"] = langs[lang]["rate"]
        per_config[name] = {"languages": langs, **run_costs(recs)}
    outcomes: dict[str, dict[str, bool]] = {}
    for r in records:
        outcomes.setdefault(r["task_id"], {})[r["config"]] = bool(r["passed"]["all"])
    paired = (paired_summary(outcomes, {b.bug_id: b.language for b in bugs})
              if all(c in cfg.team.configs for c in CONFIGS) else None)
    summary = {
        "bench": f"bugfix (generator v{GENERATOR_VERSION}, seed {cfg.bugs.seed})", "label": cfg.label,
        "command": cfg.command, "config": cfg.model_dump(mode="json"), "metrics": metrics,
        "wall_s": round(sum(r["gen_s"] + r["grade_s"] for r in records), 1),
        "tokens": {"prompt": sum(r["prompt_tokens"] for r in records),
                   "completion": sum(r["completion_tokens"] for r in records)},
        "counts": {"bugs": len(bugs), "python bugs": sum(b.language == "python" for b in bugs),
                   "java bugs": sum(b.language == "java" for b in bugs), "runs": len(records)},
        "configs": per_config, "compare": paired,
        "per_task": [{"bug_id": r["task_id"], "config": r["config"], "kind": r["kind"], "fixed": r["passed"]["all"],
                      "status": r["run"].get("status")} for r in records],
        "per_item_md": _team_table(records, cfg.team.configs, paired),
    }
    summary["files"] = write_reports(summary, cfg.out_dir)
    return summary


def _team_table(records: list[dict[str, Any]], configs: list[str], paired: dict[str, Any] | None) -> list[str]:
    rows: dict[str, dict[str, Any]] = {}
    for r in records:
        rows.setdefault(r["task_id"], {"kind": r["kind"]})[r["config"]] = r
    cell = {True: "fixed", False: "no"}
    md = ["| bug | operator | " + " | ".join(configs) + " |", "|---|---|" + "---|" * len(configs)]
    md += [f"| {tid} | {row['kind']} | " + " | ".join(
        f"{cell[bool(row[c]['passed']['all'])]} ({row[c]['run'].get('status')})" if c in row else "-"
        for c in configs) + " |" for tid, row in rows.items()]
    if paired:
        md += ["", "| language | paired | single fixed | team fixed | ratio | team only | single only | sign test p |",
               "|---|---|---|---|---|---|---|---|"]
        md += [f"| {lang} | {p['paired']} | {p['single']['fixed']} | {p['team']['fixed']} | {p['ratio']} | "
               f"{p['team_only']} | {p['single_only']} | {p['sign_test_p']} |" for lang, p in paired.items()]
    return md
