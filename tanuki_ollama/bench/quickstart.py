"""``tanuki bench quickstart``: the README's first command, ``tanuki run "make the failing test pass" --repo
examples/buggy-calculator``, once per seed (``RunConfig.seed``), on a copy of the example, with the settings
``tanuki run`` uses (its option defaults, the family ``auto``, the micro family's defaults).

A run counts as fixed when its status is ``succeeded`` and the example's own tests (the original test files put
back over whatever the run left) pass in the sandbox afterwards. ``--compare`` runs the single agent too, seed by
seed. Per configuration: fixed / runs, median and max wall time, candidates per minute, the time split of the
candidate search (generation, validation, localisation) and tokens.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import ConfigError
from .problems import REPO_ROOT
from .report import write_reports
from .results import ResultLog
from .team import CONFIGS, TeamSettings, run_configs, run_costs, run_in_workspace

QUICKSTART_TASK = "make the failing test pass"
EXAMPLE_REPO = REPO_ROOT / "examples" / "buggy-calculator"
RUN_TIMEOUT_S = 1800.0  # `tanuki run --timeout`'s default


def parse_seeds(spec: str) -> list[int]:
    """``"0-9"``, ``"0,3,5"`` or ``"2"`` -> the seeds in order, without repeats.

    >>> parse_seeds("0-2,5,1")
    [0, 1, 2, 5]
    """
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            lo, _, hi = part.partition("-")
            seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise ConfigError(f"bad seed list {spec!r}", hint="write seeds as 0-9, or 0,3,5") from None
    if not seeds:
        raise ConfigError("no seeds given", hint="--seeds 0-9")
    return list(dict.fromkeys(seeds))


class QuickstartConfig(BaseModel):
    seeds: list[int] = Field(default_factory=lambda: list(range(10)))
    team: TeamSettings = Field(default_factory=lambda: TeamSettings(run_timeout_s=RUN_TIMEOUT_S))
    repo: Path = EXAMPLE_REPO
    task: str = QUICKSTART_TASK
    test_timeout_s: float = 120.0
    out_dir: Path = Path("bench-out/quickstart")
    fresh: bool = False
    command: str = ""

    @property
    def label(self) -> str:
        return f"{' vs '.join(self.team.configs)} ({self.team.family})"

    def fingerprint(self) -> dict[str, Any]:
        return {"repo": str(self.repo), "task": self.task, "team": self.team.fingerprint()}


def repo_files(repo: Path) -> dict[str, str]:
    """The example's text files (caches and VCS folders left out)."""
    if not Path(repo).is_dir():
        raise ConfigError(f"the example repository {repo} is missing", hint="run from a full checkout")
    out = {}
    for p in sorted(Path(repo).rglob("*")):
        rel = p.relative_to(repo)
        if p.is_file() and not any(part in (".git", "__pycache__", ".pytest_cache") for part in rel.parts):
            out[rel.as_posix()] = p.read_text(encoding="utf-8")
    return out


def original_tests_pass(files: dict[str, str], original: dict[str, str],
                        timeout_s: float = 120.0) -> tuple[bool, str]:
    """Whether the original test files pass against ``files`` (the run's result), in the sandbox."""
    from ..orchestrator.evidence import Tests, is_test_path
    from ..tools import ToolContext, default_registry

    root = Path(tempfile.mkdtemp(prefix="tanuki-quickstart-check-"))
    try:
        for rel, text in {**files, **{k: v for k, v in original.items() if is_test_path(k)}}.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        obs = default_registry().call("run_tests", {}, ToolContext(workspace=root, timeout_s=timeout_s))
        tests = Tests.from_observation(obs)
        return bool(tests.ok and tests.found and tests.passed > 0), tests.summary
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_quickstart(cfg: QuickstartConfig, *, engine: Any = None,
                   log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every seed under each configuration (interleaved seed by seed), saved as it finishes (resumable)."""
    say = log or (lambda _m: None)
    original = repo_files(cfg.repo)
    store = ResultLog(cfg.out_dir, cfg.fingerprint(), fresh=cfg.fresh)
    done = store.load()
    configs = run_configs(engine, cfg.team.family, cfg.team.run_timeout_s, cfg.team.configs,
                          samples=cfg.team.samples, rounds=cfg.team.rounds, **cfg.team.overrides)
    todo = [(s, n) for s in cfg.seeds for n in cfg.team.configs if (f"seed-{s}", CONFIGS.index(n)) not in done]
    say(f"quickstart: {len(cfg.seeds)} seeds x {', '.join(cfg.team.configs)}, {len(todo)} runs to do")
    for i, (seed, name) in enumerate(todo, start=1):
        t0 = time.monotonic()
        files, run = run_in_workspace(cfg.task, original, engine=engine,
                                      config=configs[name].model_copy(update={"seed": seed}))
        ok, tests = original_tests_pass(files, original, cfg.test_timeout_s)
        fixed = run["status"] == "succeeded" and ok
        rec = {"task_id": f"seed-{seed}", "sample": CONFIGS.index(name), "config": name, "seed": seed,
               "fixed": fixed, "tests_pass": ok, "tests": tests, "passed": {"all": fixed}, "run": run,
               "check_s": round(time.monotonic() - t0 - run["wall_s"], 2)}
        store.append(rec)
        done[(rec["task_id"], rec["sample"])] = rec
        say(f"  {i}/{len(todo)} seed {seed} [{name}]: {'fixed' if fixed else 'not fixed'} ({run['status']}, "
            f"tests after: {tests}, {run['wall_s']:.0f}s)")
    return summarize(cfg, done)


def summarize(cfg: QuickstartConfig, done: dict) -> dict[str, Any]:
    from .team import paired_summary

    ids = {f"seed-{s}" for s in cfg.seeds}
    records = [r for (tid, _), r in done.items() if tid in ids and r.get("config") in cfg.team.configs]
    per_config: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    for name in cfg.team.configs:
        recs = [r for r in records if r["config"] == name]
        fixed = sum(bool(r["fixed"]) for r in recs)
        per_config[name] = {"fixed": fixed, "rate": round(fixed / len(recs), 4) if recs else 0.0,
                            "seeds_fixed": [r["seed"] for r in recs if r["fixed"]], **run_costs(recs)}
        metrics[f"{name}/fixed"] = per_config[name]["rate"]
    outcomes: dict[str, dict[str, bool]] = {}
    for r in records:
        outcomes.setdefault(r["task_id"], {})[r["config"]] = bool(r["fixed"])
    paired = (paired_summary(outcomes, {t: "quickstart" for t in outcomes})["all"]
              if all(c in cfg.team.configs for c in CONFIGS) else None)
    walls = [r["run"]["wall_s"] for r in records]
    summary = {
        "bench": "quickstart", "label": cfg.label, "command": cfg.command, "config": cfg.model_dump(mode="json"),
        "metrics": metrics, "wall_s": round(sum(walls), 1),
        "tokens": {"prompt": sum(r["run"]["prompt_tokens"] for r in records),
                   "completion": sum(r["run"]["completion_tokens"] for r in records)},
        "counts": {"seeds": len(cfg.seeds), "runs": len(records),
                   "median wall s": round(statistics.median(walls), 1) if walls else 0.0},
        "configs": per_config, "compare": paired,
        "per_task": [{"seed": r["seed"], "config": r["config"], "fixed": r["fixed"], "status": r["run"]["status"],
                      "tests": r["tests"], "wall_s": r["run"]["wall_s"]} for r in records],
        "per_item_md": ["| seed | config | fixed | status | tests after | wall s | candidates |",
                        "|---|---|---|---|---|---|---|"]
        + [f"| {r['seed']} | {r['config']} | {'yes' if r['fixed'] else 'no'} | {r['run']['status']} | {r['tests']} | "
           f"{r['run']['wall_s']:.1f} | {r['run'].get('search', {}).get('candidates', '-')} |" for r in records],
    }
    summary["files"] = write_reports(summary, cfg.out_dir)
    return summary
