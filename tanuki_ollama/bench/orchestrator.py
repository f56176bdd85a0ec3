"""`tanuki bench orchestrator`: what the orchestrator itself costs, apart from the models and the tools.

- step overhead: a whole run with the scripted engine on the bundled example repository; per step,
  wall - model time - tool time (tests in the sandbox, git snapshots and the agents' own tool calls);
  target <= 10 ms median;
- briefing packet for a synthetic 2,000-file repository: the repo map built cold (nothing cached), warm (its
  on-disk cache) and incrementally (one file changed), each followed by retrieval and a fitted, sealed packet;
  targets <= 300 ms (build) and <= 50 ms (incremental);
- agent switch on the real Ollama: the first answer after switching to another agent, (a) naive (just call the
  next model: Ollama loads it on demand) vs (b) through the residency manager (the next step's agent is
  prefetched while the current one answers). Reported: wall time of that first call, and Ollama's own
  ``load_duration`` in it.
Numbers from a shared 2-core machine are noisy: medians over few repetitions, reported as measured.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "buggy-calculator"


def _ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered) * 1000, 2),
            "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000, 2),
            "min_ms": round(ordered[0] * 1000, 2), "n": len(ordered)}


# ---------------------------------------------------------------------------------------------- step overhead
def _script() -> list[str]:
    fixed = (EXAMPLE / "calculator.py").read_text().replace("return a - b", "return a + b", 1)

    def react(answer: dict) -> str:
        return json.dumps({"thought": "t", "steps": [], "answer": answer})

    approve = react({"verdict": "approve", "findings": []})
    return ["(no plan)", react({"language": "python", "code": fixed}), approve, approve]


def step_overhead(repeats: int = 3) -> dict[str, Any]:
    from ..engines.scripted import ScriptedEngine
    from ..orchestrator import RunConfig, run_task

    overheads, with_git, git = [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="tanuki-bench-") as tmp:
            repo = Path(tmp) / "repo"
            shutil.copytree(EXAMPLE, repo)
            report = run_task("make the failing test pass", repo, engine=ScriptedEngine(_script()),
                              config=RunConfig(journal_dir=Path(tmp) / "runs"))
            for s in report.steps:
                rest = s["wall_s"] - s["model_s"] - s["tool_s"]
                with_git.append(rest)
                overheads.append(rest - s["git_s"])
                git.append(s["git_s"])
    return {"steps": len(overheads), "overhead_excluding_model_and_tools": _ms(overheads),
            "overhead_including_git_snapshots": _ms(with_git), "git_snapshot_per_step": _ms(git),
            "target_median_ms": 10}


# ---------------------------------------------------------------------------------------------- packets
def packet_build(files: int = 2000, repeats: int = 5) -> dict[str, Any]:
    from ..engines.scripted import ScriptedEngine
    from ..orchestrator.context import ContextManager, TokenEstimator
    from ..orchestrator.repomap import RepoMap, synthetic_repo

    estimator = TokenEstimator(ScriptedEngine())
    estimator.ratio("m")  # calibration is once per run, not per packet
    cm = ContextManager(estimator, num_ctx=4096, reserve=768)

    def packet(repomap: Any, target: str) -> Any:
        hits = timed("search", repomap.search, "make the failing test of the cache index pass", k=8)
        t0 = time.perf_counter()
        text = (repomap.root / target).read_text()
        sealed = cm.build(agent="tanuki-coder", model="m", step_id="s1", sections={
            "task": "make the failing test pass", "step": f"fix {target}",
            "evidence": "\n".join(f"{h.path}:{h.line} {h.snippet}" for h in hits),
            "files": f"### {target}\n{text}", "repo_map": repomap.render(max_chars=3000)})
        times["packet_only"].append(time.perf_counter() - t0)
        return sealed

    times: dict[str, list[float]] = {k: [] for k in ("cold", "warm", "incremental", "map_cold", "map_warm",
                                                      "map_update", "search", "packet_only")}

    def timed(key: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        value = fn(*args, **kwargs)
        times[key].append(time.perf_counter() - t0)
        return value

    with tempfile.TemporaryDirectory(prefix="tanuki-bench-repo-") as tmp:
        root = synthetic_repo(Path(tmp) / "repo", files=files)
        target = min(root.rglob("*.py")).relative_to(root).as_posix()
        for i in range(repeats):
            cache = Path(tmp) / f"cache-{i}"
            repomap = timed("map_cold", RepoMap.build, root, cache_dir=cache)
            packet(repomap, target)
            times["cold"].append(times["map_cold"][-1] + times["search"][-1] + times["packet_only"][-1])
            repomap = timed("map_warm", RepoMap.build, root, cache_dir=cache)
            packet(repomap, target)
            times["warm"].append(times["map_warm"][-1] + times["search"][-1] + times["packet_only"][-1])
            path = root / target
            path.write_text(path.read_text() + f"\n\ndef added_{i}(x):\n    return x\n")
            timed("map_update", repomap.update, [path])
            packet(repomap, target)
            times["incremental"].append(times["map_update"][-1] + times["search"][-1] + times["packet_only"][-1])
            shutil.rmtree(cache, ignore_errors=True)
        counted = sum(1 for p in root.rglob("*") if p.is_file() and ".tanuki" not in p.parts)
    return {"files": counted, **{k: _ms(v) for k, v in times.items()},
            "target_build_ms": 300, "target_incremental_ms": 50,
            "note": "cold/warm/incremental = repo map build/update + search (RepoMap) + packet_only (render, "
                    "fit to num_ctx, seal)"}


# ---------------------------------------------------------------------------------------------- switching
def _switch_round(engine: Any, models: list[str], rounds: int, residency: Any | None) -> dict[str, list[float]]:
    from ..types import Message

    wall, load = [], []
    question = [Message(role="user", content="Say OK.")]
    options = {"num_predict": 4, "temperature": 0, "num_ctx": 2048}
    for r in range(rounds):
        for i, model in enumerate(models):
            nxt = models[(i + 1) % len(models)]
            t0 = time.perf_counter()
            if residency is not None:
                residency.ensure(model)
                residency.prefetch(nxt)  # loads while this agent answers
            result = engine.chat(model, question, options=options, keep_alive="10m")
            if r or i:  # the very first call is a cold start in both modes
                wall.append(time.perf_counter() - t0)
                load.append(result.usage.load_duration_s)
            if residency is not None:
                residency.release(model)
    return {"wall": wall, "load": load}


def switch_times(engine: Any, models: list[str], rounds: int = 2, budget: int | None = None) -> dict[str, Any]:
    from ..resources import ResidencyManager

    for m in models:
        engine.unload(m)
    naive = _switch_round(engine, models, rounds, None)
    residency = ResidencyManager(engine, budget_bytes=budget, options={"num_ctx": 2048}, keep_alive="10m")
    managed = _switch_round(engine, models, rounds, residency)
    residency.unload_all()
    return {"models": models, "naive": {"first_call": _ms(naive["wall"]), "ollama_load": _ms(naive["load"])},
            "residency": {"first_call": _ms(managed["wall"]), "ollama_load": _ms(managed["load"]),
                          "stats": {k: v for k, v in residency.stats.items() if k != "errors"}}}


def run_orchestrator_bench(*, repeats: int = 3, files: int = 2000, switch: bool = True, rounds: int = 2,
                           log: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = log or (lambda msg: None)
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()]}}
    say("packet build on a synthetic repository ...")
    out["packet"] = packet_build(files, repeats=max(3, repeats))
    say("per-step overhead with the scripted engine ...")
    out["step"] = step_overhead(repeats)
    if switch:
        from ..agents.roster import load_roster
        from ..engines.ollama import OllamaEngine
        from ..ollama_server import OllamaServer
        from ..orchestrator.family import register_micro_family

        say("agent switches on a private, real Ollama (micro family) ...")
        with tempfile.TemporaryDirectory(prefix="tanuki-bench-ollama-") as tmp:
            srv = OllamaServer(models_dir=Path(tmp) / "models", log_path=Path(tmp) / "ollama.log",
                               extra_env={"OLLAMA_KEEP_ALIVE": "10m", "OLLAMA_MAX_LOADED_MODELS": "3"})
            srv.start(timeout=120)
            try:
                engine = OllamaEngine(srv.url, timeout=600, num_ctx=2048)
                roster = load_roster()
                agents = ["tanuki-coder", "tanuki-tester", "tanuki-code-reviewer"]
                register_micro_family(engine, roster, agents)
                models = [f"tanuki-micro-{roster.get(a).role}" for a in agents]
                out["switch"] = switch_times(engine, models, rounds)
                out["switch"]["ollama_version"] = engine.version()
            finally:
                srv.stop()
    return out
