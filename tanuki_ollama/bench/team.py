"""Benchmarks through the orchestrated team: ``orchestrator.run_task`` on a workspace, then read the files back.

Two run configurations are compared side by side (:func:`run_configs`): ``single`` (one agent, ``tanuki-coder``,
greedy, one candidate, one round) and ``team`` (the default candidate search of ``tanuki run``). The paired
outcomes of a comparison are summarised by :func:`paired_summary` with an exact two-sided sign test.
"""

from __future__ import annotations

import math
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import ToolchainMissing
from .humaneval import TEAM_TASK, HumanEvalConfig, Solutions

CONFIGS = ("single", "team")  # the fixed order: a record's ``sample`` is the index of its configuration here
SINGLE_AGENT = "tanuki-coder"
SEARCH_KEYS = ("candidates", "unique", "validated", "generation_s", "validation_s", "localisation_s", "rounds")


class TeamSettings(BaseModel):
    """The ``tanuki run`` side of a bench: which configurations (of :data:`CONFIGS`), on which family, with what
    search."""

    configs: list[str] = Field(default_factory=lambda: ["team"])  # of bench.team.CONFIGS, run bug by bug
    family: str = "auto"
    samples: int | None = None    # candidates per round of the team (None: the run's default)
    rounds: int | None = None
    run_timeout_s: float = 600.0
    overrides: dict[str, Any] = Field(default_factory=dict)  # other RunConfig fields for both (num_thread...)

    def fingerprint(self) -> dict[str, Any]:
        """What makes results comparable (not which configurations ran: --team results serve --compare)."""
        return self.model_dump(exclude={"configs"})


def _orchestrator():
    try:
        from ..orchestrator import RunConfig, run_task
    except ImportError as exc:
        raise ToolchainMissing(f"the orchestrator is not available ({exc})",
                               hint="--team needs tanuki_ollama.orchestrator.run_task; use --model or --agent") from None
    return RunConfig, run_task


def team_config(engine: Any, family: str | None, run_timeout_s: float, agents: list[str] | None = None,
                **overrides: Any) -> Any:
    """The run's settings, as ``tanuki run`` makes them: the models of ``family`` (``auto``, ``tanuki`` or a
    prefix such as ``tanuki-micro``; the micro family is registered on first use), ``agents`` to restrict routing
    (a single agent), in place on the bench's own temporary workspace."""
    RunConfig, _ = _orchestrator()
    cfg = RunConfig(run_timeout_s=run_timeout_s, in_place=True, agents=agents or [], **overrides)
    if getattr(engine, "name", "") == "ollama":
        from ..agents.roster import load_roster
        from ..orchestrator.family import resolve_models

        cfg, _ = resolve_models(engine, load_roster(), family or "auto", cfg)
    elif family and family != "auto":  # another engine: a prefix names the models; auto keeps the agents' names
        cfg = cfg.model_copy(update={"models": RunConfig.for_family(family).models})
    return cfg


def micro_defaults(config: Any, given: dict[str, Any]) -> Any:
    """``tanuki run``'s settings for the micro family (shorter answers, fewer retries) where not ``given``."""
    from ..orchestrator.family import MICRO_FAMILY, MICRO_RUN_DEFAULTS

    if not config.model_for(SINGLE_AGENT).startswith(MICRO_FAMILY):
        return config
    return config.model_copy(update={k: v for k, v in MICRO_RUN_DEFAULTS.items() if k not in given})


def run_configs(engine: Any, family: str | None, run_timeout_s: float, names: list[str] | tuple[str, ...] = CONFIGS,
                *, samples: int | None = None, rounds: int | None = None, **overrides: Any) -> dict[str, Any]:
    """The compared configurations on the same family, by name:

    - ``single``: one agent (``tanuki-coder`` plans, edits and reviews: no other model is called), greedy
      (temperature 0), one candidate, one round;
    - ``team``: the default run of ``tanuki run`` (routing over the core team, the candidate search with
      ``samples`` candidates per round and ``rounds`` rounds; the run's defaults where None).

    ``overrides`` are other RunConfig fields for both (``num_thread``, ``num_predict``, ``seed``...); on the micro
    family ``tanuki run``'s micro defaults apply where not overridden."""
    out: dict[str, Any] = {}
    for name in names:
        if name == "single":
            cfg = team_config(engine, family, run_timeout_s, agents=[SINGLE_AGENT],
                              **{**overrides, "temperature": 0.0, "samples": 1, "rounds": 1,
                                 "planner_agent": SINGLE_AGENT, "reviewer_agent": SINGLE_AGENT})
        elif name == "team":
            search = {k: v for k, v in (("samples", samples), ("rounds", rounds)) if v is not None}
            cfg = team_config(engine, family, run_timeout_s, **{**overrides, **search})
        else:
            from ..errors import ConfigError

            raise ConfigError(f"unknown run configuration {name!r}", hint=f"use one of {', '.join(CONFIGS)}")
        out[name] = micro_defaults(cfg, overrides)
    return out


def describe(config: Any) -> dict[str, Any]:
    """The settings of a configuration that a summary reports."""
    keys = ("agents", "temperature", "search", "samples", "rounds", "workers", "gen_parallel", "seed",
            "num_predict", "num_ctx", "num_thread", "max_revisions", "max_replans", "run_timeout_s",
            "planner_agent", "reviewer_agent")
    return {"model": config.model_for(SINGLE_AGENT), **{k: getattr(config, k) for k in keys}}


def run_in_workspace(task: str, files: dict[str, str], *, engine: Any, config: Any,
                     keep: Path | None = None) -> tuple[dict[str, str], dict[str, Any]]:
    """Copy ``files`` into a fresh workspace, run the team on ``task``; return the workspace's text files and a
    short record of the run (status, usage, the candidate search's usage, wall time, diff)."""
    _, run_task = _orchestrator()
    root = Path(tempfile.mkdtemp(prefix="tanuki-bench-"))
    journal = Path(tempfile.mkdtemp(prefix="tanuki-bench-journal-"))
    config = config.model_copy(update={"journal_dir": config.journal_dir or journal})
    try:
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        report = run_task(task, root, engine=engine, config=config)
        out = {}
        for p in sorted(root.rglob("*")):
            if p.is_file() and ".git" not in p.parts and ".tanuki" not in p.parts:
                try:
                    out[p.relative_to(root).as_posix()] = p.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
        if keep is not None:
            shutil.copytree(root, keep, dirs_exist_ok=True)
        usage = dict(report.usage or {})
        record = {"run_id": report.run_id, "status": report.status, "summary": report.summary[:500],
                  "wall_s": report.wall_s, "prompt_tokens": int(usage.get("prompt_tokens", 0)),
                  "completion_tokens": int(usage.get("completion_tokens", 0)), "not_done": report.not_done,
                  "diff_chars": len(report.diff or ""), "search": dict(usage.get("search") or {}),
                  "tests_after_ok": bool(((report.evidence or {}).get("tests_after") or {}).get("ok"))}
        return out, record
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(journal, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- statistics
def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test (McNemar's exact test) on the discordant pairs: ``wins`` pairs only the second
    configuration solved, ``losses`` only the first. 1.0 when there are none.

    >>> round(sign_test(8, 0), 4), sign_test(0, 0), round(sign_test(5, 5), 4)
    (0.0078, 1.0, 1.0)
    """
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1))
    return min(1.0, 2.0 * tail / 2 ** n)


def _rate(k: int, n: int) -> float:
    return round(k / n, 4) if n else 0.0


def paired_summary(outcomes: dict[str, dict[str, bool]], groups: dict[str, str], first: str = "single",
                   second: str = "team") -> dict[str, Any]:
    """Per group (language) and ``all``: each configuration's solved count and rate over the items both
    configurations ran, the ratio ``second/first`` (None when ``first`` solved none), the discordant pairs and the
    sign test's p-value. ``outcomes``: ``{item: {config: solved}}``; ``groups``: ``{item: group}``."""
    out: dict[str, Any] = {}
    for group in ["all", *sorted(set(groups.values()))]:
        items = [i for i, by in outcomes.items() if first in by and second in by
                 and (group == "all" or groups.get(i) == group)]
        a = sum(outcomes[i][first] for i in items)
        b = sum(outcomes[i][second] for i in items)
        wins = sum(outcomes[i][second] and not outcomes[i][first] for i in items)
        losses = sum(outcomes[i][first] and not outcomes[i][second] for i in items)
        out[group] = {"paired": len(items), first: {"fixed": a, "rate": _rate(a, len(items))},
                      second: {"fixed": b, "rate": _rate(b, len(items))},
                      "ratio": round(b / a, 3) if a else None, f"{second}_only": wins, f"{first}_only": losses,
                      "sign_test_p": round(sign_test(wins, losses), 6)}
    return out


def run_costs(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Wall time, tokens, statuses and the candidate search's usage of a configuration's run records (each with
    ``run``: the record of :func:`run_in_workspace`); candidates per minute of generation + validation."""
    runs = [r.get("run") or {} for r in records]
    walls = [float(r.get("wall_s", 0.0)) for r in runs]
    search = {k: round(sum(float((r.get("search") or {}).get(k, 0) or 0) for r in runs), 2) for k in SEARCH_KEYS}
    busy_min = (search["generation_s"] + search["validation_s"]) / 60.0
    statuses: dict[str, int] = {}
    for r in runs:
        statuses[r.get("status", "?")] = statuses.get(r.get("status", "?"), 0) + 1
    return {"runs": len(runs), "wall_s": round(sum(walls), 1),
            "median_wall_s": round(statistics.median(walls), 1) if walls else 0.0,
            "max_wall_s": round(max(walls), 1) if walls else 0.0,
            "tokens": {"prompt": sum(int(r.get("prompt_tokens", 0)) for r in runs),
                       "completion": sum(int(r.get("completion_tokens", 0)) for r in runs)},
            "statuses": statuses, "search": search,
            "candidates_per_min": round(search["candidates"] / busy_min, 2) if busy_min > 0 else None}


def config_summary(names: list[str], records: list[dict[str, Any]], outcomes: dict[str, dict[str, bool]],
                   groups: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Per configuration: its costs (:func:`run_costs`); and the paired comparison when both configurations ran."""
    per_config = {name: run_costs([r for r in records if r.get("config") == name]) for name in names}
    paired = paired_summary(outcomes, groups) if all(c in names for c in CONFIGS) else None
    return per_config, paired


# ---------------------------------------------------------------------------------------------- HumanEval
class HumanEvalTeamConfig(HumanEvalConfig):
    """``tanuki bench humaneval --team [--compare]``: each problem through ``tanuki run`` with ``TEAM_TASK`` on a
    workspace holding only the prompt as ``solution.py`` (the hidden tests never enter it; the run's checks come
    from the prompt's own examples)."""

    solutions: Solutions = "team"
    team: TeamSettings = Field(default_factory=TeamSettings)

    @property
    def label(self) -> str:
        return f"{' vs '.join(self.team.configs)} ({self.team.family})"

    def fingerprint(self) -> dict[str, Any]:
        return {"bench": self.bench, "solutions": "team", "team": self.team.fingerprint(),
                "grade": self.grade.model_dump(exclude={"workers"})}


def run_humaneval_team(cfg: Any, *, engine: Any = None, log: Any = None) -> dict[str, Any]:
    """Every problem under each configuration of ``cfg.team.configs``, interleaved problem by problem, graded by
    the HumanEval(+) grader and saved as it finishes (resumable); returns the summary (also written)."""
    from .grading import grade_programs
    from .problems import load_problems
    from .results import ResultLog

    say = log or (lambda _m: None)
    problems = load_problems(cfg.plus, cfg.tasks or None, cfg.limit)
    store = ResultLog(cfg.out_dir, cfg.fingerprint(), fresh=cfg.fresh)
    done = store.load()
    configs = run_configs(engine, cfg.team.family, cfg.team.run_timeout_s, cfg.team.configs,
                          samples=cfg.team.samples, rounds=cfg.team.rounds, **cfg.team.overrides)
    todo = [(p, n) for p in problems for n in cfg.team.configs if (p.task_id, CONFIGS.index(n)) not in done]
    say(f"{cfg.bench}: {len(problems)} tasks x {', '.join(cfg.team.configs)}, {len(todo)} runs to do")
    for i, (p, name) in enumerate(todo, start=1):
        files, run = run_in_workspace(TEAM_TASK.format(entry=p.entry_point), {"solution.py": p.prompt},
                                      engine=engine, config=configs[name])
        program = files.get("solution.py", p.prompt)
        grade, = grade_programs([(p, program)], cfg.grade)
        rec = {"task_id": p.task_id, "sample": CONFIGS.index(name), "config": name, "program": program,
               "answer": "", "prompt_tokens": run["prompt_tokens"], "completion_tokens": run["completion_tokens"],
               "gen_s": round(run["wall_s"], 3), "grade_s": round(grade.duration_s, 3), "grade": grade.model_dump(),
               "passed": {s: grade.passed(s) for s in (("base", "plus") if p.plus else ("base",))}, "run": run}
        store.append(rec)
        done[(p.task_id, rec["sample"])] = rec
        say(f"  {i}/{len(todo)} {p.task_id} [{name}]: {'pass' if all(rec['passed'].values()) else 'fail'} "
            f"({run['status']}, {run['wall_s']:.0f}s)")
    return summarize_humaneval_team(cfg, problems, done)


def summarize_humaneval_team(cfg: Any, problems: list[Any], done: dict) -> dict[str, Any]:
    from .report import write_reports
    from .results import summarize_passes

    ids = {p.task_id for p in problems}
    records = [r for (tid, _), r in done.items() if tid in ids and r.get("config") in cfg.team.configs]
    sets = ["base", "plus"] if cfg.plus else ["base"]
    metrics: dict[str, float] = {}
    for name in cfg.team.configs:
        m, _ = summarize_passes([r for r in records if r["config"] == name], sets, [1])
        metrics.update({f"{name}/{s}/pass@1": v["pass@1"] for s, v in m.items()})
    key = sets[-1]
    outcomes: dict[str, dict[str, bool]] = {}
    for r in records:
        outcomes.setdefault(r["task_id"], {})[r["config"]] = bool(r["passed"].get(key))
    per_config, paired = config_summary(cfg.team.configs, records, outcomes, {t: "python" for t in outcomes})
    summary = {
        "bench": cfg.bench, "label": cfg.label, "command": cfg.command, "config": cfg.model_dump(mode="json"),
        "metrics": metrics, "wall_s": round(sum(r["gen_s"] + r["grade_s"] for r in records), 1),
        "tokens": {"prompt": sum(r["prompt_tokens"] for r in records),
                   "completion": sum(r["completion_tokens"] for r in records)},
        "counts": {"tasks": len(problems), "runs": len(records), "compared on": key},
        "configs": per_config, "compare": paired,
        "per_task": [{"task_id": r["task_id"], "config": r["config"], "passed": r["passed"],
                      "status": r["run"].get("status")} for r in records],
        "per_item_md": ["| task | config | " + " | ".join(sets) + " | status |", "|---|---|" + "---|" * len(sets)
                        + "---|"] + [f"| {r['task_id']} | {r['config']} | "
                                     + " | ".join(str(r["passed"].get(s)) for s in sets)
                                     + f" | {r['run'].get('status')} |" for r in records],
    }
    summary["files"] = write_reports(summary, cfg.out_dir)
    return summary
