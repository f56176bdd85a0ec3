"""An edit step as a search: evidence -> checks -> localisation -> regions -> ``search.Search`` -> the accepted
candidate in the workspace.

- The gate is the checks that fail now: the repository's failing tests, or, for a task without one (a feature,
  a function to implement), acceptance checks derived from the examples in the task and the docstrings, else
  written by the tester agent and vetted by the reviewer (``checks.py``). Derived checks gate the change but are
  not left in the repository; the report names them.
- Localisation (``localise.py``) ranks functions and lines; the top regions become edit units (``edits.py``).
- The writers are the routed agent plus the debugger and the coder, where the run allows them.
- Model calls run concurrently (the engine's parallel slots), each one cut short when the run is cancelled, times
  out or the search has its answer; their time and tokens count into the run's usage.

``search_edit`` returns None where a search cannot run (nothing to check the candidates against): the step then
falls back to a whole-file answer. It sees the run only through ``hooks.SearchHooks``.
"""

from __future__ import annotations

import ast
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..agents.roster import AgentSpec
from ..errors import TanukiError
from ..types import Message
from .edits import Region, function_region, python_function, window_region
from .evidence import is_test_path
from .search import GenAnswer, Search, SearchIO, SearchResult, SearchSettings, Writer, status_counts

if TYPE_CHECKING:
    from .calls import ModelGate
    from .hooks import SearchHooks
    from .models import PlanStep, StepRecord

WRITER_AGENTS = ("tanuki-debugger", "tanuki-coder")
MAX_REGIONS = 3


class ModelCalls:
    """Concurrent model calls for the search, counted into the run's usage (under a lock)."""

    def __init__(self, gate: ModelGate, deadline: float):
        self.gate, self.deadline = gate, deadline
        self.lock = threading.Lock()

    def _options(self, opts: dict[str, Any]) -> dict[str, Any]:
        return {**self.gate.config.runner_options(), **opts}

    def _count(self, seconds: float, prompt: int, completion: int) -> None:
        with self.lock:
            usage = self.gate.usage
            usage["model_requests"] += 1
            usage["model_calls"] += 1
            usage["model_s"] += seconds
            usage["prompt_tokens"] += prompt
            usage["completion_tokens"] += completion

    def next_tokens(self, model: str, prompt: str, k: int, opts: dict) -> list[tuple[str, float]]:
        t0 = time.monotonic()
        out = self.gate.engine.next_tokens(model, prompt, k, options=self._options(opts),
                                           keep_alive=self.gate.residency.keep_alive_for(model))
        self._count(time.monotonic() - t0, 0, 1)
        return out

    def chat(self, model: str, messages: list[Message], schema: dict, opts: dict,
             abort: threading.Event) -> GenAnswer:
        t0 = time.monotonic()
        parts: list[str] = []
        usage = None
        stream = self.gate.engine.chat_stream(model, messages, format=schema, options=self._options(opts),
                                              keep_alive=self.gate.residency.keep_alive_for(model))
        try:
            for chunk in stream:
                parts.append(chunk.content)
                usage = chunk.usage or usage
                if abort.is_set() or time.monotonic() >= self.deadline:
                    break
        finally:
            stream.close()
        seconds = time.monotonic() - t0
        prompt, completion = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
        self._count(seconds, prompt, completion)
        return GenAnswer("".join(parts), completion, seconds)

    def complete(self, model: str, prompt: str, opts: dict, abort: threading.Event) -> GenAnswer:
        t0 = time.monotonic()
        if abort.is_set():
            return GenAnswer("", 0, 0.0)
        result = self.gate.engine.generate(model, prompt, raw=True, options=self._options(opts),
                                           keep_alive=self.gate.residency.keep_alive_for(model))
        seconds = time.monotonic() - t0
        self._count(seconds, result.usage.prompt_tokens, result.usage.completion_tokens)
        return GenAnswer(result.message.content, result.usage.completion_tokens, seconds)


# --------------------------------------------------------------------------------------------- pieces
def writers(hooks: SearchHooks, agent: AgentSpec) -> list[Writer]:
    allowed = hooks.config.agents
    names = [agent.name, *[n for n in WRITER_AGENTS if n != agent.name and (not allowed or n in allowed)]]
    out = []
    for name in dict.fromkeys(names):
        try:
            spec = hooks.roster.get(name)
        except TanukiError:
            continue
        out.append(Writer(spec.name, spec.role, hooks.config.model_for(spec.name)))
    return out


def regions_from(loc: Any, root: Path) -> list[Region]:
    """Edit units from the localisation: the top functions whole (a long one as a window around its suspicious
    line), else windows around the top lines."""
    out: list[Region] = []
    texts: dict[str, str] = {}

    def text(path: str) -> str:
        if path not in texts:
            texts[path] = (root / path).read_text(encoding="utf-8", errors="replace")
        return texts[path]

    for f in loc.functions:
        if len(out) >= MAX_REGIONS:
            break
        if is_test_path(f.path) or f.start is None or f.end is None or not (root / f.path).is_file():
            continue
        region = function_region(f.path, text(f.path), f.function, f.start, f.end, focus=f.line)
        region.hot = [s.line for s in loc.lines if s.path == f.path and region.start <= s.line <= region.end]
        out.append(region)
    if not out:
        for s in loc.lines[:MAX_REGIONS]:
            if not is_test_path(s.path) and (root / s.path).is_file():
                out.append(window_region(s.path, text(s.path), s.line))
    return out


def test_source(root: Path, test_id: str, max_lines: int = 30) -> str:
    """The source of a failing Python test (``file.py::[Class::]name``), for the prompt."""
    parts = test_id.split("::")
    path = root / parts[0]
    if len(parts) < 2 or not parts[0].endswith(".py") or not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return ""
    name = parts[-1].split("[")[0]
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            lines = (ast.get_source_segment(text, node) or "").splitlines()
            return "\n".join(lines[:max_lines])
    return ""


def _empty_body(region: Region) -> bool:
    """A function with nothing but a docstring, ``pass`` or ``...`` (a function to implement)."""
    fn = python_function(region)
    if fn is None:
        return False
    body = [n for n in fn.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
            and not isinstance(n, ast.Pass)]
    return not body


def test_timeout(localise_s: float, limit: float) -> float:
    """One validation run's limit: a few times what the suite took under coverage (localisation runs it once),
    at least 15 s, at most the run's tool timeout. A candidate that loops forever costs no more than that."""
    return min(limit, max(15.0, 4 * localise_s))


# --------------------------------------------------------------------------------------------- the step
def search_edit(hooks: SearchHooks, step: PlanStep, agent: AgentSpec, rec: StepRecord,
                deadline: float) -> bool | None:
    from .localise import localise

    tests = hooks.tests()
    checks = None
    if not tests.found or not (tests.failed or tests.errors):  # nothing fails: what would show the task done?
        checks = hooks.derive_checks(step, agent, deadline)
        if checks is None:
            return None
        tests = hooks.tests()
        if not (tests.failed or tests.errors):  # the code already does what the checks say
            hooks.remove_checks(checks)
            return None
    gate = list(dict.fromkeys(tests.failed + tests.errors))
    t0 = time.monotonic()
    loc = localise(hooks.ws.root, tests, registry=hooks.registry, ctx=hooks.ctx,
                   task=f"{hooks.task}\n{step.goal}", repomap=hooks.repo_map(),
                   coverage=hooks.config.coverage)
    loc_s = time.monotonic() - t0
    regions = regions_from(loc, hooks.ws.root)
    hooks.emit("localise", f"localised in {loc_s:.1f}s: {loc.summary()}", localisation=loc.as_dict())
    if not regions:
        if checks is not None:
            hooks.remove_checks(checks)
        return None
    files = {r.path: (hooks.ws.root / r.path).read_text(encoding="utf-8") for r in regions}
    implement = checks is not None and _empty_body(regions[0])
    calls = ModelCalls(hooks.gate, deadline)
    io = SearchIO(chat=calls.chat, complete=calls.complete, run_tests=hooks.tests_in,
                  next_tokens=calls.next_tokens if hasattr(hooks.gate.engine, "next_tokens") else None,
                  review=lambda cand: hooks.review_candidate(step, tests, cand, deadline),
                  apply_to_workspace=lambda cand: hooks.write_candidate(cand, files, rec),
                  check_limits=hooks.check_limits,
                  emit=lambda kind, message, **data: hooks.emit(kind, message, step=step.id, **data))
    cfg = hooks.config
    settings = SearchSettings(samples=cfg.samples, rounds=cfg.rounds, workers=cfg.workers,
                              gen_parallel=cfg.gen_parallel, seed=cfg.seed, num_predict=cfg.num_predict,
                              deadline=deadline, test_timeout_s=test_timeout(loc_s, cfg.tool_timeout_s))
    test_code = "\n\n".join(filter(None, (test_source(hooks.ws.root, g) for g in gate[:2])))
    search = Search(hooks.ws.root, files, f"{hooks.task}\n{step.goal}".strip(), tests, gate, regions,
                    writers(hooks, agent), io, settings, test_code=test_code, implement=implement)
    try:
        result = search.run()
    except BaseException:  # an engine error, a timeout, Ctrl-C: keep what was tried in the record
        record(hooks, rec, search.result(), loc, gate, checks, loc_s)
        raise
    finally:
        if checks is not None:
            hooks.remove_checks(checks)
    record(hooks, rec, result, loc, gate, checks, loc_s)
    if result.accepted is None:
        rec.error = _why(result)
        return False
    return True


def record(hooks: SearchHooks, rec: StepRecord, result: SearchResult, loc: Any, gate: list[str], checks: Any,
           loc_s: float) -> None:
    result.stats["localisation_s"] = round(loc_s, 3)
    rec.attempts += len(result.rounds)
    rec.search = {**result.as_dict(), "localisation": loc.as_dict(), "gate": gate,
                  "checks": checks.model_dump() if checks is not None else None}
    total = hooks.usage.setdefault("search", {})
    for key, value in result.stats.items():
        if isinstance(value, (int, float)) and key != "candidates_per_min":
            total[key] = round(total.get(key, 0) + value, 3)
    total["rounds"] = total.get("rounds", 0) + len(result.rounds)
    minutes = max(1e-9, total.get("wall_s", 0.0) / 60)
    total["candidates_per_min"] = round(total.get("candidates", 0) / minutes, 2)


def _why(result: SearchResult) -> str:
    parts = ", ".join(f"{n} {s}" for s, n in status_counts(result.candidates).most_common())
    best = f"; best partial: candidate {result.best.id} ({result.best.reason[:120]})" if result.best else ""
    return f"no candidate passed the checks in {len(result.rounds)} round(s) ({parts or 'no candidates'}){best}"
