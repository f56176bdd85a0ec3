"""``tanuki bench scenarios``: real-world fixture repositories (``bench/scenarios/<name>/``) solved through
``tanuki run`` (``orchestrator.run_task``) and graded by hidden acceptance tests in the sandbox.

Each scenario folder holds ``scenario.yaml`` (task text, runner), ``repo/`` (the starting repository),
``reference/`` (the reference solution: the files it changes) and ``acceptance/`` (the tests, never shown to the
solver). The harness proves itself: the reference passes every test, the unmodified repository fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError
from ..sandbox import run_many
from ..sandbox.models import ExecutionResult, Limits, RunRequest
from .grading import RESULT_PREFIX
from .problems import REPO_ROOT
from .report import write_reports
from .results import ResultLog, summarize_passes

SCENARIOS_DIR = REPO_ROOT / "bench" / "scenarios"
RUNNERS = {"python": ("main.py", "scenario_runner.py"), "javascript": ("main.js", "scenario_runner.js")}
DATA = Path(__file__).resolve().parents[1] / "data" / "bench"
LIMITS = Limits(wall_s=60.0, cpu_s=60.0, memory_mb=1024)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str
    title: str
    runner: Literal["python", "javascript"]
    task: str
    root: Path = Field(default=Path("."), exclude=True)

    def files(self, part: str) -> dict[str, str]:
        base = self.root / part
        return {p.relative_to(base).as_posix(): p.read_text(encoding="utf-8")
                for p in sorted(base.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}

    def repo(self) -> dict[str, str]:
        return self.files("repo")

    def reference(self) -> dict[str, str]:
        return {**self.repo(), **self.files("reference")}


def load_scenarios(names: list[str] | None = None, root: Path = SCENARIOS_DIR) -> list[Scenario]:
    if not root.is_dir():
        raise ConfigError(f"no scenario fixtures at {root}", hint="run from a full checkout (bench/scenarios/)")
    found = {}
    for d in sorted(root.iterdir()):
        if (d / "scenario.yaml").is_file():
            found[d.name] = Scenario(**yaml.safe_load((d / "scenario.yaml").read_text()), root=d)
    if names:
        missing = sorted(set(names) - set(found))
        if missing:
            raise ConfigError(f"unknown scenarios: {', '.join(missing)}", hint=f"known: {', '.join(found)}")
        return [found[n] for n in names]
    return list(found.values())


class Verdict(BaseModel):
    ok: bool
    passed: int = 0
    total: int = 0
    failed: list[str] = Field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None


def _request(sc: Scenario, files: dict[str, str]) -> RunRequest:
    main, runner = RUNNERS[sc.runner]
    acceptance = {f"acceptance/{k}": v for k, v in sc.files("acceptance").items()}
    return RunRequest(language=sc.runner, files={**files, **acceptance, main: (DATA / runner).read_text()},
                      limits=LIMITS)


def _verdict(res: ExecutionResult) -> Verdict:
    for line in reversed(res.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            d = json.loads(line[len(RESULT_PREFIX):])
            return Verdict(ok=d["total"] > 0 and not d["failed"], passed=d["passed"], total=d["total"],
                           failed=d["failed"][:20], duration_s=res.duration_s)
    return Verdict(ok=False, duration_s=res.duration_s,
                   error=res.limit_hit or (res.stderr.strip().splitlines() or [f"exit {res.exit_code}"])[-1][:300])


def grade(items: list[tuple[Scenario, dict[str, str]]], workers: int = 2) -> list[Verdict]:
    """Run each scenario's acceptance tests against a set of repository files, in the sandbox."""
    results = run_many([_request(sc, files) for sc, files in items], workers=workers)
    return [_verdict(r) for r in results]


class ScenariosConfig(BaseModel):
    names: list[str] = Field(default_factory=list)
    solutions: Literal["team", "agent", "reference", "unmodified"] = "team"
    agent: str | None = None          # with solutions="agent": the one agent the run may use
    family: str | None = None         # model prefix (tanuki-micro)
    run_timeout_s: float = 900.0
    run_overrides: dict[str, Any] = Field(default_factory=dict)  # other RunConfig fields (num_predict...)
    workers: int = 2
    out_dir: Path = Path("bench-out/scenarios")
    fresh: bool = False
    command: str = ""

    @property
    def label(self) -> str:
        who = {"team": "team", "agent": f"single agent {self.agent}"}.get(self.solutions, self.solutions)
        return f"{who} ({self.family})" if self.family and self.solutions in ("team", "agent") else who

    def fingerprint(self) -> dict[str, Any]:
        return {"solutions": self.solutions, "agent": self.agent, "family": self.family,
                "run_overrides": self.run_overrides}


def _solve(sc: Scenario, cfg: ScenariosConfig, engine: Any) -> tuple[dict[str, str], dict[str, Any]]:
    if cfg.solutions == "reference":
        return sc.reference(), {}
    if cfg.solutions == "unmodified":
        return sc.repo(), {}
    from .team import run_in_workspace, team_config

    agents = [cfg.agent] if cfg.solutions == "agent" and cfg.agent else None
    config = team_config(engine, cfg.family, cfg.run_timeout_s, agents=agents, **cfg.run_overrides)
    files, rec = run_in_workspace(sc.task, sc.repo(), engine=engine, config=config)
    return files, {"run": rec}


def run_scenarios(cfg: ScenariosConfig, *, engine: Any = None,
                  log: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = log or (lambda _m: None)
    scenarios = load_scenarios(cfg.names or None)
    store = ResultLog(cfg.out_dir, cfg.fingerprint(), fresh=cfg.fresh)
    done = store.load()
    for sc in scenarios:
        if (sc.name, 0) in done:
            continue
        t0 = time.monotonic()
        files, extra = _solve(sc, cfg, engine)
        solve_s = time.monotonic() - t0
        verdict = grade([(sc, files)], cfg.workers)[0]
        run = extra.get("run", {})
        rec = {"task_id": sc.name, "sample": 0, "kind": sc.kind, "verdict": verdict.model_dump(),
               "passed": {"all": verdict.ok}, "tests_passed": verdict.passed, "tests_total": verdict.total,
               "gen_s": round(run.get("wall_s", solve_s), 2), "grade_s": round(verdict.duration_s, 2),
               "prompt_tokens": run.get("prompt_tokens", 0), "completion_tokens": run.get("completion_tokens", 0),
               **extra}
        store.append(rec)
        done[(sc.name, 0)] = rec
        say(f"  {sc.name}: {'PASS' if verdict.ok else 'fail'} ({verdict.passed}/{verdict.total} tests, "
            f"{solve_s:.0f}s)")
    return summarize(cfg, scenarios, done)


def summarize(cfg: ScenariosConfig, scenarios: list[Scenario], done: dict) -> dict[str, Any]:
    names = {s.name for s in scenarios}
    records = [r for (tid, _), r in done.items() if tid in names]
    m, _ = summarize_passes(records, ["all"], [1])
    tests_passed = sum(r["tests_passed"] for r in records)
    tests_total = sum(r["tests_total"] for r in records) or 1
    summary = {
        "bench": "scenarios", "label": cfg.label, "command": cfg.command, "config": cfg.model_dump(mode="json"),
        "metrics": {"solved": m["all"]["pass@1"], "acceptance tests passed": round(tests_passed / tests_total, 4)},
        "wall_s": round(sum(r["gen_s"] + r["grade_s"] for r in records), 1),
        "tokens": {"prompt": sum(r["prompt_tokens"] for r in records),
                   "completion": sum(r["completion_tokens"] for r in records)},
        "counts": {"scenarios": len(records)},
        "per_task": [{"scenario": r["task_id"], "kind": r["kind"], "solved": r["passed"]["all"],
                      "tests": f"{r['tests_passed']}/{r['tests_total']}", "wall_s": r["gen_s"],
                      "status": r.get("run", {}).get("status")} for r in records],
        "per_item_md": ["| scenario | kind | solved | tests | wall s | tokens (completion) |", "|---|---|---|---|---|---|"]
        + [f"| {r['task_id']} | {r['kind']} | {'yes' if r['passed']['all'] else 'no'} | "
           f"{r['tests_passed']}/{r['tests_total']} | {r['gen_s']} | {r['completion_tokens']} |" for r in records],
    }
    summary["files"] = write_reports(summary, cfg.out_dir)
    return summary
