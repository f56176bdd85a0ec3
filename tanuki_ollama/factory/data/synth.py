"""``tanuki data synth``: raw code -> verified, deduplicated, decontaminated, versioned per-agent datasets.

Stages (each resumable from a staging folder ``<out>/.build-<config hash>/``):

1. mine     files of the sources -> candidate functions (:mod:`.sources`) and module outlines
2. probe    run each candidate on generated inputs; keep deterministic ones with >= 3 varied results as tests;
            inject bugs (:mod:`.mutate`) and keep mutants that fail a test (with the real failure message);
            one marker per batch (``probe/batch-NNNNN.json``)
3. agents   per agent: strategies -> drafts -> execution checks -> exact/near dedup -> decontamination ->
            train/eval split (by id hash) -> shards; one marker per agent (``<agent>/.done``)
4. publish  shard hashes -> version id -> ``<out>/<version id>/`` with ``manifest.json``

Deterministic given the seed and the same sources. Small example (about a minute on 2 cores)::

    tanuki data synth --agents coder,debugger --per-agent 50 --seed 1

Sharded (``shard=(i, N)``, ``--shard i/N``): every worker mines and probes (cheap, identical), builds only the
agents ``agents[i::N]`` (the expensive, execution-checked part) and publishes a partial dataset;
:func:`.shards.merge_shards` (``tanuki data merge``) joins the N partials into the very dataset (same version id,
same bytes) that one process makes.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import math
import random
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...agents.prompts import render_system_prompt
from ...agents.roster import AgentSpec, Roster, load_roster
from ...errors import ConfigError
from . import analysis, store
from .dedup import Decontaminator, MinHashDedup, benchmark_texts, exact_key
from .execution import Job, JobResult, run_jobs, sandbox_run
from .mutate import normalise, python_mutants
from .sources import (
    LANGUAGES,
    MAX_FILE_BYTES,
    CodeUnit,
    HFSource,
    LocalSource,
    default_local_paths,
    mine_text,
)
from .strategies import STRATEGIES, Context, Draft, ModuleOutline

log = logging.getLogger(__name__)
GENERATOR_VERSION = "synth-1"
MAX_EXAMPLE_CHARS = 3000  # <= ~1000 tokens even at 3 chars/token (code); most examples are far shorter
UNIT_STRATEGIES = {"implement_function", "fix_mutant", "write_tests", "review_result", "find_defect",
                   "refactor_function", "complexity_hotspot"}
PROBE_BATCH = 80


@dataclass
class SynthConfig:
    agents: list[str]
    per_agent: int | None = None
    sources: list[str] = field(default_factory=list)
    hf: list[str] = field(default_factory=list)
    seed: int = 0
    eval_fraction: float | None = None

    def key(self) -> dict[str, Any]:
        return {"agents": self.agents, "per_agent": self.per_agent, "sources": self.sources, "hf": self.hf,
                "seed": self.seed, "eval_fraction": self.eval_fraction, "generator": GENERATOR_VERSION}


@dataclass
class SynthResult:
    path: Path
    version: str
    counts: dict[str, dict[str, int]]
    seconds: float
    reused: bool = False


class _Progress:
    """Rich progress bars, or nothing (tests, --quiet)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._p = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._p = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                               TimeElapsedColumn(), transient=False)
            self._p.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)

    def task(self, description: str, total: int) -> Callable[[int], None]:
        if self._p is None:
            return lambda n=1: None
        tid = self._p.add_task(description, total=total)
        return lambda n=1: self._p.advance(tid, n)  # type: ignore[union-attr]


def _h(*parts: Any) -> str:
    return hashlib.sha256(store.canonical(list(parts)).encode()).hexdigest()


def _seeded(seed: int, *parts: Any) -> random.Random:
    return random.Random(int(_h(seed, *parts)[:16], 16))


# ------------------------------------------------------------------------------------------------- mining
def _outline(text: str, origin: str) -> ModuleOutline | None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    comps, sigs, lines = [], [], []
    imports = sorted({a.name.split(".")[0] if isinstance(n, ast.Import) else
                      ("." * n.level + (n.module or "")) if n.level else (n.module or "").split(".")[0]
                      for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names} - {""})
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            doc = (ast.get_docstring(node) or "").strip().split("\n")[0]
            if not doc or len(doc) > 120:
                continue
            if isinstance(node, ast.ClassDef):
                bases = ", ".join(ast.unparse(b) for b in node.bases)
                head = f"class {node.name}({bases}): ..." if bases else f"class {node.name}: ..."
                comps.append({"name": node.name, "kind": "class", "responsibility": doc})
            else:
                head = f"def {node.name}({ast.unparse(node.args)}): ..."
                sigs.append(f"{node.name}({ast.unparse(node.args)})")
                comps.append({"name": node.name, "kind": "function", "responsibility": doc})
            lines.append(head)
        if len(comps) >= 8:
            break
    if len(comps) < 2:
        return None
    outline = "\n".join([f"from {m} import ..." if m.startswith(".") else f"import {m}" for m in imports[:8]]
                        + [""] + lines)
    if len(outline) > 1400:
        return None
    return ModuleOutline(origin.rsplit("/", 1)[-1], origin, outline, comps, imports[:8], sigs)


def _display_origin(root: Path, path: Path, stdlib: Path | None) -> str:
    rel = path.relative_to(root).as_posix()
    if stdlib is not None and root == stdlib:
        return f"stdlib/{rel}"
    if root.name in ("site-packages", "dist-packages"):
        return f"site-packages/{rel}"
    return f"{root.name}/{rel}"


def mine(sources: list[LocalSource], hf: list[HFSource], seed: int, want_units: int,
         tick: Callable[[int], None] = lambda n=1: None) -> tuple[list[CodeUnit], list[ModuleOutline], list[str]]:
    """Mine files in a seeded order until ``want_units`` Python candidates are found (or files run out)."""
    notes: list[str] = []
    stdlib = default_local_paths()[0] if default_local_paths() else None
    files = [(r, p) for s in sources for r, p in s.files()]
    files.sort(key=lambda rp: _h(seed, _display_origin(rp[0], rp[1], stdlib)))
    units: list[CodeUnit] = []
    modules: list[ModuleOutline] = []
    py = 0
    for root, path in files:
        if py >= want_units and len(modules) >= want_units // 4:
            break
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        origin = _display_origin(root, path, stdlib)
        lang = LANGUAGES[path.suffix]
        found = mine_text(text, lang, origin)
        units += found
        py += sum(1 for u in found if u.language == "python")
        if lang == "python" and len(modules) < want_units:
            m = _outline(text, origin)
            if m is not None:
                modules.append(m)
        tick(1)
    for src in hf:
        ok, why = src.available()
        if not ok:
            msg = f"{src.name}: unreachable, skipped ({why})"
            log.warning(msg)
            notes.append(msg)
            continue
        for origin, lang, text in src.records():
            units += mine_text(text, lang if lang in LANGUAGES.values() else "python", origin)
    for u in units:
        if u.language == "python":
            try:
                u.code = normalise(u.code)
                u.function = normalise(u.function)
            except (SyntaxError, RecursionError):
                pass
    # the same function vendored twice (or nearly): keep the first
    seen: set[str] = set()
    near = MinHashDedup(threshold=0.9)
    unique = []
    for u in units:
        key = exact_key(u.code)
        if key in seen or not near.add(u.code):
            continue
        seen.add(key)
        unique.append(u)
    return unique, modules, notes


# ------------------------------------------------------------------------------------------------ probing
_INTS = [0, 1, 2, 3, 5, 7, 10, -1, -4, 12, 42, 100]
_STRS = ["", "a", "abc", "hello world", "Hello, World!", "a,b,c", "  padded  ", "CamelCaseName", "snake_case_name",
         "12345", "x=1;y=2", "tanuki", "A man a plan", "line1\nline2"]
_LISTS = [[], [1], [3, 1, 2], [1, 2, 2, 3], [5, -2, 9, 0], ["b", "a", "c"], [[1, 2], [3]], [0.5, 2.5]]
_FLOATS = [0.0, 0.5, 1.5, -2.25, 3.0, 0.25]
_HINTS = [
    (re.compile(r"(^s$|str|text|name|word|line|pattern|char|prefix|suffix|sep|string|^c$|path|url|key|fmt|tag)"), "str"),
    (re.compile(r"(^n$|^i$|^j$|^k$|num|count|size|width|index|idx|year|month|day|level|depth|^m$|len|base|pos|start|end)"), "int"),
    (re.compile(r"(lst|items|seq|iterable|values|list|data|^a$|arr|nums|elements|xs)"), "list"),
    (re.compile(r"(^x$|^y$|^z$|^h$|^v$|^r$|^g$|^b$|value|ratio|frac)"), "num"),
]


def _pool(kind: str) -> list[Any]:
    return {"str": _STRS, "int": _INTS, "list": _LISTS, "num": _INTS[:6] + _FLOATS,
            "any": _INTS[:5] + _STRS[:6] + _LISTS[:4] + _FLOATS[:2]}[kind]


def _kind(param: str) -> str:
    for rx, kind in _HINTS:
        if rx.search(param.lower()):
            return kind
    return "any"


def _calls(unit: CodeUnit, rng: random.Random, count: int = 14) -> list[str]:
    """Calls with arguments drawn by parameter-name hints (first 8), then by other kinds (the rest)."""
    required = unit.params[:len(unit.params) - len(unit.defaults)]
    hinted = [_kind(p) for p in required]
    calls: list[str] = []
    for attempt in range(count * 3):
        if len(calls) >= count:
            break
        kinds = hinted if len(calls) < 8 else [rng.choice(["str", "int", "list", "num"]) for _ in required]
        args = [rng.choice(_pool(k)) for k in kinds]
        call = f"{unit.name}({', '.join(repr(a) for a in args)})"
        if call not in calls and len(call) <= 100:
            calls.append(call)
    return calls


def _probe_batch(units: list[CodeUnit], seed: int, workers: int) -> list[CodeUnit]:
    calls = {u.uid: _calls(u, _seeded(seed, "probe", u.uid)) for u in units}
    res = run_jobs([Job(u.uid, u.code, cases=[[c, None] for c in calls[u.uid]], timeout=2.0) for u in units],
                   batch_size=len(units), workers=workers)
    kept: list[CodeUnit] = []
    for u in units:
        r = res.get(u.uid)
        if r is None or r.load_error or r.infra_error:
            continue
        good = [[c, case["got"]] for c, case in zip(calls[u.uid], r.cases) if case["error"] is None and case["plain"]]
        if len(good) < 3 or len({g for _, g in good}) < 2 or all(g == "None" for _, g in good):
            continue
        u.cases = good[:6]
        kept.append(u)
    # mutants: keep those failing at least one test, with the real failure
    jobs, meta = [], {}
    for u in kept:
        try:
            muts = python_mutants(u.code, _seeded(seed, "mutate", u.uid), limit=3)
        except (SyntaxError, RecursionError):
            continue
        for i, m in enumerate(muts):
            jid = f"{u.uid}:m{i}"
            jobs.append(Job(jid, m.code, cases=u.cases, timeout=2.0))
            meta[jid] = (u, m)
    if jobs:
        mres = run_jobs(jobs, batch_size=len(jobs), workers=workers)
        for jid, (u, m) in meta.items():
            r = mres.get(jid)
            if r is None or r.infra_error or r.load_error or r.passed:
                continue
            fail = next((i for i, c in enumerate(r.cases) if not c["pass"]), None)
            if fail is None or (r.cases[fail]["error"] or "").startswith("Timeout"):
                continue
            expr, expected = u.cases[fail]
            u.mutants.append({"code": m.code, "line": m.line, "description": m.description, "kind": m.kind,
                              "failing": {"expr": expr, "expected": expected, "got": r.cases[fail]["got"],
                                          "error": r.cases[fail]["error"]}})
    return kept


# ------------------------------------------------------------------------------------------------ agents
def _example(agent: AgentSpec, system: str, d: Draft) -> dict[str, Any]:
    if agent.plain_text:
        answer = d.answer if isinstance(d.answer, str) else json.dumps(d.answer.get("answer"), ensure_ascii=False)
    else:
        answer = json.dumps(d.answer, ensure_ascii=False)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": d.user},
                {"role": "assistant", "content": answer}]
    total = sum(len(m["content"]) for m in messages)
    eid = _h(agent.name, d.strategy, d.user, answer)[:16]
    return {"id": eid, "agent": agent.name, "strategy": d.strategy, "source": d.source,
            "difficulty": analysis.difficulty(d.code, d.language, d.tests, total), "messages": messages,
            "_chars": total}


def verify_drafts(drafts: list[Draft], workers: int = 1) -> tuple[list[Draft], int]:
    """Keep drafts whose every check meets its expectation; return (kept, dropped count)."""
    jobs: dict[str, Job] = {}
    for i, d in enumerate(drafts):
        for j, c in enumerate(d.checks):
            c.job.id = f"d{i}c{j}:{c.job.id}"
            jobs[c.job.id] = c.job
    results: dict[str, JobResult] = run_jobs(list(jobs.values()), workers=workers) if jobs else {}
    kept = [d for d in drafts if all(results[c.job.id].passed == c.expect_pass and results[c.job.id].infra_error is None
                                     for c in d.checks)]
    return kept, len(drafts) - len(kept)


def build_agent(agent: AgentSpec, ctx: Context, n: int, seed: int, decon: Decontaminator | None,
                eval_fraction: float, workers: int = 1) -> tuple[list[dict], list[dict], dict[str, Any]]:
    strategies = agent.data.strategies or []
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise ConfigError(f"agent {agent.name!r}: " + (f"unknown strategy {unknown[0]!r}" if unknown else "no strategies"),
                          hint=f"set data.strategies in the roster to some of: {', '.join(sorted(STRATEGIES))}")
    # every strategy is asked for the full amount; interleaving them lets a rich strategy fill in for a poor one
    per = math.ceil(n * 1.4) + 2
    lists = [STRATEGIES[s](ctx, _seeded(seed, agent.name, s), per) for s in strategies]
    drafts: list[Draft] = []
    for group in zip(*[iter_pad(x, max(map(len, lists), default=0)) for x in lists]):
        drafts += [d for d in group if d is not None]
    stats: Counter = Counter(generated=len(drafts))
    drafts, dropped = verify_drafts(drafts, workers)
    stats["failed_execution"] = dropped
    system = render_system_prompt(agent)
    seen: set[str] = set()
    near = MinHashDedup()
    rows = []
    for d in drafts:
        ex = _example(agent, system, d)
        if ex["_chars"] > MAX_EXAMPLE_CHARS:
            stats["too_long"] += 1
            continue
        body = d.user + "\n" + ex["messages"][2]["content"]
        key = exact_key(body)
        if key in seen:
            stats["exact_duplicate"] += 1
            continue
        seen.add(key)
        if decon is not None and decon.contaminated(body):
            stats["contaminated"] += 1
            continue
        if d.near_dedup and not near.add(d.user):
            stats["near_duplicate"] += 1
            continue
        rows.append(ex)
        if len(rows) >= n:
            break
    for r in rows:
        r.pop("_chars")
    threshold = int(eval_fraction * 10_000)
    train = [r for r in rows if int(r["id"][:8], 16) % 10_000 >= threshold]
    evals = [r for r in rows if int(r["id"][:8], 16) % 10_000 < threshold]
    if rows and not evals and eval_fraction > 0:
        evals, train = train[-1:], train[:-1]
    stats["kept"] = len(rows)
    return train, evals, dict(stats)


def iter_pad(items: list, length: int) -> Iterator:
    for i in range(length):
        yield items[i] if i < len(items) else None


# ------------------------------------------------------------------------------------------------ the run
def _sources(paths: list[str]) -> list[LocalSource]:
    if not paths:
        return [LocalSource(default_local_paths())]
    return [LocalSource([Path(p).expanduser() for p in paths])]


def synthesize(config: SynthConfig, *, out: Path | None = None, roster: Roster | None = None, resume: bool = True,
               workers: int = 1, progress: bool = True, decontaminate: bool = True,
               shard: tuple[int, int] | None = None) -> SynthResult:
    from .shards import check_shard, shard_version

    t0 = time.monotonic()
    roster = roster or load_roster()
    agents = [roster.get(a) for a in config.agents]
    if not agents:
        raise ConfigError("no agents selected", hint="use --agents all, core, or a comma list such as coder,tester")
    mine_agents = agents if shard is None else agents[check_shard(shard)[0]::shard[1]]
    root = Path(out) if out is not None else store.default_root()
    counts_wanted = {a.name: config.per_agent or a.data.examples for a in agents}
    cfg_key = config.key() | {"roster": {a.name: a.model_dump(mode="json") for a in agents}}
    staging = root / (f".build-{_h(cfg_key)[:16]}" + (f"-shard-{shard[0]}-of-{shard[1]}" if shard else ""))
    if staging.exists() and not resume:
        shutil.rmtree(staging)
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "config.json").write_text(store.canonical(cfg_key), encoding="utf-8")
    notes: list[str] = []
    needs_units = max((counts_wanted[a.name] for a in agents
                       if set(a.data.strategies) & (UNIT_STRATEGIES | {"write_docstring", "critique_plan",
                                                                        "implement_from_signature"})), default=0)
    needs_modules = any(set(a.data.strategies) & {"design_api", "module_architecture", "devops_files"} for a in agents)
    want = max(int(needs_units * 3), 80 if needs_modules else 0)

    with _Progress(progress) as bars:
        # 1. mine
        mined = staging / "mined.json"
        if mined.is_file():
            data = json.loads(mined.read_text(encoding="utf-8"))
            units = [CodeUnit.from_json(u) for u in data["units"]]
            modules = [ModuleOutline(**m) for m in data["modules"]]
            notes = data["notes"]
        else:
            srcs = _sources(config.sources)
            hf = [HFSource(name) for name in config.hf]
            nfiles = sum(len(s.files()) for s in srcs)
            units, modules, notes = mine(srcs, hf, config.seed, want, bars.task("mining files", nfiles))
            tmp = mined.with_suffix(".tmp")
            tmp.write_text(json.dumps({"units": [u.to_json() for u in units], "modules": [asdict(m) for m in modules],
                                       "notes": notes}), encoding="utf-8")
            tmp.replace(mined)
        py = [u for u in units if u.language == "python"]
        # 2. probe (per batch markers)
        pdir = staging / "probe"
        pdir.mkdir(exist_ok=True)
        batches = [py[i:i + PROBE_BATCH] for i in range(0, len(py), PROBE_BATCH)] if needs_units else []
        tick = bars.task("probing + mutating", len(batches))
        probed: list[CodeUnit] = []
        for b, batch in enumerate(batches):
            marker = pdir / f"batch-{b:05d}.json"
            if marker.is_file():
                probed += [CodeUnit.from_json(u) for u in json.loads(marker.read_text(encoding="utf-8"))]
            else:
                kept = _probe_batch(batch, config.seed, workers)
                marker.with_suffix(".tmp").write_text(json.dumps([u.to_json() for u in kept]), encoding="utf-8")
                marker.with_suffix(".tmp").replace(marker)
                probed += kept
            tick(1)
        ctx = Context(units=probed, documented=[u for u in units if u.docstring],
                      foreign=[u for u in units if u.language != "python"], modules=modules)
        decon = None
        bench_status: dict[str, str] = {"skipped": "decontaminate=False"}
        if decontaminate:
            texts, bench_status = benchmark_texts()
            decon = Decontaminator(texts)
        # 3. agents
        agent_stats: dict[str, Any] = {}
        agent_notes: dict[str, str] = {}
        tick = bars.task("agents", len(mine_agents))
        for agent in mine_agents:
            adir = staging / agent.name
            done = adir / ".done"
            if resume and done.is_file():
                agent_stats[agent.name] = json.loads(done.read_text(encoding="utf-8"))
                tick(1)
                continue
            if adir.exists():
                shutil.rmtree(adir)
            frac = config.eval_fraction if config.eval_fraction is not None else agent.data.eval_fraction
            train, evals, st = build_agent(agent, ctx, counts_wanted[agent.name], config.seed, decon, frac, workers)
            store.write_shards(adir, "train", train)
            store.write_shards(adir, "eval", evals)
            st["train"], st["eval"] = len(train), len(evals)
            st["strategies"] = dict(Counter(r["strategy"] for r in train + evals))
            if st["kept"] < counts_wanted[agent.name]:
                st["note"] = (f"{agent.name}: {st['kept']} of {counts_wanted[agent.name]} examples "
                              "(add sources with --source for more)")
            done.write_text(json.dumps(st), encoding="utf-8")
            agent_stats[agent.name] = st
            tick(1)

    # 4. publish
    mine_notes = list(notes)
    agent_notes = {name: st.pop("note") for name, st in agent_stats.items() if "note" in st}
    notes += [agent_notes[a.name] for a in mine_agents if a.name in agent_notes]
    shard_hashes = {p.relative_to(staging).as_posix(): store.sha256_file(p)
                    for a in mine_agents for p in sorted((staging / a.name).glob("*.jsonl"))}
    version = store.version_id(cfg_key, shard_hashes) if shard is None else shard_version(cfg_key, shard, shard_hashes)
    final = root / version
    manifest = {
        "version": version, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "generator": GENERATOR_VERSION, "seed": config.seed, "config": cfg_key,
        "sources": [str(p) for s in _sources(config.sources) for p in s.roots] + [f"hf:{h}" for h in config.hf],
        "execution": "sandbox" if sandbox_run() else "local-subprocess",
        "mined": {"python_units": len(py), "probed_units": len(probed),
                  "mutants": sum(len(u.mutants) for u in probed), "foreign_units": len(ctx.foreign),
                  "modules": len(modules)},
        "decontamination": bench_status,
        "difficulty_formula": analysis.__doc__.split("Difficulty (0..1), stated once and used everywhere::")[1]
        .split("``loc``")[0].strip(),
        "agents": {name: {k: v for k, v in st.items()} for name, st in agent_stats.items()},
        "strategies": {a.name: a.data.strategies for a in agents},
        "shards": shard_hashes, "notes": notes,
    }
    if shard is not None:
        manifest["shard"] = {"index": shard[0], "count": shard[1], "agents": [a.name for a in mine_agents],
                             "mine_notes": mine_notes, "agent_notes": agent_notes}
    reused = final.exists()
    if not reused:
        tmp = root / f".publish-{version}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        for a in mine_agents:
            shutil.copytree(staging / a.name, tmp / a.name, ignore=shutil.ignore_patterns(".done"))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(final)
    shutil.rmtree(staging, ignore_errors=True)
    counts = {n: {"train": s["train"], "eval": s["eval"]} for n, s in agent_stats.items()}
    return SynthResult(final, version, counts, time.monotonic() - t0, reused)
