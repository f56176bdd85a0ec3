"""The candidate search of an edit step: sample many small edits, check them cheaply, let the tests decide.

Each round asks the writer agents for ``samples`` candidates over the localised regions (``edits.Region``),
varying the agent, the prompt (a JSON repair request with the failing evidence, or a plain continuation of the
code from its suspicious line: infilling, as AlphaRepair does) and the temperature (the first candidate of a run
is greedy). Every candidate is applied to its file, checked for syntax before anything runs, deduplicated by
its normalised form, then validated in its own copy of the workspace through the sandbox (a bounded pool; the
failing checks first, the whole suite only for candidates that fix them). The first candidate that passes
everything and is approved by the reviewer ends the search; a candidate that breaks a test which passed before
is never accepted. Otherwise the best partial candidate (more checks fixed, nothing broken, smaller diff) and
its new failure seed the next round (self-debugging), and rejected candidates are shown as "tried before".

The search knows nothing of engines or tools: the run hands it a ``SearchIO`` (model calls, validation,
review, limits, events), so the same search runs under the CLI, the server and the benches.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..agents.prompts import render_template
from ..types import Message
from .edits import (
    EDIT_SCHEMA,
    Candidate,
    Region,
    apply,
    code_of,
    diff_size,
    normal_key,
    python_function,
    static_check,
)
from .evidence import Tests

COPY_IGNORE = (".git", ".tanuki", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.pyc")
FENCE = {"python": "python", "javascript": "javascript", "typescript": "typescript", "java": "java", "go": "go",
         "c": "c", "cpp": "cpp", "rust": "rust"}
COMMENT = {"python": "#"}  # every other language of the sandbox comments with //
# the prompt of each candidate in turn: "line" rewrites one suspicious line (the rest of the function is kept),
# "complete" continues the function from a line, "complete-hint" does so after a comment with the old line and the
# failure, "repair" asks for the whole function as JSON with the failing check in view
VARIANTS = ("line", "complete", "line", "repair", "line", "complete-hint")
CONTINUATION_TOKENS = 256
LINE_TOKENS = 40
TOKEN_K = 8  # alternatives asked for per token of a suspicious line
TOKEN_LINES = 8  # lines per region whose tokens are tried (the suspicious ones first)
TOKEN_REGIONS = 2
_SEGMENT = re.compile(r"\s*(?:\w+|[^\w\s]+)")  # a lexeme with the whitespace before it (tokens carry a space)
COMMENT_STARTS = ("#", "//", "/*", "*", '"' * 3, "'" * 3)
CHAT_STOPS = ["<|im_end|>", "<|im_start|>", "<|endoftext|>", "\n```"]


@dataclass
class Writer:
    agent: str
    role: str
    model: str


@dataclass
class GenRequest:
    """One model call for one candidate (built by ``SearchPlan.requests``)."""

    index: int
    writer: Writer
    region: Region
    variant: str
    temperature: float
    seed: int
    messages: list[Message] | None = None  # a chat request (JSON edit schema)
    prompt: str | None = None  # a raw continuation
    prefix_lines: list[str] = field(default_factory=list)  # region lines kept before the continuation
    line: int | None = None  # "line": the one line the continuation replaces
    indent: str = ""  # the indentation the raw prompt ends with


@dataclass
class GenAnswer:
    text: str
    tokens: int = 0
    seconds: float = 0.0


@dataclass
class SearchIO:
    """What the search needs from the run: all of it thread-safe where the pools call it."""

    chat: Callable[[str, list[Message], dict, dict, threading.Event], GenAnswer]
    complete: Callable[[str, str, dict, threading.Event], GenAnswer]
    run_tests: Callable[[Path, list[str] | None, float], Tests]  # in a folder: test ids (None: all), timeout
    review: Callable[[Candidate], tuple[bool, list[str]]] | None  # (approve, requests); candidate applied
    apply_to_workspace: Callable[[Candidate | None], None]  # write the candidate's file (None: undo)
    check_limits: Callable[[], None]
    emit: Callable[..., None]
    # the k likeliest next tokens after a raw prompt with their log-probabilities (None: the engine cannot tell)
    next_tokens: Callable[[str, str, int, dict], list[tuple[str, float]]] | None = None


@dataclass
class SearchSettings:
    samples: int = 8
    rounds: int = 3
    workers: int = 2
    gen_parallel: int = 2
    seed: int = 0
    num_predict: int = 384
    deadline: float = float("inf")
    test_timeout_s: float = 60.0  # one validation run (a candidate that loops forever costs this much)
    stop_at_first: bool = True  # False: every candidate is generated and validated (throughput measurements)


@dataclass
class SearchResult:
    accepted: Candidate | None
    candidates: list[Candidate]
    rounds: list[dict[str, Any]]
    stats: dict[str, Any]
    best: Candidate | None = None  # the best partial candidate when none passed

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted.as_dict() if self.accepted else None,
                "best_partial": self.best.as_dict() if self.best and not self.accepted else None,
                "rounds": self.rounds, "stats": self.stats,
                "candidates": [c.as_dict() for c in self.candidates][:200]}


# --------------------------------------------------------------------------------------------- prompts
def _comment(lang: str) -> str:
    return COMMENT.get(lang, "//")


def _failures(tests: Tests, gate: list[str], limit: int = 3) -> list[dict[str, str]]:
    names = [n for n in tests.failed + tests.errors if n in gate or not gate] or tests.failed + tests.errors
    return [{"name": n, "message": (tests.messages.get(n) or "").strip()[:600]} for n in names[:limit]]


def repair_messages(writer: Writer, region: Region, task: str, tests: Tests, gate: list[str], test_code: str,
                    tried: list[Candidate], requests: list[str], implement: bool) -> list[Message]:
    lines = region.text.splitlines()
    focus = lines[region.focus - region.start] if region.focus and 0 <= region.focus - region.start < len(lines) \
        else ""
    fence = FENCE.get(region.language, "")
    user = render_template("search/repair.j2", task=task, failures=_failures(tests, gate), test_code=test_code,
                           fence=fence, tried=[{"code": t.code.strip()[:800], "reason": t.reason[:200]}
                                               for t in tried[-2:]],
                           requests=requests, region=region, focus_line=focus, implement=implement)
    system = render_template("search/system.j2", name=writer.agent, role=writer.role)
    return [Message(role="system", content=system), Message(role="user", content=user)]


def continuation(file_text: str, region: Region, cut: int, hint: str) -> tuple[str, list[str], str]:
    """A raw prompt that stops at line ``cut`` of the region (the file above it, the region's lines before it, an
    optional hint comment, and the indentation of line ``cut``, so a small model goes on writing code in the body);
    the model writes the rest of the region. Returns (prompt, kept region lines, the indentation)."""
    lines = file_text.splitlines()
    kept = lines[region.start - 1:cut - 1]
    prompt_lines = lines[:cut - 1]
    target = lines[cut - 1] if cut <= region.end and cut - 1 < len(lines) else ""
    indent = target[: len(target) - len(target.lstrip())]
    if not target.strip() or not indent:
        header = next((ln for ln in kept if ln.strip()), "")
        indent = header[: len(header) - len(header.lstrip())] + "    "
    if hint:
        prompt_lines.append(f"{indent}{_comment(region.language)} {hint}")
    return "\n".join(prompt_lines) + "\n" + indent, kept, indent


def continuation_stops(region: Region) -> list[str]:
    if region.language == "python":
        return [*CHAT_STOPS, "\ndef ", "\nclass ", "\n@", "\nif __name__", "\nprint(", "\n#", "\n\n\n"]
    return CHAT_STOPS


def replace_line(region: Region, line: int, indent: str, completion: str) -> str | None:
    """The region with line ``line`` replaced by ``indent`` + the first line of the completion."""
    first = next((ln.strip() for ln in completion.splitlines() if ln.strip()), "")
    if not first:
        return None
    lines = region.text.splitlines()
    lines[line - region.start] = indent + first
    return "\n".join(lines)


def finish_region(region: Region, kept: list[str], completion: str, indent: str = "") -> str | None:
    """The region's new text: the kept lines, then ``indent`` + the completion up to the end of the function
    (Python: the first line indented no deeper than the ``def``; brace languages: the brace that closes it)."""
    completion = indent + completion.lstrip(" \t")  # the prompt already ends with the indentation
    header = next((ln for ln in region.text.splitlines() if ln.strip()), "")
    base = len(header) - len(header.lstrip())
    out = list(kept)
    if region.language == "python":
        for line in completion.splitlines():
            if line.strip() and len(line) - len(line.lstrip()) <= base:  # the function has ended
                break
            out.append(line.rstrip())
        while out and not out[-1].strip():
            out.pop()
        return "\n".join(out) if len(out) > len(kept) else None
    depth = sum(ln.count("{") - ln.count("}") for ln in kept)
    started = depth > 0
    for line in completion.splitlines():
        out.append(line.rstrip())
        depth += line.count("{") - line.count("}")
        started = started or "{" in line
        if started and depth <= 0:
            return "\n".join(out)
    return None  # never closed: cut off


def body_start(region: Region) -> int:
    """The first line of a function's body after its signature and docstring (Python: from the AST; brace
    languages: the line after the opening brace)."""
    lines = region.text.splitlines()
    if region.language == "python":
        fn = python_function(region)
        if fn is not None and fn.body:
            first = fn.body[0]
            doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                and isinstance(first.value.value, str)
            if not doc:
                return region.start + first.lineno - 1
            if len(fn.body) > 1:
                return region.start + fn.body[1].lineno - 1
            return region.start + (first.end_lineno or first.lineno)  # after the docstring (maybe past the end)
        return min(region.end, region.start + 1)
    for k, line in enumerate(lines):
        if "{" in line:
            return min(region.end, region.start + k + 1)
    return min(region.end, region.start + 1)


# --------------------------------------------------------------------------------------------- the plan
class SearchPlan:
    """Which candidates a round asks for: regions by rank (the best region gets the most samples), writers and
    variants in turn, temperatures spread from greedy to hot, a seed for each."""

    def __init__(self, regions: list[Region], writers: list[Writer]):
        self.regions, self.writers = regions, writers

    def region_order(self, n: int) -> list[Region]:
        weights = [max(1, len(self.regions) - i) for i in range(len(self.regions))]
        order: list[Region] = []
        for i in itertools.cycle(range(len(self.regions))):
            if len(order) >= n:
                break
            if weights[i] > 0:
                order.append(self.regions[i])
                weights[i] -= 1
            if not any(weights):
                weights = [max(1, len(self.regions) - j) for j in range(len(self.regions))]
        return order

    def temperatures(self, n: int, rnd: int) -> list[float]:
        if n == 1:
            return [0.0 if rnd == 0 else 0.7]
        hot = [round(0.3 + 0.8 * i / max(1, n - 1), 2) for i in range(n)]
        return [0.0, *hot[1:]] if rnd == 0 else hot

    def variants(self, implement: bool) -> tuple[str, ...]:
        return ("complete", "repair") if implement else VARIANTS


# --------------------------------------------------------------------------------------------- the search
class Search:
    def __init__(self, root: Path, files: dict[str, str], task: str, before: Tests, gate: list[str],
                 regions: list[Region], writers: list[Writer], io: SearchIO, settings: SearchSettings,
                 test_code: str = "", implement: bool = False):
        self.root, self.files, self.task, self.before, self.gate = root, files, task, before, gate
        self.io, self.s, self.test_code, self.implement = io, settings, test_code, implement
        self.plan = SearchPlan(regions, writers)
        self.candidates: list[Candidate] = []
        self.seen: dict[str, Candidate] = {}
        self.rounds: list[dict[str, Any]] = []
        self.stats = {"candidates": 0, "unique": 0, "duplicates": 0, "syntax": 0, "validated": 0,
                      "generation_s": 0.0, "validation_s": 0.0, "review_s": 0.0, "tokens": 0, "wall_s": 0.0}
        self.abort = threading.Event()
        self.requests: list[str] = []
        self.evidence = before
        self.best: Candidate | None = None
        self.fallback: Candidate | None = None  # passes every check, rejected by the reviewer
        self.alternatives: list[tuple[float, Region, int, str]] | None = None  # one-token edits, best first
        self.ids = itertools.count(1)

    # ------------------------------------------------------------------ requests
    def _requests(self, rnd: int) -> list[GenRequest]:
        n = self.s.samples
        regions = self.plan.region_order(n)
        temps = self.plan.temperatures(n, rnd)
        variants = self.plan.variants(self.implement)
        out = []
        for i in range(n):
            writer = self.plan.writers[i % len(self.plan.writers)]
            region = self._current(regions[i])
            variant = variants[(i + rnd) % len(variants)]
            seed = self.s.seed * 100_003 + rnd * 1009 + i
            req = GenRequest(i, writer, region, variant, temps[i], seed)
            if variant == "repair":
                tried = [c for c in self.candidates if c.region.path == region.path
                         and c.status in ("failing", "broke", "partial")]
                req.messages = repair_messages(writer, region, self.task, self.evidence, self.gate, self.test_code,
                                               tried, self.requests, self.implement)
            elif variant == "line":
                req.line = self._hot_line(region, i, rnd)
                # no hint comment here: after one, a small model tends to end the line and start another function
                req.prompt, req.prefix_lines, req.indent = continuation(self._text(region.path), region, req.line, "")
            else:
                cut = self._cut(region, i)
                hint = self._hint(region, cut) if variant == "complete-hint" else ""
                req.prompt, req.prefix_lines, req.indent = continuation(self._text(region.path), region, cut, hint)
            out.append(req)
        return out

    def _current(self, region: Region) -> Region:
        """The region as it stands in the best partial candidate (self-debugging builds on it)."""
        best = self.best
        if best is None or best.region.path != region.path or best.region.start != region.start:
            return region
        lines = best.new_text.splitlines()
        end = region.end + (len(lines) - len(self.files[region.path].splitlines()))
        return dataclasses.replace(region, end=end, text="\n".join(lines[region.start - 1:end]))

    def _text(self, path: str) -> str:
        best = self.best
        return best.new_text if best is not None and best.region.path == path else self.files[path]

    def _hot_line(self, region: Region, i: int, rnd: int) -> int:
        """The line the i-th "line" candidate rewrites: the localiser's top lines of the region first (the most
        suspicious most often), then the rest of the body in order (localisation without coverage knows little
        about lines); each round goes further down that list."""
        body = body_start(region)
        lines = region.text.splitlines()
        hot = [n for n in region.hot if body <= n <= region.end]
        rest = [n for n in range(body, region.end + 1) if n not in hot
                and lines[n - region.start].strip() not in ("", "{", "}", "};", "else:", "try:", "} else {")]
        order = [h for k, h in enumerate(hot[:3]) for _ in range(3 - k)] + hot[3:] + rest
        if not order:
            return min(body, region.end)
        per_round = max(1, self.s.samples // 2)
        return order[(i // 2 + rnd * per_round) % len(order)]

    def _cut(self, region: Region, i: int) -> int:
        """Where a continuation starts: the suspicious line, or (every other time) the first line of the body; for
        a function to implement, the body."""
        body = body_start(region)
        if self.implement:
            return body
        focus = region.focus if region.focus and region.start < region.focus <= region.end else body
        return focus if i % 2 == 0 else min(focus, body)

    def _hint(self, region: Region, cut: int) -> str:
        fails = _failures(self.evidence, self.gate, 1)
        msg = fails[0]["message"].splitlines()[0][:120] if fails and fails[0]["message"] else ""
        lines = self._text(region.path).splitlines()
        old = lines[cut - 1].strip() if cut - 1 < len(lines) else ""
        if self.implement:
            return f"implementation ({msg})" if msg else "implementation"
        return f"fixed: was `{old}`" + (f", failing: {msg}" if msg else "")

    # ------------------------------------------------------------------ token alternatives
    def _token_round(self, rnd: int, pool: ThreadPoolExecutor) -> list[Candidate]:
        """This round's share of the one-token edits: the model's likeliest alternatives to each token of the
        suspicious lines (AlphaRepair's masked-token infilling, with a causal model: the code up to the token is
        the prompt), best ranked first by how much likelier the model finds the alternative than the original."""
        if self.io.next_tokens is None or self.implement:
            return []
        if self.alternatives is None:
            self.alternatives = self._alternatives(pool)
        take = self.alternatives[rnd * self.s.samples:(rnd + 1) * self.s.samples]
        out = []
        for score, region, line, code in take:
            cand = Candidate(next(self.ids), region, code, self.plan.writers[0].agent, "token", 0.0, rnd)
            cand.reason = f"line {line}, score {score:.2f}"
            out.append(self._admit(cand))
        return out

    def _alternatives(self, pool: ThreadPoolExecutor) -> list[tuple[float, Region, int, str]]:
        t0 = time.monotonic()
        asks = []
        for region in self.plan.regions[:TOKEN_REGIONS]:
            text = self._text(region.path).splitlines()
            hot = [n for n in region.hot if region.start <= n <= region.end]
            body = [n for n in range(body_start(region), region.end + 1) if text[n - 1].strip() and n not in hot]
            lines = (hot + body)[:TOKEN_LINES]  # the localiser's lines, then the body in order
            for n in lines:
                full = text[n - 1]
                indent = full[: len(full) - len(full.lstrip())]
                content = full[len(indent):]
                if content.startswith(COMMENT_STARTS):
                    continue
                head = "\n".join(text[:n - 1]) + "\n" + indent
                for seg in _SEGMENT.finditer(content):
                    asks.append((region, n, indent, content, seg, head + content[:seg.start()]))
        model = self.plan.writers[0].model
        opts = {"seed": self.s.seed}
        answers = list(pool.map(lambda a: self.io.next_tokens(model, a[5], TOKEN_K, opts), asks))
        self.stats["generation_s"] += time.monotonic() - t0
        ranked: dict[str, tuple[float, Region, int, str]] = {}
        for (region, n, indent, content, seg, _), top in zip(asks, answers):
            if not top:
                continue
            orig = seg.group(0)
            floor = min(lp for _, lp in top) - 1.0
            orig_lp = max((lp for t, lp in top if t and orig.startswith(t)), default=floor)
            for token, lp in top:
                if not token.strip() or orig.startswith(token) or "\n" in token:
                    continue
                lines = region.text.splitlines()
                lines[n - region.start] = indent + content[:seg.start()] + token + content[seg.end():]
                code = "\n".join(lines)
                score = lp - orig_lp
                if code not in ranked or ranked[code][0] < score:
                    ranked[code] = (score, region, n, code)
        return sorted(ranked.values(), key=lambda r: -r[0])

    # ------------------------------------------------------------------ one candidate
    def _generate(self, req: GenRequest) -> tuple[GenRequest, GenAnswer]:
        opts = {"temperature": req.temperature, "seed": req.seed, "num_predict": self.s.num_predict}
        if req.messages is not None:
            return req, self.io.chat(req.writer.model, req.messages, EDIT_SCHEMA, opts, self.abort)
        if req.line is not None:  # one line: stop at its end
            opts.update(num_predict=min(self.s.num_predict, LINE_TOKENS), stop=[*CHAT_STOPS, "\n\n"])
            return req, self.io.complete(req.writer.model, req.prompt or "", opts, self.abort)
        rest = req.region.end - req.region.start + 1 - len(req.prefix_lines)
        budget = CONTINUATION_TOKENS if self.implement else min(CONTINUATION_TOKENS, 24 * rest + 32)
        # a continuation ends where the function does: stop at the next top-level definition
        opts.update(num_predict=min(self.s.num_predict, budget), stop=continuation_stops(req.region))
        return req, self.io.complete(req.writer.model, req.prompt or "", opts, self.abort)

    def _candidate(self, req: GenRequest, answer: GenAnswer, rnd: int) -> Candidate:
        region = req.region
        if req.messages is not None:
            code = code_of(answer.text)
        elif req.line is not None:
            code = replace_line(region, req.line, req.indent, answer.text)
        else:
            code = finish_region(region, req.prefix_lines, answer.text, req.indent)
        cand = Candidate(next(self.ids), region, code or "", req.writer.agent, req.variant, req.temperature, rnd,
                         gen_s=answer.seconds, tokens=answer.tokens)
        return self._admit(cand)

    def _admit(self, cand: Candidate) -> Candidate:
        """Apply a candidate to its file, then drop it if it is empty, changes nothing, does not parse or
        compile, or is the same program as an earlier candidate."""
        region, code = cand.region, cand.code
        self.candidates.append(cand)
        self.stats["candidates"] += 1
        if not code or not code.strip():
            cand.status, cand.reason = "empty", "the answer held no code"
            return cand
        base = self._text(region.path)
        cand.new_text = apply(base, region, code)
        cand.diff_lines = diff_size(self.files[region.path], cand.new_text)
        if cand.new_text == self.files[region.path] or cand.diff_lines == 0:
            cand.status, cand.reason = "no-op", "the code did not change"
            return cand
        error = static_check(region.path, cand.new_text)
        if error:
            cand.status, cand.reason = "syntax", error
            self.stats["syntax"] += 1
            return cand
        cand.key = normal_key(region.path, cand.new_text)
        if cand.key in self.seen:
            cand.status, cand.reason = "duplicate", f"same as candidate {self.seen[cand.key].id}"
            self.stats["duplicates"] += 1
            return cand
        self.seen[cand.key] = cand
        self.stats["unique"] += 1
        return cand

    def _validate(self, cand: Candidate) -> Candidate:
        """Run the checks on a copy of the workspace holding the candidate: the failing checks first, then the
        whole suite (a candidate must not break what passed)."""
        t0 = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix="tanuki-cand-"))
        try:
            work = tmp / "ws"
            shutil.copytree(self.root, work, symlinks=True, ignore=shutil.ignore_patterns(*COPY_IGNORE))
            (work / cand.region.path).write_text(cand.new_text, encoding="utf-8")
            if self.gate and self.before.passed > 0:  # other tests exist: the failing ones first
                first = self.io.run_tests(work, self.gate, self.s.test_timeout_s)
                if not first.ok and first.found:
                    self._judge(cand, first, partial_run=True)
                    return cand
            self._judge(cand, self.io.run_tests(work, None, self.s.test_timeout_s), partial_run=False)
            return cand
        finally:
            cand.val_s = time.monotonic() - t0
            shutil.rmtree(tmp, ignore_errors=True)

    def _judge(self, cand: Candidate, tests: Tests, partial_run: bool) -> None:
        before_bad = set(self.before.failed) | set(self.before.errors)
        bad = tests.failed + tests.errors
        cand.failed, cand.passed, cand.messages = bad, tests.passed, tests.messages
        cand.new_failures = [n for n in bad if n not in before_bad]
        fixed = [g for g in self.gate if g not in bad]
        if tests.ok:
            cand.status, cand.reason = "passed", f"all checks pass ({tests.summary})"
        elif cand.new_failures:
            cand.status = "broke"
            cand.reason = "breaks " + ", ".join(cand.new_failures[:3]) + _first_message(tests, cand.new_failures)
        elif fixed:
            still = " of the failing checks" if partial_run else "; still failing " + ", ".join(bad[:3])
            cand.status = "partial"
            cand.reason = f"fixes {len(fixed)}/{len(self.gate)}{still}" + _first_message(tests, bad)
        else:
            cand.status = "failing"
            cand.reason = "still failing " + ", ".join(bad[:3]) + _first_message(tests, bad)

    # ------------------------------------------------------------------ rounds
    def run(self) -> SearchResult:
        t0 = time.monotonic()
        accepted = None
        gen_pool = ThreadPoolExecutor(self.s.gen_parallel, thread_name_prefix="cand-gen")
        val_pool = ThreadPoolExecutor(self.s.workers, thread_name_prefix="cand-val")
        try:
            for rnd in range(self.s.rounds):
                accepted = self._round(rnd, gen_pool, val_pool)
                if accepted is not None or time.monotonic() >= self.s.deadline:
                    break
        finally:
            # never wait here for a model call that hangs: streams stop at their next chunk (abort), the rest end
            # with the engine's own timeout. Validations are bounded by their sandbox timeout: the ones running
            # are waited for, so no sandboxed candidate outlives the search
            self.abort.set()
            gen_pool.shutdown(wait=False, cancel_futures=True)
            val_pool.shutdown(wait=True, cancel_futures=True)
        return self.result(accepted, time.monotonic() - t0)

    def result(self, accepted: Candidate | None = None, wall_s: float = 0.0) -> SearchResult:
        """What the search found so far (also after an error cut it short)."""
        self.stats["wall_s"] = round(wall_s or sum(r["seconds"] for r in self.rounds), 3)
        for key in ("generation_s", "validation_s", "review_s"):
            self.stats[key] = round(self.stats[key], 3)
        minutes = max(1e-9, self.stats["wall_s"] / 60)
        self.stats["candidates_per_min"] = round(self.stats["candidates"] / minutes, 2)
        return SearchResult(accepted, self.candidates, self.rounds, self.stats, self.best)

    def _round(self, rnd: int, gen_pool: ThreadPoolExecutor, val_pool: ThreadPoolExecutor) -> Candidate | None:
        t0 = time.monotonic()
        self.io.emit("search", f"round {rnd + 1}: {self.s.samples} candidate(s) over {len(self.plan.regions)} "
                     f"region(s)", round=rnd + 1)
        seq = itertools.count()
        order: dict[Future, int] = {}

        def submit(pool: ThreadPoolExecutor, fn: Callable, arg: Any) -> Future:
            fut = pool.submit(fn, arg)
            order[fut] = next(seq)
            return fut

        vals: set[Future] = set()
        round_cands: list[Candidate] = []

        def take(cand: Candidate) -> None:
            round_cands.append(cand)
            if cand.status == "new":
                vals.add(submit(val_pool, self._validate, cand))
            else:
                self._report(cand)

        for cand in self._token_round(rnd, gen_pool):  # cheap, and good at one-token bugs: validated first
            take(cand)
        gens: set[Future] = {submit(gen_pool, self._generate, r) for r in self._requests(rnd)}
        accepted: Candidate | None = None
        try:
            while (gens or vals) and accepted is None:
                self.io.check_limits()
                if time.monotonic() >= self.s.deadline:
                    break
                done, _ = wait(gens | vals, timeout=0.1, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: order[f]):  # in the order asked: reproducible
                    if fut in gens:
                        gens.discard(fut)
                        req, answer = fut.result()
                        self.stats["generation_s"] += answer.seconds
                        self.stats["tokens"] += answer.tokens
                        take(self._candidate(req, answer, rnd))
                    else:
                        vals.discard(fut)
                        cand = fut.result()
                        self.stats["validated"] += 1
                        self.stats["validation_s"] += cand.val_s
                        self._report(cand)
                        if cand.status == "passed" and accepted is None and self.s.stop_at_first:
                            accepted = self._review(cand)
                        elif cand.status == "partial" and _better(cand, self.best):
                            self.best = cand
        finally:
            for fut in gens | vals:
                fut.cancel()
            if accepted is not None:
                self.abort.set()  # the other candidates' streams stop at their next chunk
        if accepted is None and self.fallback is not None:
            accepted = self._overrule(self.fallback)
        if accepted is None:
            self._feedback()
        self.rounds.append(_round_summary(rnd, round_cands, accepted, time.monotonic() - t0))
        return accepted

    def _review(self, cand: Candidate) -> Candidate | None:
        if self.io.review is None:
            cand.status = "accepted"
            return cand
        t0 = time.monotonic()
        self.io.apply_to_workspace(cand)
        approve, requests = self.io.review(cand)
        self.stats["review_s"] += time.monotonic() - t0
        if approve:
            cand.status = "accepted"
            return cand
        self.io.apply_to_workspace(None)
        cand.status, cand.reason = "rejected", "reviewer: " + "; ".join(requests[:3])
        self.requests = requests[:3]
        if self.fallback is None or cand.diff_lines < self.fallback.diff_lines:
            self.fallback = cand
        self._report(cand)
        return None

    def _overrule(self, cand: Candidate) -> Candidate:
        """The round found no candidate that both passes and satisfies the reviewer: the tests rank first, so the
        smallest passing candidate is taken, and the reviewer's objections stay in the report."""
        self.io.apply_to_workspace(cand)
        cand.status = "accepted"
        cand.reason = f"every check passes; the reviewer's objections are kept in the report ({cand.reason})"
        self._report(cand)
        return cand

    def _feedback(self) -> None:
        """The next round's evidence: the best partial candidate's failures (self-debugging)."""
        if self.best is not None:
            self.evidence = Tests(found=True, ok=False, passed=self.best.passed, failed=self.best.failed,
                                  messages=self.best.messages, summary=self.best.reason)

    def _report(self, cand: Candidate) -> None:
        self.io.emit("candidate", f"candidate {cand.id} ({cand.agent}, {cand.variant}, t={cand.temperature}, "
                     f"{cand.region.label()}): {cand.status}" + (f": {cand.reason[:160]}" if cand.reason else ""),
                     candidate=cand.as_dict())


def _first_message(tests: Tests, names: list[str]) -> str:
    for n in names:
        msg = (tests.messages.get(n) or "").strip().splitlines()
        if msg:
            return f" ({msg[0][:200]})"
    return ""


def _better(cand: Candidate, best: Candidate | None) -> bool:
    if best is None:
        return True
    return (len(cand.failed), cand.diff_lines) < (len(best.failed), best.diff_lines)


def status_counts(cands: list[Candidate]) -> Counter[str]:
    return Counter(c.status for c in cands)


def _round_summary(rnd: int, cands: list[Candidate], accepted: Candidate | None, seconds: float) -> dict[str, Any]:
    return {"round": rnd + 1, "candidates": len(cands), "by_status": dict(status_counts(cands)),
            "seconds": round(seconds, 2),
            "accepted": accepted.id if accepted else None}
